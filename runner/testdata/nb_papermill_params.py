"""Prints, for each NAME VALUE pair on the command line, the source that
papermill injects for `-p NAME VALUE` (its CLI typing, its Python
translator), without black, one assignment per line after "# Parameters".
"""

import sys

from papermill.cli import _resolve_type
from papermill.translators import Translator, PythonTranslator

args = sys.argv[1:]
params = {args[i]: _resolve_type(args[i + 1]) for i in range(0, len(args), 2)}
# PythonTranslator.codify runs black when it is installed; the base codify is
# the same text unformatted, which is what trialbook writes.
sys.stdout.write(Translator.codify.__func__(PythonTranslator, params, "Parameters"))
