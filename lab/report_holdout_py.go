package lab

// The code cells of "How the final model does on the sealed holdout". Every
// number they show comes from report.json, where the harness wrote it; they
// read the saved predictions and the sealed labels only to draw curves and
// scatter plots of the same rows.

// pyHoldoutLabels loads the sealed holdout labels as the metrics take them:
// numbers for regression, class indexes otherwise.
const pyHoldoutLabels = `
TASK, CLASSES = P["task"], P.get("classes")
A = REPORT["artifacts"]
# The sealed holdout labels: harness-owned, never in any trial's kernel.
labels = json.loads(pathlib.Path(A["labels"]).read_text())["holdout"]


def class_index(label):
    for i, c in enumerate(CLASSES):
        if str(c) == label:
            return i
        try:
            if float(label) == float(c):
                return i
        except (TypeError, ValueError):
            pass
    raise ValueError(f"label {label!r} is not one of {CLASSES}")


if TASK == "regression":
    y_hold = np.asarray(labels, dtype="float64")
else:
    y_hold = np.asarray([class_index(l) for l in labels])
`

const pyHoldoutLoad = pyHoldoutLabels + `
H = REPORT["holdout"]
MODELS_H = H["models"]
# Each model's holdout predictions, blended with the weights predict applies.
HOLD = {}
for m in MODELS_H:
    p = sum(w["weight"] * np.load(w["holdout"]).astype("float64") for w in m["members"])
    HOLD[m["name"]] = p if TASK == "multiclass" else p.reshape(-1)


def heatmap(ax, matrix, rows, cols, fmt):
    matrix = np.asarray(matrix, dtype="float64")
    ax.imshow(matrix, cmap="Blues", vmin=0)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, format(matrix[i, j], fmt), ha="center", va="center",
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45 if len(cols) > 4 else 0)
    ax.set_yticks(range(len(rows)), rows)


metric_table = pd.DataFrame({m["name"]: {r["name"]: r["value"] for r in m["metrics"]} for m in MODELS_H}).astype("float64")
metric_table.insert(0, "better", ["higher" if r["direction"] == "maximize" else "lower" for r in MODELS_H[0]["metrics"]])
metric_table.index = [n + (" (optimised)" if r["optimised"] else "") for n, r in zip(metric_table.index, MODELS_H[0]["metrics"])]
display(metric_table)
for m in MODELS_H:
    for r in m["metrics"]:
        if r.get("note"):
            print(f"{m['name']}: {r['name']} {r['note']}")
`

const pyBinaryCurves = `
from sklearn.metrics import precision_recall_curve, roc_curve  # for drawing; AUC and AP are the harness's

fig, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4.2))
for m in MODELS_H:
    b, p = m["binary"], HOLD[m["name"]]
    fpr, tpr, _ = roc_curve(y_hold, p)
    roc.plot(fpr, tpr, label=f"{m['name']} (AUC {b['auc']:.4f})")
    precision, recall, _ = precision_recall_curve(y_hold, p)
    pr.step(recall, precision, where="post", label=f"{m['name']} (AP {b['ap']:.4f})")
roc.plot([0, 1], [0, 1], color="tab:gray", linestyle=":", label="chance")
roc.set_xlabel("false positive rate")
roc.set_ylabel("true positive rate")
roc.set_title(f"ROC on the holdout (positive: {CLASSES[1]})")
pr.axhline(MODELS_H[0]["binary"]["baseRate"], color="tab:gray", linestyle=":", label="base rate")
pr.set_xlabel("recall")
pr.set_ylabel("precision")
pr.set_title("Precision and recall on the holdout")
for ax in (roc, pr):
    ax.legend(loc="lower right" if ax is roc else "lower left")
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
`

const pyBinaryConfusion = `
fig, axes = plt.subplots(1, len(MODELS_H), figsize=(4.6 * len(MODELS_H), 4), squeeze=False)
for ax, m in zip(axes[0], MODELS_H):
    b = m["binary"]
    heatmap(ax, b["confusion"], [f"true {CLASSES[0]}", f"true {CLASSES[1]}"],
            [f"predicted {CLASSES[0]}", f"predicted {CLASSES[1]}"], ".0f")
    ax.set_title(f"{m['name']}\nprobability >= {b['threshold']:.4g}")
plt.tight_layout()
plt.show()
display(pd.DataFrame({m["name"]: {k: m["binary"][k] for k in ("threshold", "precision", "recall", "f1", "accuracy")}
                      for m in MODELS_H}))
`

const pyCalibration = `
fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.plot([0, 1], [0, 1], color="tab:gray", linestyle=":", label="perfectly calibrated")
for m in MODELS_H:
    bins = pd.DataFrame(m["binary"]["calibration"])
    ax.plot(bins["meanPredicted"], bins["observed"], marker="o",
            label=f"{m['name']} (expected calibration error {m['binary']['ece']:.3f})")
ax.set_xlabel(f"mean predicted probability of {CLASSES[1]} (10 bins)")
ax.set_ylabel(f"observed share of {CLASSES[1]}")
ax.set_title("Calibration on the holdout")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
display(pd.DataFrame(MODELS_H[0]["binary"]["calibration"]))
`

