"""trialbook against FLAML and mljar-supervised at the same wall-clock budget.

Run by `make bench-search` with the bench venv's Python (.cache/bench-venv),
which has flaml and mljar-supervised; trialbook runs its trials in the
project's own .venv. Every tool trains on trialbook's data view (the same
training rows) and predicts the same sealed holdout; this script only saves
the holdout predictions: `bench-search` scores them all with trialbook's
metric code in Go.

    python scripts/bench_search.py --data ../shared/data/house-prices/train.csv \
        --target SalePrice --id Id --budget 300 --out .cache/bench-search
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROBLEM = """local tb = import 'trialbook.libsonnet';
tb.regression {{
  name: 'bench',
  data: {data},
  target: {target},
  metric: 'rmse',
  validation: tb.kfold(5),
  holdout: 0.2,
  trials: 1000,
  features: tb.features(ids={ids}),
  featureResearch: true,
}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--id", action="append", default=[])
    ap.add_argument("--budget", type=float, default=300, help="seconds per tool")
    ap.add_argument("--out", default=".cache/bench-search")
    ap.add_argument("--trialbook", default="bin/trialbook")
    ap.add_argument("--tools", default="trialbook,flaml,mljar")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    exp = out / "trialbook"
    exp.mkdir(parents=True)
    (exp / "problem.jsonnet").write_text(PROBLEM.format(
        data=json.dumps(str(Path(a.data).resolve())), target=json.dumps(a.target), ids=json.dumps(a.id)))
    tools = a.tools.split(",")
    results = []

    # trialbook first: it also builds the data view every tool uses.
    t0 = time.time()
    env = dict(os.environ)
    subprocess.run([a.trialbook, "run", str(exp), "--time", f"{int(a.budget)}s"], check=True, env=env)
    results.append({"tool": "trialbook", "holdout": "", "cv": None, "wall": time.time() - t0})

    view = json.loads((exp / "data" / "view.json").read_text())
    train = pd.read_csv(exp / "data" / "train.csv")
    X = train[view["features"]]
    y = train[view["target"]].astype(float)
    X_hold = pd.read_csv(exp / "data" / "holdout.csv")[view["features"]]
    for c in X.columns:
        if X[c].dtype == object or str(X[c].dtype) in ("str", "string"):
            # One category set for both (levels only, no labels), so a level
            # seen only in the holdout is a level, not an error.
            cats = pd.Index(pd.concat([X[c], X_hold[c]]).dropna().unique())
            X[c] = pd.Categorical(X[c], categories=cats)
            X_hold[c] = pd.Categorical(X_hold[c], categories=cats)

    if "flaml" in tools:
        results.append(run_flaml(X, y, X_hold, a.budget, out))
    if "mljar" in tools:
        results.append(run_mljar(X, y, X_hold, a.budget, out))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {out / 'results.json'}")


def run_flaml(X, y, X_hold, budget, out):
    from flaml import AutoML

    t0 = time.time()
    r = {"tool": "flaml", "holdout": str(out / "flaml_holdout.npy"), "cv": None}
    try:
        automl = AutoML()
        automl.fit(X, y, task="regression", metric="rmse", time_budget=budget, eval_method="cv",
                   n_splits=5, seed=42, verbose=0, n_jobs=1)
        np.save(r["holdout"], np.asarray(automl.predict(X_hold), dtype="float64"))
        r["cv"] = float(automl.best_loss)
        r["note"] = f"best: {automl.best_estimator}"
    except Exception as e:  # a tool that fails is a row with its reason
        r["note"] = f"{type(e).__name__}: {e}"
    r["wall"] = time.time() - t0
    return r


def run_mljar(X, y, X_hold, budget, out):
    from supervised.automl import AutoML

    t0 = time.time()
    r = {"tool": "mljar-supervised", "holdout": str(out / "mljar_holdout.npy"), "cv": None}
    try:
        automl = AutoML(results_path=str(out / "mljar"), mode="Compete", eval_metric="rmse",
                        total_time_limit=int(budget), random_state=42, n_jobs=1,
                        validation_strategy={"validation_type": "kfold", "k_folds": 5, "shuffle": True},
                        explain_level=0, verbose=0)
        automl.fit(X, y)
        np.save(r["holdout"], np.asarray(automl.predict(X_hold), dtype="float64"))
        lb = automl.get_leaderboard()
        r["cv"] = float(lb["metric_value"].min())
        r["note"] = f"best: {lb.sort_values('metric_value').iloc[0]['name']}"
    except Exception as e:
        r["note"] = f"{type(e).__name__}: {e}"
    r["wall"] = time.time() - t0
    return r


if __name__ == "__main__":
    sys.exit(main())
