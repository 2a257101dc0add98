package agent

// The Python cells the built-in strategist writes. They use only what the
// harness's setup cell defines (docs/trial-contract.md) and the trial's
// CONFIG, so a trial notebook reads top to bottom on its own.

const cellFeatures = `# Features: {{.FeatureSummary}}
import json
import re

import numpy as np
import pandas as pd

CONFIG = json.loads({{.ConfigLiteral}})
STEPS = set(CONFIG["steps"])
MISSING_COLS = [c for c in X.columns if X[c].isna().any()]


def _clean(name):
    # LightGBM and XGBoost refuse some characters in column names.
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name))


def add_features(df):
    out = df.copy()
    if "missing_indicators" in STEPS:
        for c in MISSING_COLS:
            out[c + "__missing"] = df[c].isna().astype("int8")
    for a, b in CONFIG.get("interactions", []):
        out[a + "__x__" + b] = df[a] * df[b]
    for a, b in CONFIG.get("ratios", []):
        out[a + "__per__" + b] = df[a] / df[b].where(df[b] != 0)
    out.columns = [_clean(c) for c in out.columns]
    return out


Xf, Xf_holdout = add_features(X), add_features(X_holdout)
if TASK == "regression":
    y_fit = y.astype("float64")
else:
    y_fit = y.map({c: i for i, c in enumerate(CLASSES)}).astype("int64")
print(f"{Xf.shape[1]} columns ({X.shape[1]} original); steps: {', '.join(sorted(STEPS)) or 'none'}")
`

const cellModel = `# Model: {{.ModelSummary}}
import os

from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder
from threadpoolctl import threadpool_limits
{{.Imports}}
PARAMS = json.loads({{.ParamsLiteral}})
PREPROCESS = {{.Preprocess}}
# One thread per model: on a small, busy machine threaded boosting is often
# several times slower than a single thread.
N_JOBS = 1
threadpool_limits(N_JOBS)  # OpenMP and BLAS threads too (HistGradientBoosting, numpy)


def as_levels(frame):
    """Categories as strings, missing values as the level "missing"."""
    return frame.astype(object).where(frame.notna(), "missing").astype(str)


def make_preprocessor(columns):
    num = [c for c in columns if pd.api.types.is_numeric_dtype(Xf[c])]
    cat = [c for c in columns if c not in num]
    high = [c for c in cat if Xf[c].nunique() > 10] if "target_encoding" in STEPS else []
    low = [c for c in cat if c not in high]
    fill = SimpleImputer(strategy="constant", fill_value="missing")
    if PREPROCESS == "linear":
        parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                 ("cat", make_pipeline(fill, OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5)), low)]
    elif PREPROCESS in ("tree", "tree-imputed"):
        parts = [("num", SimpleImputer(strategy="median") if PREPROCESS == "tree-imputed" else "passthrough", num),
                 ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), low)]
    elif PREPROCESS == "native":
        # Categories stay strings for a model that encodes them itself (CatBoost);
        # a column with no value in a fold stays, as the level "missing".
        parts = [("num", "passthrough", num),
                 ("cat", FunctionTransformer(as_levels, feature_names_out="one-to-one"), low)]
    else:
        parts = [("num", SimpleImputer(strategy="median"), num)]
    if high:
        kind = "continuous" if TASK == "regression" else TASK
        splitter = (KFold if TASK == "regression" else StratifiedKFold)(5, shuffle=True, random_state=SEED)
        parts.append(("te", make_pipeline(fill, TargetEncoder(target_type=kind, cv=splitter)), high))
    ct = ColumnTransformer([p for p in parts if p[2]], remainder="drop", verbose_feature_names_out=False)
    return ct.set_output(transform="pandas") if PREPROCESS == "native" else ct


def native_categories(columns):
    """The columns a native-categorical model gets as strings (none for other preprocessing)."""
    if PREPROCESS != "native":
        return []
    cat = [c for c in columns if not pd.api.types.is_numeric_dtype(Xf[c])]
    return [c for c in cat if not ("target_encoding" in STEPS and Xf[c].nunique() > 10)]


def make_single(seed, columns):
    SEED = seed  # the recipe's expression uses SEED
    CAT_FEATURES = native_categories(columns)  # and CAT_FEATURES, for native preprocessing
    est = {{.ModelExpr}}
    model = Pipeline([("pre", make_preprocessor(columns)), ("model", est)])
    if "log_target" in STEPS:
        model = LogTarget(model)
    return model


class LogTarget(RegressorMixin, BaseEstimator):
    """Fits on log1p(target) and predicts expm1, so scores stay on the original scale.
    Unlike TransformedTargetRegressor it fits the model it is given, without cloning it
    (CatBoost with cat_features cannot be cloned)."""

    def __init__(self, regressor):
        self.regressor = regressor

    def fit(self, X_, y_):
        self.regressor_ = self.regressor.fit(X_, np.log1p(y_))
        return self

    def predict(self, X_):
        return np.expm1(self.regressor_.predict(X_))


class SeedBag:
    """The same model fitted with several seeds, predictions averaged."""

    def __init__(self, seeds, columns):
        self.seeds, self.columns = seeds, columns

    def fit(self, X_, y_):
        self.models_ = [make_single(s, self.columns).fit(X_, y_) for s in self.seeds]
        return self

    def predict(self, X_):
        return np.mean([m.predict(X_) for m in self.models_], axis=0)

    def predict_proba(self, X_):
        return np.mean([m.predict_proba(X_) for m in self.models_], axis=0)


def make_model(columns, seed=SEED):
    if "seeds" in STEPS:
        return SeedBag([seed, seed + 1, seed + 2], columns)
    return make_single(seed, columns)


print(make_single(SEED, list(Xf.columns)))
`

