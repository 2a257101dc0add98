"""Writes the small fixtures the specs tests read: data/small.csv and the same
table as data/small.parquet. Run with the project's .venv:

    .venv/bin/python specs/testdata/make_data.py
"""
from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(7)
n = 40
here = Path(__file__).parent / "data"

df = pd.DataFrame({
    "id": np.arange(1, n + 1),
    "age": rng.integers(18, 80, n),
    "city": rng.choice(["Ames", "Boone", "Cedar", "Dallas"], n),
    "income": np.round(rng.normal(52000, 9000, n), 2),
    "member": rng.choice([True, False], n),
    "churn": np.where(np.arange(n) % 4 == 0, "yes", "no"),
    "plan": np.array(["basic", "plus", "pro", "basic", "plus"] * 8),
    "spend": np.round(rng.gamma(2.0, 40.0, n), 3),
})
df.loc[[3, 11, 25], "city"] = None
df.loc[[5, 6], "income"] = np.nan
here.mkdir(exist_ok=True)
df.to_csv(here / "small.csv", index=False)
df.to_parquet(here / "small.parquet", index=False)

# Parquet types beyond numbers and text, written without pandas' metadata so
# that pandas reads them from the Parquet types alone, as trialbook does.
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

types = pd.DataFrame({
    "when": pd.date_range("2024-01-01 06:30", periods=6, freq="D"),
    "day": pd.to_datetime(["2024-02-29"] * 3 + ["2024-03-01"] * 3).date,
    "cat": list("abcabc"),
    "i32": np.arange(6, dtype="int32"),
    "f32": np.arange(6, dtype="float32") / 2,
    "nint": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
    "y": [1.5, 2.0, 3.0, 4.0, 5.0, 6.5],
})
table = pa.Table.from_pandas(types, preserve_index=False).replace_schema_metadata(None)
pq.write_table(table, here / "types.parquet")
