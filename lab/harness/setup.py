# The rest of this cell is the trialbook harness (docs/trial-contract.md).
# It loads the data view, the fixed folds, and defines hand_back().
import json as _json
import pathlib as _pathlib
import pickle as _pickle
import random as _random

import numpy as np
import pandas as pd

try:
    # Classes and functions a trial defines live in __main__; cloudpickle
    # saves them by value, so model.pkl loads in a fresh kernel
    # (trialbook predict, the report).
    import cloudpickle as _model_pickle
except ImportError:
    _model_pickle = _pickle


def _experiment_dir():
    # Run by trialbook the kernel starts in the experiment folder; run by
    # nbclient or papermill it may start beside the notebook, in trials/.
    here = _pathlib.Path.cwd().resolve()
    for d in (here, here.parent):
        if (d / "data" / "view.json").is_file():
            return d
    raise FileNotFoundError(
        f"no data/view.json in {here} or its parent: run this notebook from "
        "its experiment folder or its trials/ folder"
    )


EXPERIMENT_DIR = _experiment_dir()
DATA_DIR = EXPERIMENT_DIR / "data"
ARTIFACTS = EXPERIMENT_DIR / "trials" / f"{TRIAL:03d}"
ARTIFACTS.mkdir(parents=True, exist_ok=True)
_VIEW = _json.loads((DATA_DIR / "view.json").read_text())
TASK = _VIEW["task"]
TARGET = _VIEW["target"]
CLASSES = _VIEW.get("classes") or None
# validation.repeat: how many rounds of folds `folds` holds, one after another.
REPEATS = max(int(_VIEW["validation"].get("repeat", 0)), 1)
_random.seed(SEED)
np.random.seed(SEED)

train = pd.read_csv(DATA_DIR / "train.csv")
X = train[_VIEW["features"]]
y = train[TARGET]
X_holdout = pd.read_csv(DATA_DIR / "holdout.csv")[_VIEW["features"]]
# The two files are read separately, so pandas may guess a column's type
# differently (a column that is empty in one of them); align to X.
for _c in X.columns:
    if X[_c].dtype == object or str(X[_c].dtype) in ("str", "string"):
        X_holdout[_c] = X_holdout[_c].astype(X[_c].dtype)
    elif X_holdout[_c].dtype != X[_c].dtype:
        X_holdout[_c] = pd.to_numeric(X_holdout[_c], errors="coerce").astype("float64")
folds = [
    (np.asarray(f["train"], dtype=np.int64), np.asarray(f["valid"], dtype=np.int64))
    for f in _json.loads((DATA_DIR / "folds.json").read_text())
]
_VALIDATED = np.zeros(len(X), dtype=bool)
for _, _v in folds:
    _VALIDATED[_v] = True


def _check_predictions(name, pred, rows, validated=None):
    pred = np.asarray(pred, dtype="float64")
    if TASK == "multiclass":
        want = (rows, len(CLASSES))
        if pred.ndim != 2 or pred.shape != want:
            raise ValueError(f"{name}: shape {pred.shape}, want {want}: one probability per class, in CLASSES order")
    else:
        if pred.ndim == 2 and pred.shape[1] == 1:
            pred = pred[:, 0]
        if pred.ndim == 2 and TASK == "binary" and pred.shape[1] == 2:
            raise ValueError(f"{name}: shape {pred.shape}: for a binary task hand back only the probability of CLASSES[1] (proba[:, 1])")
        if pred.ndim != 1 or pred.shape[0] != rows:
            raise ValueError(f"{name}: shape {pred.shape}, want ({rows},): one number per row")
    scored = pred if validated is None else pred[validated]
    bad = ~np.isfinite(scored)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(scored), -1).any(axis=1)))
        raise ValueError(f"{name}: {int(bad.sum())} values are NaN or infinite (first at row {first})")
    return np.ascontiguousarray(pred)


def hand_back(oof, holdout, model=None):
    """Hand the harness this trial's out-of-fold and holdout predictions."""
    oof = _check_predictions("oof", oof, len(X), _VALIDATED)
    holdout = _check_predictions("holdout", holdout, len(X_holdout))
    np.save(ARTIFACTS / "oof.npy", oof)
    np.save(ARTIFACTS / "holdout.npy", holdout)
    saved = ""
    if model is not None:
        try:
            with open(ARTIFACTS / "model.pkl", "wb") as f:
                _model_pickle.dump(model, f)
            saved = ", model.pkl"
        except Exception as e:  # a model that cannot be pickled still scores
            saved = f" (model not saved: {type(e).__name__}: {e})"
    print(f"handed back oof {oof.shape} and holdout {holdout.shape} to {ARTIFACTS.relative_to(EXPERIMENT_DIR)}{saved}")


_FOLDS_SAID = f"{len(folds)} folds" if REPEATS == 1 else f"{len(folds)} folds ({REPEATS} rounds of {len(folds) // REPEATS})"
print(f"trial {TRIAL}: {len(X)} training rows, {len(X.columns)} features, {_FOLDS_SAID}, {len(X_holdout)} holdout rows; target {TARGET}, metric {METRIC}")