const pyMultiConfusion = `
names = [str(c) for c in CLASSES]
size = 0.55 * len(names) + 2.5
fig, axes = plt.subplots(len(MODELS_H), 2, figsize=(2 * size, size * len(MODELS_H)), squeeze=False)
for row, m in zip(axes, MODELS_H):
    mc = m["multiclass"]
    heatmap(row[0], mc["confusion"], names, names, ".0f")
    row[0].set_title(f"{m['name']}: counts")
    heatmap(row[1], mc["normalised"], names, names, ".2f")
    row[1].set_title(f"{m['name']}: share of each true class")
    for ax in row:
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
plt.tight_layout()
plt.show()
`

const pyPerClass = `
per_class = pd.concat({m["name"]: pd.DataFrame(m["multiclass"]["perClass"]).set_index("class") for m in MODELS_H}, axis=1)
display(per_class)
fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(CLASSES) * len(MODELS_H)), 3.5))
width = 0.8 / len(MODELS_H)
for i, m in enumerate(MODELS_H):
    f1s = [c["f1"] for c in m["multiclass"]["perClass"]]
    ax.bar(np.arange(len(CLASSES)) + i * width, f1s, width, label=m["name"])
ax.set_xticks(np.arange(len(CLASSES)) + 0.4 - width / 2, [str(c) for c in CLASSES])
ax.set_ylabel("F1 on the holdout")
ax.set_ylim(0, 1.05)
ax.set_title("F1 per class")
ax.legend()
plt.show()
`

const pyTopK = `
display(pd.DataFrame({m["name"]: {f"top-{t['k']}": t["accuracy"] for t in
                                  [{"k": 1, "accuracy": m["multiclass"]["accuracy"]}] + m["multiclass"]["topK"]}
                      for m in MODELS_H}))
`

const pyPredictedVsTrue = `
fig, axes = plt.subplots(1, len(MODELS_H), figsize=(5 * len(MODELS_H), 4.5), squeeze=False)
lo, hi = min(y_hold.min(), min(p.min() for p in HOLD.values())), max(y_hold.max(), max(p.max() for p in HOLD.values()))
for ax, m in zip(axes[0], MODELS_H):
    ax.scatter(y_hold, HOLD[m["name"]], s=12, alpha=0.6)
    ax.plot([lo, hi], [lo, hi], color="tab:gray", linestyle=":")
    ax.set_xlabel(f"true {P['target']}")
    ax.set_ylabel(f"predicted {P['target']}")
    ax.set_title(m["name"])
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
`

const pyResiduals = `
fig, axes = plt.subplots(1, len(MODELS_H), figsize=(5 * len(MODELS_H), 4), squeeze=False)
for ax, m in zip(axes[0], MODELS_H):
    p = HOLD[m["name"]]
    ax.scatter(p, p - y_hold, s=12, alpha=0.6)
    ax.axhline(0, color="tab:gray", linestyle=":")
    ax.set_xlabel(f"predicted {P['target']}")
    ax.set_ylabel("residual (predicted - true)")
    ax.set_title(m["name"])
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
`

const pyResidualHist = `
fig, ax = plt.subplots(figsize=(7, 3.8))
for m in MODELS_H:
    ax.hist(HOLD[m["name"]] - y_hold, bins=30, alpha=0.5, label=m["name"])
ax.axvline(0, color="tab:gray", linestyle=":")
ax.set_xlabel("residual (predicted - true)")
ax.set_ylabel("holdout rows")
ax.set_title("Distribution of the residuals")
ax.legend()
plt.show()
display(pd.DataFrame({m["name"]: {k: m["regression"][k] for k in ("meanResidual", "residualP05", "residualP95")} for m in MODELS_H}))
`

const pyDeciles = `
fig, ax = plt.subplots(figsize=(8, 3.8))
width = 0.8 / len(MODELS_H)
for i, m in enumerate(MODELS_H):
    dec = pd.DataFrame(m["regression"]["deciles"])
    ax.bar(dec["decile"] + (i - (len(MODELS_H) - 1) / 2) * width, dec["mae"], width, label=m["name"])
ax.set_xticks(range(1, 11))
ax.set_xlabel(f"tenth of the holdout by true {P['target']} (1: lowest)")
ax.set_ylabel("mean absolute error")
ax.set_title("Error by decile of the target")
ax.legend()
plt.show()
display(pd.DataFrame(MODELS_H[0]["regression"]["deciles"]).set_index("decile"))
`

const pyCVHoldout = `
kept = pd.DataFrame(H["kept"], columns=["trial", "title", "cv", "holdout"])
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(kept["cv"], kept["holdout"], color="tab:green", zorder=3, label="kept trials")
for _, r in kept.iterrows():
    ax.annotate(str(r["trial"]), (r["cv"], r["holdout"]), textcoords="offset points", xytext=(4, 4))
E = REPORT["ensemble"]
if E and E["holdout"] is not None:
    ax.scatter([E["cv"]], [E["holdout"]], color="tab:purple", marker="*", s=150, zorder=4, label="ensemble")
values = list(kept["cv"]) + list(kept["holdout"]) + ([E["cv"], E["holdout"]] if E and E["holdout"] is not None else [])
if values:
    lo, hi = min(values), max(values)
    ax.plot([lo, hi], [lo, hi], color="tab:gray", linestyle=":", label="holdout = CV")
ax.set_xlabel(f"CV {METRIC}")
ax.set_ylabel(f"holdout {METRIC}")
ax.set_title("CV against holdout, every kept trial")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
`
