package lab

// The report's code cells. They read report.json and the experiment's own
// files with paths relative to the experiment folder, so the notebook runs
// again there (JupyterLab opens it there; nbclient needs the folder as its
// working directory).

const pySetup = `
import json
import pathlib
import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

REPORT = json.loads(pathlib.Path("report.json").read_text())
P = REPORT["problem"]
METRIC, MAXIMIZE = P["metric"], P["direction"] == "maximize"
pd.set_option("display.max_colwidth", 90)
TRIAL_COLUMNS = ["trial", "title", "status", "reason", "cv", "cvStd", "holdout", "durationSeconds", "notebook", "tokens", "costUSD"]
trials = pd.DataFrame(REPORT["trials"], columns=TRIAL_COLUMNS)
trials[["cv", "cvStd", "holdout"]] = trials[["cv", "cvStd", "holdout"]].astype("float64")
print(f"{P['name']}: {len(trials)} trials, {METRIC} ({P['direction']}), report written {REPORT['written']}")
`

const pyLeaderboard = `
board = trials.rename(columns={"cv": f"CV {METRIC}", "cvStd": "± std", "durationSeconds": "seconds"})
scored = board[board[f"CV {METRIC}"].notna()].sort_values(f"CV {METRIC}", ascending=not MAXIMIZE)
board = pd.concat([scored, board[board[f"CV {METRIC}"].isna()]]).reset_index(drop=True)
board.index += 1
show = ["trial", "title", "status", f"CV {METRIC}", "± std", "holdout", "seconds"]
if REPORT["llm"]:
    show += ["tokens", "costUSD"]
board["seconds"] = board["seconds"].round(1)
display(board[show + ["reason"]])
`

const pyScorePlot = `
done = trials[trials["cv"].notna()].sort_values("trial")
fig, ax = plt.subplots(figsize=(8, 4))
if len(done):
    for status, color in (("kept", "tab:green"), ("discarded", "tab:gray")):
        g = done[done["status"] == status]
        ax.scatter(g["trial"], g["cv"], label=status, color=color, zorder=3)
    # The best so far is the latest kept trial: keeping a trial makes it the best.
    best = done["cv"].where(done["status"] == "kept").ffill()
    ax.step(done["trial"], best, where="post", color="tab:green", label="best so far")
    if REPORT["ensemble"]:
        ax.axhline(REPORT["ensemble"]["cv"], color="tab:purple", linestyle="--", label="ensemble")
    ax.legend()
failed = int((trials["status"] == "failed").sum())
ax.set_xlabel("trial")
ax.set_ylabel(f"CV {METRIC}")
ax.set_title(f"CV {METRIC} per trial ({'higher' if MAXIMIZE else 'lower'} is better; {failed} failed trials not shown)")
ax.grid(alpha=0.3)
plt.show()
`

const pyEnsemble = `
E = REPORT["ensemble"]
weights = pd.DataFrame(E["weights"]).rename(columns={"cv": f"trial CV {METRIC}"})
display(weights)
folds = pd.DataFrame({"fold": range(1, len(E["folds"]) + 1), "ensemble": E["folds"], f"trial {E['best']}": E["bestFolds"]})
folds["improvement"] = (folds[f"trial {E['best']}"] - folds["ensemble"]) * (-1 if MAXIMIZE else 1)
display(folds)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, len(E["trajectory"]) + 1), E["trajectory"], marker=".")
ax.axhline(E["bestCV"], color="tab:gray", linestyle=":", label=f"trial {E['best']}")
ax.set_xlabel("round of greedy selection")
ax.set_ylabel(f"CV {METRIC} of the blend")
ax.legend()
plt.show()
`

const pyFeatures = `
F = REPORT["features"]
print(f"{len(F['original'])} original features: " + ", ".join(F["original"]))
for t in F["best"]:
    if t["top"]:
        print(f"\nTrial {t['trial']} ({t['title']}): the model's own importance of its top columns"
              + (f"; engineered columns among its features: {', '.join(t['engineered'][:10])}" if t["engineered"] else ""))
        display(pd.DataFrame(t["top"]))
if F["decisions"]:
    d = pd.DataFrame(F["decisions"])
    d["added"] = d["added"].map(", ".join)
    d["removed"] = d["removed"].map(", ".join)
    display(d[["trial", "title", "base", "added", "removed", "baseCV", "cv", "change", "decision", "reason"]])
`

