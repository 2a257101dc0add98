"""jupyter_client's side of `make bench-kernel`.

Serves timing requests from cmd/bench-kernel over stdin/stdout so that the
two clients are measured in alternating blocks, under the same machine load.
Each request is one line; each answer is one JSON line:

  start      one kernel start-to-ready with KernelManager + BlockingKernelClient
  rtt N      N trivial execute round trips on a warm kernel; a round trip ends
             when both the execute_reply and the iopub idle for the request
             have arrived, exactly as on the Go side; also the CPU time this
             client process spent on them
  raw N      the same on the same kernel with a bare, single-threaded pyzmq
             client (jupyter_client's Session only signs), for reference:
             how much of the overhead is the kernel's own
  probe N K  N round trips on a fresh kernel of kernelspec K, launched
             through scripts/kernel_probe.py: each trip's msg_id, wall-clock
             send and done times and busy/idle dates, then the kernel's
             recorded hand-offs, for cmd/bench-kernel to split the overhead
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


def timed_execute(kc, code):
    """One execute, ended by both its reply and its iopub idle: the request's
    msg_id, wall-clock send and done times (seconds since the epoch), the
    round trip in ms by perf_counter, and the busy and idle messages."""
    t0, wall0 = time.perf_counter(), time.time()
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
    return msg_id, wall0, time.time(), rtt, busy, idle


def round_trip(kc, code):
    _, wall0, wall1, rtt, busy, idle = timed_execute(kc, code)
    b, i = busy["header"]["date"].timestamp(), idle["header"]["date"].timestamp()
    return rtt, (i - b) * 1000, (b - wall0) * 1000, (wall1 - i) * 1000


class RawClient:
    """A minimal synchronous client: one DEALER, one SUB, a poller."""

    def __init__(self, km):
        import zmq
        from jupyter_client.session import Session

        self.zmq = zmq
        info = km.get_connection_info()
        self.session = Session(key=info["key"] if isinstance(info["key"], bytes) else info["key"].encode())
        ctx = zmq.Context.instance()
        self.shell = ctx.socket(zmq.DEALER)
        self.shell.connect(f"tcp://{info['ip']}:{info['shell_port']}")
        self.iopub = ctx.socket(zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect(f"tcp://{info['ip']}:{info['iopub_port']}")
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)
        # Wait until iopub is live: a kernel_info round trip seen on iopub.
        while True:
            m = self.session.send(self.shell, "kernel_info_request", {})
            if self._wait(m["header"]["msg_id"], timeout=1000):
                break

    def _wait(self, msg_id, timeout=30000):
        reply = busy = idle = None
        while reply is None or idle is None:
            events = dict(self.poller.poll(timeout))
            if not events:
                return None
            if self.iopub in events:
                _, msg = self.session.recv(self.iopub, mode=self.zmq.NOBLOCK)
                if msg and msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                    state = msg["content"]["execution_state"]
                    if state == "busy":
                        busy = msg
                    elif state == "idle":
                        idle = msg
            if self.shell in events:
                _, msg = self.session.recv(self.shell, mode=self.zmq.NOBLOCK)
                if msg and msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg
        return busy, idle

    def round_trip(self, code):
        t0 = time.perf_counter()
        wall0 = datetime.now(timezone.utc)
        m = self.session.send(self.shell, "execute_request", {
            "code": code, "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        busy, idle = self._wait(m["header"]["msg_id"])
        rtt = (time.perf_counter() - t0) * 1000
        wall1 = datetime.now(timezone.utc)
        kernel = (idle["header"]["date"] - busy["header"]["date"]).total_seconds() * 1000
        before = (busy["header"]["date"] - wall0).total_seconds() * 1000
        after = (wall1 - idle["header"]["date"]).total_seconds() * 1000
        return rtt, kernel, before, after


def probe(kernel, code, n):
    """Round trips on an instrumented kernel, and the kernel's own records."""
    km = KernelManager(kernel_name=kernel)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        for _ in range(20):
            round_trip(kc, code)
        run(kc, "__import__('builtins')._trialbook_probe.clear()")
        trips = []
        for _ in range(n):
            msg_id, t0, t1, _, busy, idle = timed_execute(kc, code)
            trips.append({"id": msg_id, "t0": t0, "t1": t1,
                          "busy": busy["header"]["date"].timestamp(), "idle": idle["header"]["date"].timestamp()})
        events = run(kc, "import builtins, json; print(json.dumps(builtins._trialbook_probe))")
        return {"trips": trips, "events": json.loads(events)}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def run(kc, code):
    """Runs code and returns its stdout."""
    msg_id = kc.execute(code, store_history=False)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError(f"{code}: {msg['content']['ename']}: {msg['content']['evalue']}")
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--code", default="pass")
    args = ap.parse_args()

    km = kc = raw = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "start":
            out = {"start_ms": [start_to_ready(args.kernel)]}
        elif cmd[0] == "probe":
            out = probe(cmd[2], args.code, int(cmd[1]))
        elif cmd[0] in ("rtt", "raw"):
            if kc is None:
                km = KernelManager(kernel_name=args.kernel)
                km.start_kernel()
                kc = km.client()
                kc.start_channels()
                kc.wait_for_ready(timeout=60)
            if cmd[0] == "raw" and raw is None:
                raw = RawClient(km)
            trip = (lambda: raw.round_trip(args.code)) if cmd[0] == "raw" else (lambda: round_trip(kc, args.code))
            rtts, kernel, before, after = [], [], [], []
            cpu0 = time.process_time()
            for _ in range(int(cmd[1])):
                r, k, b, a = trip()
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
