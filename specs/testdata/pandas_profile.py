"""Prints, as JSON, the profile numbers pandas computes for a table, so that
TestProfileMatchesPandas can compare specs' streaming profile with them.

    python pandas_profile.py FILE TARGET
"""
import json
import sys

import pandas as pd

path, target = sys.argv[1], sys.argv[2]
df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
cols = []
for name in df.columns:
    s = df[name]
    col = {"name": name, "dtype": str(s.dtype), "missing": int(s.isna().sum()), "nunique": int(s.nunique())}
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        col.update(min=float(s.min()), max=float(s.max()), mean=float(s.mean()))
    cols.append(col)
t = df[target]
out = {"rows": len(df), "columns": cols}
if pd.api.types.is_numeric_dtype(t):
    out["target"] = {
        "mean": float(t.mean()), "std": float(t.std()), "skew": float(t.skew()),
        "min": float(t.min()), "max": float(t.max()),
        "p05": float(t.quantile(0.05)), "p25": float(t.quantile(0.25)), "median": float(t.median()),
        "p75": float(t.quantile(0.75)), "p95": float(t.quantile(0.95)),
    }
print(json.dumps(out))