const pyExplainLoad = `
from sklearn import metrics as skm

X_COLS, TARGET = P["features"], P["target"]  # TASK, CLASSES, A and y_hold were loaded with the holdout labels
X_train = pd.read_csv(A["train"])[X_COLS]
X_hold = pd.read_csv(A["holdout"])[X_COLS]
# As the trials' setup cell does: align the holdout's column types to training's.
for c in X_train.columns:
    if X_train[c].dtype == object or str(X_train[c].dtype) in ("str", "string"):
        X_hold[c] = X_hold[c].astype(X_train[c].dtype)
    elif X_hold[c].dtype != X_train[c].dtype:
        X_hold[c] = pd.to_numeric(X_hold[c], errors="coerce").astype("float64")

EXPLAINED_CLASS = int(np.bincount(y_hold).argmax()) if TASK == "multiclass" else None

XP = REPORT["explain"]
MODELS = []
for m in XP["members"]:
    with open(m["model"], "rb") as f:
        MODELS.append((m["weight"], pickle.load(f)))


def predict_with(model, frame):
    if TASK == "regression":
        return np.asarray(model.predict(frame), dtype="float64")
    p = np.asarray(model.predict_proba(frame), dtype="float64")
    return p[:, 1] if TASK == "binary" and p.ndim == 2 else p


def predict(frame):
    return sum(w * predict_with(m, frame) for w, m in MODELS)


def score(y, p):
    if METRIC == "rmse":
        return skm.root_mean_squared_error(y, p)
    if METRIC == "rmsle":
        return skm.root_mean_squared_log_error(y, p)
    if METRIC == "mae":
        return skm.mean_absolute_error(y, p)
    if METRIC == "r2":
        return skm.r2_score(y, p)
    if METRIC == "mape":
        return skm.mean_absolute_percentage_error(y, p)
    if METRIC == "logloss":
        return skm.log_loss(y, p, labels=list(range(len(CLASSES))))
    if METRIC == "auc":
        return skm.roc_auc_score(y, p, multi_class="ovr") if p.ndim == 2 else skm.roc_auc_score(y, p)
    pred = np.argmax(p, axis=1) if p.ndim == 2 else (p >= 0.5).astype(int)
    if METRIC == "accuracy":
        return skm.accuracy_score(y, pred)
    if METRIC == "f1":
        return skm.f1_score(y, pred, average="macro" if TASK == "multiclass" else "binary")
    raise ValueError(f"unknown metric {METRIC}")


BASE = score(y_hold, predict(X_hold))
print(f"{XP['what']} on the {len(X_hold)} holdout rows: {METRIC} {BASE:.6g}"
      + (f" (the harness scored the handed-back holdout predictions {XP['recorded']:.6g})" if XP["recorded"] is not None else ""))
`

const pyPermutation = `
rng = np.random.default_rng(0)
REPEATS = 3
n = len(X_hold)
rows = []
CHUNK = 10  # columns per call to the model: fewer, larger calls are much faster
for start in range(0, len(X_COLS), CHUNK):
    cols = X_COLS[start:start + CHUNK]
    frames = []
    for col in cols:
        for r in range(REPEATS):
            f = X_hold.copy()
            f[col] = f[col].iloc[rng.permutation(n)].to_numpy()
            frames.append(f)
    p = predict(pd.concat(frames, ignore_index=True))
    for k, col in enumerate(cols):
        at = [(k * REPEATS + r) * n for r in range(REPEATS)]
        worse = [(BASE - score(y_hold, p[a:a + n])) * (1 if MAXIMIZE else -1) for a in at]
        rows.append({"feature": col, "importance": float(np.mean(worse)), "std": float(np.std(worse))})
PI = pd.DataFrame(rows).sort_values("importance", ascending=False).reset_index(drop=True)
display(PI.head(15))
top = PI.head(15).iloc[::-1]
fig, ax = plt.subplots(figsize=(7, 0.35 * len(top) + 1))
ax.barh(top["feature"], top["importance"], xerr=top["std"], color="tab:blue")
ax.set_xlabel(f"holdout {METRIC} worsening when shuffled")
ax.set_title("Permutation importance on the sealed holdout")
plt.show()
`

