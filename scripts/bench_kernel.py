"""jupyter_client's side of `make bench-kernel`.

Starts kernels with KernelManager + BlockingKernelClient and times
start-to-ready and trivial execute round trips exactly as the Go side does:
a round trip ends when both the execute_reply and the iopub idle status for
the request have arrived. Prints one JSON object on stdout.
"""

import argparse
import json
import sys
import time

from jupyter_client.manager import KernelManager


def kernel_ms(busy, idle):
    return (idle["header"]["date"] - busy["header"]["date"]).total_seconds() * 1000


def round_trip(kc, code):
    t0 = time.perf_counter()
    msg_id = kc.execute(code, store_history=False)
    reply = busy = idle = None
    while reply is None or idle is None:
        if idle is None:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                state = msg["content"]["execution_state"]
                if state == "busy":
                    busy = msg
                elif state == "idle":
                    idle = msg
        else:
            msg = kc.get_shell_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg
    return (time.perf_counter() - t0) * 1000, kernel_ms(busy, idle)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--code", default="pass")
    args = ap.parse_args()

    starts = []
    for _ in range(args.starts):
        km = KernelManager(kernel_name=args.kernel)
        t0 = time.perf_counter()
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        starts.append((time.perf_counter() - t0) * 1000)
        kc.stop_channels()
        km.shutdown_kernel(now=False)

    km = KernelManager(kernel_name=args.kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    for _ in range(20):  # warm up, as the Go side does
        round_trip(kc, args.code)
    rtts, kernel = [], []
    for _ in range(args.n):
        r, k = round_trip(kc, args.code)
        rtts.append(r)
        kernel.append(k)
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    json.dump({"start_ms": starts, "rtt_ms": rtts, "kernel_ms": kernel}, sys.stdout)


if __name__ == "__main__":
    main()
