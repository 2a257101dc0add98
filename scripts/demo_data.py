"""Write the demo dataset: scikit-learn's bundled diabetes data as a CSV.

It ships inside the scikit-learn wheel, so a fresh machine gets it from PyPI
with no other download. 442 patients, 10 baseline measurements, and the
target: a measure of disease progression one year later.
"""
import sys
from pathlib import Path

from sklearn.datasets import load_diabetes

out = Path(sys.argv[1])
out.parent.mkdir(parents=True, exist_ok=True)
frame = load_diabetes(as_frame=True, scaled=False).frame
frame.to_csv(out, index=False)
print(f"wrote {out}: {len(frame)} rows, {frame.shape[1]} columns")
