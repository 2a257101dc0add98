"""Launch ipykernel with timestamps at its internal hand-offs, for `make bench-kernel`.

The benchmark's overhead is a round trip minus the kernel's busy-to-idle
(the two status messages' header dates). Part of that overhead is spent
inside ipykernel, out of any client's reach: before it dates "busy" (its
shell channel thread reads the request and passes it to the main thread,
which parses and verifies it) and after it dates "idle" (its iopub thread
writes the message to the socket). This launcher records, with time.time(),

  shell_recv   the shell channel thread's handler starts on a request
  main_recv    the main thread's handler starts on it
  iopub_sent   the iopub thread has written a message to the socket

into builtins._trialbook_probe, a list of [name, seconds since the epoch,
the request's msg_id, the message's type],
and then runs ipykernel exactly as `python -m ipykernel_launcher` does, with
the same arguments. The hooks wrap methods of ipykernel 7
(Kernel.shell_channel_thread_main, Kernel.shell_main,
IOPubThread._really_send); with an ipykernel that lacks one, nothing is
wrapped and builtins._trialbook_probe is None, so the benchmark says the
split is not measurable rather than guessing.
"""

import builtins
import functools
import json
import time

from ipykernel import iostream, kernelbase

HOOKS = [
    (kernelbase.Kernel, "shell_channel_thread_main", "shell_recv", "before"),
    (kernelbase.Kernel, "shell_main", "main_recv", "before"),
    (iostream.IOPubThread, "_really_send", "iopub_sent", "after"),
]


def describe(frames):
    """The request a message belongs to, and what it is.

    For a request read from shell: its own msg_id and type. For a message
    written on iopub: its parent's msg_id, and its type (with the state for
    a status). Parsed after the time is taken, so it costs the kernel
    nothing on the path being timed.
    """
    frames = [bytes(f) for f in frames]
    try:
        i = frames.index(b"<IDS|MSG>")
        header = json.loads(frames[i + 2])
        parent = json.loads(frames[i + 3])
        content = json.loads(frames[i + 5])
    except (ValueError, IndexError):
        return "", ""
    kind = header.get("msg_type", "")
    if kind == "status":
        kind += ":" + content.get("execution_state", "")
    if parent and parent.get("msg_id"):
        return parent["msg_id"], kind
    return header.get("msg_id", ""), kind


def frames_of(name, args):
    # shell_channel_thread_main(self, msg); shell_main(self, subshell_id, msg);
    # _really_send(self, msg, ...)
    return args[2] if name == "main_recv" else args[1]


def record_before(events, name, fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        at = time.time()
        events.append([name, at, *describe(frames_of(name, args))])
        return await fn(*args, **kwargs)

    return wrapper


def record_after(events, name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        at = time.time()
        events.append([name, at, *describe(frames_of(name, args))])
        return result

    return wrapper


def install():
    if not all(hasattr(cls, attr) for cls, attr, _, _ in HOOKS):
        builtins._trialbook_probe = None
        return
    events = []
    for cls, attr, name, when in HOOKS:
        wrap = record_before if when == "before" else record_after
        setattr(cls, attr, wrap(events, name, getattr(cls, attr)))
    builtins._trialbook_probe = events


if __name__ == "__main__":
    install()
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()
