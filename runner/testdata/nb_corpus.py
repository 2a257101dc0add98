"""Writes the conformance corpus (corpus/*.ipynb) with nbformat.

Run from this directory: python nb_corpus.py. The notebooks are committed;
this script documents how they were made and remakes them after an edit.
Cell ids are fixed so that the files are stable.
"""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

KERNELSPEC = {"display_name": "Python 3 (trialbook)", "language": "python", "name": "python3"}


def nb(name, *cells):
    cs = []
    for i, c in enumerate(cells):
        if isinstance(c, str):
            c = new_code_cell(c)
        c["id"] = f"{name}-{i}"
        cs.append(c)
    n = new_notebook(cells=cs, metadata={"kernelspec": KERNELSPEC})
    with open(f"corpus/{name}.ipynb", "w", encoding="utf-8") as f:
        nbformat.write(n, f)


nb(
    "streams",
    # Flushes make the order between the two streams the kernel's, not a race
    # between its two buffers.
    "import sys\nprint('out 1')\nsys.stdout.flush()\nprint('err 1', file=sys.stderr)\nsys.stderr.flush()\nprint('out 2')\nsys.stdout.flush()\nprint('err 2', file=sys.stderr)",
    "for i in range(3):\n    print('line', i)",
    "print('no newline at the end', end='')",
)
nb(
    "progress",
    "import sys, time\nfor i in range(5):\n    print(f'\\rprogress {i*25}%', end='', flush=True)\nprint('\\rdone         ')",
    "print('a\\rb\\r\\nc')",
)
nb(
    "pandas",
    "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [0.5, 1.25, None], 'c': ['x', 'é', '日本']})\ndf",
    "df.describe()",
    "df['a']",
)
nb(
    "matplotlib",
    "%matplotlib inline\nimport matplotlib\nmatplotlib.rcParams['svg.hashsalt'] = 'trialbook'\nimport matplotlib.pyplot as plt",
    "fig, ax = plt.subplots(figsize=(2, 2))\nax.plot([1, 3, 2])",
    "plt.plot([1, 2, 3]);\nplt.show()",
)
nb(
    "display_update",
    "h = display('first', display_id=True)\nh2 = display({'text/plain': 'raw bundle', 'text/html': '<b>raw</b>'}, raw=True, display_id='fixed-id')",
    "h.update('updated from a later cell')",
    "from IPython.display import display, HTML, JSON, Markdown\ndisplay(HTML('<i>html</i>'), Markdown('**md**'), JSON({'k': [1, 2.5, None]}))\nh.display('first')",
    "from IPython.display import update_display\nh.update('updated again')\nupdate_display({'text/plain': 'raw updated'}, raw=True, display_id='fixed-id')",
)
nb(
    "clear_output",
    "from IPython.display import clear_output\nfor i in range(4):\n    clear_output(wait=True)\n    print('step', i)",
    "print('gone')\nclear_output()\nprint('kept')",
    "print('x')\nclear_output(wait=True)",
)
nb(
    "errors",
    "x = 1\nprint('before the error')",
    "def f():\n    raise ValueError('bad value: ' + 'é')\nf()",
    "print('after the error')\n1 / 0",
    "undefined_name",
    # No frontend answers stdin: the kernel raises StdinNotImplementedError.
    "input('your name? ')",
    "print('still running')",
)
nb(
    "unicode",
    "print('héllo wörld — 日本語 😀 \\u2028 tab\\tquote\" back\\\\slash')",
    "'ünïcode repr 😀'",
    # jupyter_client's packer encodes with surrogateescape, so these two
    # bytes reach the wire as invalid UTF-8; readers replace each with U+FFFD.
    "import sys\nsys.stdout.write(b'bad \\xff\\xfe bytes\\n'.decode('utf-8', 'surrogateescape'))\nsys.stdout.flush()",
    "print('\\x00 nul \\x1b[31m ansi \\x1b[0m \\x7f del')",
)
nb("empty")
nb(
    "markdown_only",
    new_markdown_cell("# Only markdown\n\nNothing to run."),
    new_raw_cell("raw text"),
)
nb(
    "mixed",
    new_markdown_cell("Intro"),
    "1 + 1",
    "",
    "None",
    "from IPython.display import Image\nimport base64\npng = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')\ndisplay(Image(png, width=10))",
    "print(1); 2",
    "x = 3  # no output",
    new_raw_cell("not run"),
    "x",
)
