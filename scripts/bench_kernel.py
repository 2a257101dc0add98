"""jupyter_client's side of `make bench-kernel`.

Serves timing requests from cmd/bench-kernel over stdin/stdout so that the
two clients are measured in alternating blocks, under the same machine load.
Each request is one line; each answer is one JSON line:

  start      one kernel start-to-ready with KernelManager + BlockingKernelClient
  rtt N      N trivial execute round trips on a warm kernel; a round trip ends
             when both the execute_reply and the iopub idle for the request
             have arrived, exactly as on the Go side; also the CPU time this
             client process spent on them
  quit

The kernel's own time for a request is its busy-to-idle: the difference of
the two status messages' header dates. The rest of a round trip is split at
those dates (same machine, same clock): from the client's send to the
kernel's busy, and from the kernel's idle to the client holding both the
reply and the idle.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from jupyter_client.manager import KernelManager


def start_to_ready(kernel):
    km = KernelManager(kernel_name=kernel)
    t0 = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    return ms


def round_trip(kc, code):
    t0 = time.perf_counter()
    wall0 = datetime.now(timezone.utc)
    msg_id = kc.execute(code, store_history=False)
    reply = busy = idle = None
    while idle is None:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != "status":
            continue
        if msg["content"]["execution_state"] == "busy":
            busy = msg
        elif msg["content"]["execution_state"] == "idle":
            idle = msg
    while reply is None:
        msg = kc.get_shell_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id:
            reply = msg
    rtt = (time.perf_counter() - t0) * 1000
    wall1 = datetime.now(timezone.utc)
    kernel = (idle["header"]["date"] - busy["header"]["date"]).total_seconds() * 1000
    before = (busy["header"]["date"] - wall0).total_seconds() * 1000
    after = (wall1 - idle["header"]["date"]).total_seconds() * 1000
    return rtt, kernel, before, after


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--code", default="pass")
    args = ap.parse_args()

    km = kc = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "start":
            out = {"start_ms": [start_to_ready(args.kernel)]}
        elif cmd[0] == "rtt":
            if kc is None:
                km = KernelManager(kernel_name=args.kernel)
                km.start_kernel()
                kc = km.client()
                kc.start_channels()
                kc.wait_for_ready(timeout=60)
            rtts, kernel, before, after = [], [], [], []
            cpu0 = time.process_time()
            for _ in range(int(cmd[1])):
                r, k, b, a = round_trip(kc, args.code)
                rtts.append(r)
                kernel.append(k)
                before.append(b)
                after.append(a)
            cpu = (time.process_time() - cpu0) * 1000
            out = {"rtt_ms": rtts, "kernel_ms": kernel, "send_to_busy_ms": before, "idle_to_done_ms": after, "client_cpu_ms": cpu}
        else:
            out = {"error": "unknown request " + cmd[0]}
        print(json.dumps(out), flush=True)
    if kc is not None:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


if __name__ == "__main__":
    main()