const cellCV = `# Cross-validation on the harness's folds: out-of-fold and holdout predictions
import time


def predict(m, frame):
    if TASK == "regression":
        return m.predict(frame)
    p = m.predict_proba(frame)
    return p[:, 1] if TASK == "binary" else p


def select_features(tr):
    """Features whose permutation importance is positive on an inner split of the fold's training rows."""
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split
    strata = y_fit.iloc[tr] if TASK != "regression" else None
    fit_idx, val_idx = train_test_split(tr, test_size=0.2, random_state=SEED, stratify=strata)
    cols = list(Xf.columns)
    m = make_model(cols).fit(Xf.iloc[fit_idx], y_fit.iloc[fit_idx])
    scoring = "neg_root_mean_squared_error" if TASK == "regression" else "neg_log_loss"
    r = permutation_importance(m, Xf.iloc[val_idx], y_fit.iloc[val_idx], n_repeats=2, random_state=SEED, scoring=scoring)
    keep = [c for c, v in zip(cols, r.importances_mean) if v > 0]
    return keep or cols


def importance_of(m, cols):
    inner = m.regressor_ if hasattr(m, "regressor_") else m
    if not hasattr(inner, "named_steps"):
        return {}
    est = inner.named_steps["model"]
    values = getattr(est, "feature_importances_", None)
    if values is None:
        return {}
    names = inner.named_steps["pre"].get_feature_names_out()
    total = float(np.sum(values)) or 1.0
    return {str(n): float(v) / total for n, v in zip(names, values)}


# With repeated folds (REPEATS > 1) every row is validated once per round:
# its out-of-fold prediction is the average over the rounds.
oof = np.zeros((len(X), len(CLASSES)) if TASK == "multiclass" else len(X))
holdout_pred = 0.0
models, importance = [], {}
for k, (tr, va) in enumerate(folds, 1):
    t0 = time.time()
    cols = select_features(tr) if "select" in STEPS else list(Xf.columns)
    m = make_model(cols).fit(Xf.iloc[tr], y_fit.iloc[tr])
    oof[va] += predict(m, Xf.iloc[va]) / REPEATS
    holdout_pred = holdout_pred + predict(m, Xf_holdout) / len(folds)
    models.append(m)
    for name, v in importance_of(m, cols).items():
        importance[name] = importance.get(name, 0.0) + v / len(folds)
    kept = f", {len(cols)} of {Xf.shape[1]} features kept" if "select" in STEPS else ""
    print(f"fold {k}/{len(folds)}: {len(tr)} training rows, {time.time() - t0:.1f}s{kept}")

if importance:
    ranked = sorted(importance.items(), key=lambda kv: -kv[1])
    numeric = set(c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]))
    (ARTIFACTS / "importance.json").write_text(json.dumps(
        [{"feature": n, "importance": v, "numeric": n in numeric} for n, v in ranked], indent=1))
    print("top features:", ", ".join(f"{n} {v:.3f}" for n, v in ranked[:8]))
`

const cellHandBack = `# Hand the predictions back to the harness, which scores them
class TrialModel:
    """This trial end to end: its feature steps, then the average of its fold models."""

    def __init__(self, models):
        self.models = models

    def predict(self, df):
        frame = add_features(df[X.columns])
        return np.mean([m.predict(frame) for m in self.models], axis=0)

    def predict_proba(self, df):
        frame = add_features(df[X.columns])
        return np.mean([m.predict_proba(frame) for m in self.models], axis=0)


hand_back(oof, holdout_pred, model=TrialModel(models))
`
