"""Writes the golden files for ipynb's tests with Python's own nbformat.

For every notebook in read/, golden/NAME is what nbformat.write produces after
reading it and, for nbformat < 4.5, upgrading it as nbformat.v4.upgrade does.
Cell ids that nbformat had to invent (random) are replaced by "id<index>";
the Go test makes the same replacement, so both sides compare equal bytes.

Usage: python nb_golden.py READ_DIR OUT_DIR
"""

import json
import logging
import os
import sys

import nbformat
from nbformat import v4

logging.disable(logging.CRITICAL)  # validation complaints about test fields


def main(src, dst):
    for name in sorted(os.listdir(src)):
        if not name.endswith(".ipynb"):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            raw = json.load(f)
        with open(os.path.join(src, name), encoding="utf-8") as f:
            nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
        if nb.nbformat_minor < 5:
            nb = v4.upgrade(nb)
        seen = set()
        for i, (cell, orig) in enumerate(zip(nb.cells, raw["cells"])):
            oid = orig.get("id")
            if oid is None or oid in seen:
                cell["id"] = "id%d" % i
            else:
                seen.add(oid)
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            nbformat.write(nb, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
