"""Writes breast-cancer.csv beside this file from scikit-learn's bundled copy
of the Breast Cancer Wisconsin (Diagnostic) dataset, so the example needs
nothing but the project's .venv (no download):

    .venv/bin/python examples/breast-cancer/export_data.py
"""
from pathlib import Path

from sklearn.datasets import load_breast_cancer

bunch = load_breast_cancer(as_frame=True)
df = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
# Labels as words, so AGENTS.md and the notebooks say what the classes are;
# in scikit-learn's coding 0 is malignant and 1 benign.
df["diagnosis"] = df.pop("target").map({0: "malignant", 1: "benign"})
df.insert(0, "sample_id", range(1, len(df) + 1))
out = Path(__file__).with_name("breast-cancer.csv")
df.to_csv(out, index=False)
print(f"wrote {out} ({len(df)} rows)")
