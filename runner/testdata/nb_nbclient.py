"""The Python side of runner's tests: nbclient runs a notebook, nbformat
validates one.

    python nb_nbclient.py execute IN OUT [--allow-errors] [--timeout S]
    python nb_nbclient.py execute-many OUT_DIR IN... [--allow-errors]
    python nb_nbclient.py validate FILE...

execute writes what nbclient produced with nbformat.write. validate exits 1
and names the file and the schema error for the first invalid notebook.
"""

import argparse
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(args):
    run_one(args, args.input, args.output)


def execute_many(args):
    # One Python process for many notebooks (each still gets a fresh kernel,
    # as nbclient always does): interpreter start-up is paid once.
    for path in args.inputs:
        run_one(args, path, os.path.join(args.out_dir, os.path.basename(path)))


def run_one(args, src, dst):
    with open(src, encoding="utf-8") as f:
        nb = nbformat.read(f, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        allow_errors=args.allow_errors,
        resources={"metadata": {"path": args.cwd}} if args.cwd else {},
    )
    try:
        client.execute()
    except CellExecutionError:
        if not args.keep_going:
            raise
    finally:
        with open(dst, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)


def validate(args):
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as e:
            print(f"{path}: {e}", file=sys.stderr)
            sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("execute")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--allow-errors", action="store_true")
    e.add_argument("--timeout", type=int, default=120)
    e.add_argument("--kernel", default="python3")
    e.add_argument("--cwd", default="")
    e.add_argument("--keep-going", action="store_true")
    m = sub.add_parser("execute-many")
    m.add_argument("out_dir")
    m.add_argument("inputs", nargs="+")
    m.add_argument("--allow-errors", action="store_true")
    m.add_argument("--timeout", type=int, default=120)
    m.add_argument("--kernel", default="python3")
    m.add_argument("--cwd", default="")
    m.add_argument("--keep-going", action="store_true", help="a failing notebook does not stop the others")
    v = sub.add_parser("validate")
    v.add_argument("files", nargs="+")
    args = p.parse_args()
    {"execute": execute, "execute-many": execute_many, "validate": validate}[args.cmd](args)


if __name__ == "__main__":
    main()