const pySHAP = `
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # shap imports tqdm's notebook bar
import shap

# SHAP perturbs numbers: categorical columns travel as category codes and
# are decoded back to their categories before the model sees them.
CATS = {c: pd.Index(pd.concat([X_train[c], X_hold[c]]).dropna().unique())
        for c in X_COLS if not pd.api.types.is_numeric_dtype(X_train[c])}


def encode(frame):
    out = pd.DataFrame(index=frame.index)
    for c in X_COLS:
        if c in CATS:
            codes = CATS[c].get_indexer(frame[c])
            out[c] = np.where(codes >= 0, codes, np.nan)
        else:
            out[c] = frame[c].astype("float64")
    return out.to_numpy(dtype="float64")


def decode(arr):
    cols = {}
    for j, c in enumerate(X_COLS):
        v = arr[:, j]
        if c in CATS:
            vals = np.full(len(v), np.nan, dtype=object)
            ok = ~np.isnan(v)
            vals[ok] = np.asarray(CATS[c], dtype=object)[v[ok].astype(int)]
            cols[c] = pd.Series(vals, dtype=X_train[c].dtype)
        else:
            cols[c] = pd.Series(v)
    return pd.DataFrame(cols)


def explained(arr):
    p = predict(decode(arr))
    return p[:, EXPLAINED_CLASS] if p.ndim == 2 else p


background = encode(X_train.sample(min(10, len(X_train)), random_state=0))
rows_explained = encode(X_hold.sample(min(30, len(X_hold)), random_state=0))
explainer = shap.PermutationExplainer(explained, shap.maskers.Independent(background, max_samples=len(background)),
                                      feature_names=X_COLS, seed=0)
SV = explainer(rows_explained, max_evals=2 * len(X_COLS) + 1, silent=True)
shap.plots.beeswarm(SV, max_display=12, show=False)
plt.title(f"SHAP values of {len(rows_explained)} holdout rows ("
          + ("predicted " + TARGET if TASK == "regression" else f"probability of {CLASSES[EXPLAINED_CLASS if TASK == 'multiclass' else 1]}") + ")")
plt.show()
`

const pyPDP = `
num_top = [c for c in PI["feature"] if pd.api.types.is_numeric_dtype(X_train[c])][:3]
sample = X_train.sample(min(200, len(X_train)), random_state=0)
PD = {}
if num_top:
    fig, axes = plt.subplots(1, len(num_top), figsize=(4.2 * len(num_top), 3.4), squeeze=False)
    for ax, c in zip(axes[0], num_top):
        grid = np.unique(np.quantile(X_train[c].dropna(), np.linspace(0.05, 0.95, 15)))
        frames = []
        for v in grid:
            f = sample.copy()
            f[c] = v
            frames.append(f)
        p = predict(pd.concat(frames, ignore_index=True))
        if p.ndim == 2:
            p = p[:, EXPLAINED_CLASS]
        means = p.reshape(len(grid), len(sample)).mean(axis=1)
        PD[c] = (grid, means)
        ax.plot(grid, means, marker=".")
        ax.set_xlabel(c)
        ax.set_ylabel("mean prediction")
        ax.grid(alpha=0.3)
    fig.suptitle("Partial dependence of the most important numeric features")
    plt.tight_layout()
    plt.show()
else:
    print("None of the most important features is numeric; partial dependence is drawn for numeric features only.")
`

const pyReading = `
what = TARGET if TASK == "regression" else (f"probability of {CLASSES[1]}" if TASK == "binary" else f"probability of {CLASSES[EXPLAINED_CLASS]}")
worse = "lower" if MAXIMIZE else "higher"
lines = []
for _, r in PI.head(3).iterrows():
    s = f"- **{r.feature}**: shuffling it makes the holdout {METRIC} {worse} by {r.importance:.4g}"
    if BASE:
        s += f" ({100 * r.importance / abs(BASE):.1f}% of {BASE:.4g})"
    if r.feature in PD:
        g, m = PD[r.feature]
        steady = np.all(np.diff(m) >= 0) or np.all(np.diff(m) <= 0)
        trend = "rises" if m[-1] > m[0] else "falls"
        s += (f"; from {g[0]:.4g} to {g[-1]:.4g} the average predicted {what} {trend}"
              f" {'steadily' if steady else 'unevenly'} from {m[0]:.4g} to {m[-1]:.4g}")
    elif r.feature in CATS:
        s += "; it is categorical: the SHAP plot shows which categories push predictions up or down"
    lines.append(s + ".")
useless = PI[PI["importance"] <= 0]["feature"].tolist()
share = PI.head(3)["importance"].clip(lower=0).sum() / max(PI["importance"].clip(lower=0).sum(), 1e-300)
text = (f"The model leans most on **{', '.join(PI.head(3)['feature'])}**, which together carry {100 * share:.0f}% of the "
        f"total permutation importance:\n\n" + "\n".join(lines) + "\n\n"
        f"{len(useless)} of {len(X_COLS)} columns do not worsen the holdout score when shuffled; the model could probably do without them. "
        "Importance is association, not cause: a column can matter because it stands in for another one it is correlated with.")
display(Markdown(text))
`
