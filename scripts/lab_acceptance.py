"""Checks a finished experiment as issue 5's acceptance asks: every trial
notebook passes nbformat.validate, and every score on the leaderboard equals
the score scikit-learn computes from the saved predictions.

    .venv/bin/python scripts/lab_acceptance.py EXPERIMENT_DIR [MIN_TRIALS]
"""

import glob
import json
import sys

import nbformat
import numpy as np
from sklearn import metrics


def rmse(y, p):
    return metrics.root_mean_squared_error(y, p)


SCORERS = {
    "rmse": rmse,
    "mae": metrics.mean_absolute_error,
    "r2": metrics.r2_score,
    "rmsle": metrics.root_mean_squared_log_error,
    "mape": metrics.mean_absolute_percentage_error,
}


def main(d, min_trials=0):
    events = [json.loads(l) for l in open(f"{d}/journal.jsonl")]
    created = next(e for e in events if e["type"] == "experiment.created")
    metric = created["problem"]["metric"]
    if metric not in SCORERS:
        sys.exit(f"this check recomputes regression metrics only, not {metric}")
    score = SCORERS[metric]
    labels = json.load(open(f"{d}/.trialbook/labels.json"))
    ytr, yho = np.array(labels["train"], float), np.array(labels["holdout"], float)
    folds = json.load(open(f"{d}/data/folds.json"))
    # validation.repeat: folds holds the rounds in order; trials hand back the
    # oof averaged over them, CV is the metric on all of it and the fold
    # scores are round 1's (docs/lab.md, "Scoring repeated folds").
    repeats = max(json.load(open(f"{d}/data/view.json"))["validation"].get("repeat", 0), 1)
    first = folds[: len(folds) // repeats]
    nbs = sorted(glob.glob(f"{d}/trials/*.ipynb"))
    for f in nbs:
        nbformat.validate(nbformat.read(f, as_version=4))
    print(f"{len(nbs)} notebooks pass nbformat.validate")
    finished = {e["trial"]: e["score"] for e in events if e["type"] == "trial.finished"}
    ended = {e["trial"] for e in events if e["type"] in ("trial.kept", "trial.discarded", "trial.failed")}
    worst = 0.0
    for n, s in sorted(finished.items()):
        oof = np.load(f"{d}/trials/{n:03d}/oof.npy")
        ho = np.load(f"{d}/trials/{n:03d}/holdout.npy")
        per = [score(ytr[f["valid"]], oof[f["valid"]]) for f in first]
        cv = np.mean(per)
        if repeats > 1:
            rows = sorted({i for f in folds for i in f["valid"]})
            cv = score(ytr[rows], oof[rows])
        got = {"cv": float(cv), "holdout": float(score(yho, ho))}
        for k in ("cv", "holdout"):
            rel = abs(got[k] - s[k]) / max(abs(s[k]), 1e-12)
            worst = max(worst, rel)
            if rel > 1e-9:
                sys.exit(f"trial {n}: journal {k} {s[k]!r}, scikit-learn {got[k]!r}")
    print(f"{len(finished)} scored trials: journal scores equal scikit-learn's (largest relative difference {worst:.1e})")
    proposed = [e for e in events if e["type"] == "trial.proposed"]
    ideas = {}
    for e in proposed:
        if e["trial"] not in ended:
            continue
        idea = json.loads(json.dumps(e.get("data", {}))).get("tags", {}).get("idea", e["title"])
        if idea in ideas:
            sys.exit(f"trials {ideas[idea]} and {e['trial']} ran the same idea {idea}")
        ideas[idea] = e["trial"]
    print(f"{len(ended)} finished trials, none repeated")
    if len(ended) < min_trials:
        sys.exit(f"only {len(ended)} finished trials, want {min_trials}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
