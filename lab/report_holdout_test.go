package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/ipynb"
	"trialbook/journal"
	"trialbook/specs"
)

// sklearnDataset writes one of scikit-learn's bundled datasets as a CSV
// with the target in column "y": breast cancer (benign or malignant), 600
// of the handwritten digits (ten classes), or diabetes progression.
const sklearnDataset = `
import sys
import numpy as np
from sklearn import datasets
name, out = sys.argv[1], sys.argv[2]
if name == "breast_cancer":
    d = datasets.load_breast_cancer(as_frame=True).frame
    d["y"] = np.where(d.pop("target") == 0, "malignant", "benign")
elif name == "digits":
    d = datasets.load_digits(as_frame=True).frame.head(600)
    d["y"] = d.pop("target")
else:
    d = datasets.load_diabetes(as_frame=True, scaled=False).frame
    d["y"] = d.pop("target")
d.to_csv(out, index=False)
`

// halfTrial fits a linear model on one half of the feature columns
// (first or second), so that two such trials err differently and their
// blend can beat both; it hands back its model for predict.
func halfTrial(task specs.Task, half int) agent.Trial {
	model := map[specs.Task]string{
		specs.Regression: "Ridge(alpha=1.0)",
		specs.Binary:     "LogisticRegression(max_iter=500)",
		specs.Multiclass: "LogisticRegression(max_iter=300, C=0.1)",
	}[task]
	predict := map[specs.Task]string{
		specs.Regression: "m.predict(df)",
		specs.Binary:     "m.predict_proba(df)[:, 1]",
		specs.Multiclass: "m.predict_proba(df)",
	}[task]
	return agent.Trial{
		Title: fmt.Sprintf("linear model on feature half %d", half+1),
		Plan:  "A linear model on half of the columns.",
		Cells: []string{fmt.Sprintf(`import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
cols = list(X.columns)
COLS = cols[:len(cols) // 2] if %d == 0 else cols[len(cols) // 2:]
target = (y == CLASSES[1]).astype(int) if TASK == "binary" else y

class Half:
    def __init__(self, m):
        self.m = m
    def predict(self, df):
        return self.m.predict(df[COLS])
    def predict_proba(self, df):
        return self.m.predict_proba(df[COLS])

def fit(rows):
    return make_pipeline(StandardScaler(), %s).fit(X.iloc[rows][COLS], target.iloc[rows])

def pred(m, df):
    return %s

oof = np.zeros((len(X), len(CLASSES))) if TASK == "multiclass" else np.zeros(len(X))
for tr, va in folds:
    oof[va] = pred(fit(tr), X.iloc[va][COLS])
final = fit(np.arange(len(X)))
hand_back(oof, pred(final, X_holdout[COLS]), model=Half(final))`, half, model, predict)},
	}
}

// holdoutCheck recomputes the report's holdout numbers with scikit-learn
// from the same saved predictions and sealed labels.
const holdoutCheck = `
import json, sys
import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

d = sys.argv[1]
R = json.load(open(d + "/report.json"))
P, H = R["problem"], R["holdout"]
task, classes = P["task"], P.get("classes")
labels = json.load(open(d + "/.trialbook/labels.json"))
view = json.load(open(d + "/data/view.json"))
folds = json.load(open(d + "/data/folds.json"))


def idx(ls):
    return np.asarray([[str(c) for c in classes].index(l if not l.replace(".", "").isdigit() else str(json.loads(l))) for l in ls])


if task == "regression":
    y, ytr = np.asarray(labels["holdout"], float), np.asarray(labels["train"], float)
else:
    y, ytr = idx(labels["holdout"]), idx(labels["train"])
out = []
for m in H["models"]:
    load = lambda kind: sum(w["weight"] * np.load(f"{d}/trials/{w['trial']:03d}/{kind}.npy") for w in m["members"])
    p, oof = load("holdout"), load("oof")
    got = {"name": m["name"], "metrics": {}}
    if task == "regression":
        got["metrics"] = {"rmse": skm.root_mean_squared_error(y, p), "mae": skm.mean_absolute_error(y, p), "r2": skm.r2_score(y, p)}
        if (y > -1).all() and (p > -1).all():
            got["metrics"]["rmsle"] = skm.root_mean_squared_log_error(y, p)
        if (y != 0).all():
            got["metrics"]["mape"] = skm.mean_absolute_percentage_error(y, p)
        order = np.argsort(y, kind="stable")
        got["deciles"] = [{"mae": skm.mean_absolute_error(y[r], p[r]), "rmse": skm.root_mean_squared_error(y[r], p[r]),
                           "bias": float(np.mean(p[r] - y[r])), "count": len(r), "lo": float(y[r].min()), "hi": float(y[r].max())}
                          for r in np.array_split(order, 10)]
        res = p - y
        got["residuals"] = [float(res.mean()), float(np.quantile(res, 0.05)), float(np.quantile(res, 0.95))]
    elif task == "binary":
        pred = (p >= 0.5).astype(int)
        got["metrics"] = {"logloss": skm.log_loss(y, p, labels=[0, 1]), "auc": skm.roc_auc_score(y, p),
                          "accuracy": skm.accuracy_score(y, pred), "f1": skm.f1_score(y, pred)}
        got["ap"] = skm.average_precision_score(y, p)
        t = 0.5
        if P["metric"] == "f1":
            # F1-optimal on the out-of-fold predictions of the validated rows.
            rows = sorted({i for f in folds for i in f["valid"]})
            prec, rec, thr = skm.precision_recall_curve(ytr[rows], oof[rows])
            f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)[:-1]
            t = float(thr[np.flatnonzero(f1 == f1.max()).max()])
        got["threshold"] = t
        got["confusion"] = skm.confusion_matrix(y, (p >= t).astype(int), labels=[0, 1]).tolist()
        pt, pp = calibration_curve(y, p, n_bins=10)
        got["calibration"] = [list(pt), list(pp)]
    else:
        pred = p.argmax(axis=1)
        ks = list(range(len(classes)))
        got["metrics"] = {"logloss": skm.log_loss(y, p, labels=ks), "auc": skm.roc_auc_score(y, p, multi_class="ovr", labels=ks),
                          "accuracy": skm.accuracy_score(y, pred), "f1": skm.f1_score(y, pred, average="macro", labels=ks, zero_division=0)}
        got["confusion"] = skm.confusion_matrix(y, pred, labels=ks).tolist()
        pr, rc, f1, sup = skm.precision_recall_fscore_support(y, pred, labels=ks, zero_division=0)
        got["perClass"] = [list(map(float, pr)), list(map(float, rc)), list(map(float, f1)), list(map(int, sup))]
        if len(classes) > 5:
            got["topK"] = [skm.top_k_accuracy_score(y, p, k=k, labels=ks) for k in (3, 5)]
    out.append(got)
print(json.dumps(out))
`

// reexecute validates report.ipynb with nbformat, executes it again with
// nbclient in the experiment folder and writes the result beside it.
const reexecute = `
import sys, nbformat
from nbclient import NotebookClient
d = sys.argv[1]
nb = nbformat.read(d + "/report.ipynb", as_version=4)
nbformat.validate(nb)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": d}}).execute()
nbformat.validate(nb)
nbformat.write(nb, d + "/report.nbclient.ipynb")
`

// TestReportHoldoutEvaluation is the report's acceptance on a binary, a
// multiclass and a regression dataset from scikit-learn: two trials on
// different halves of the columns, then the report. Its holdout section
// holds every expected plot and reading; its numbers equal scikit-learn's
// on the same saved predictions and the journal's recorded scores; the
// notebook validates and re-executes with nbclient to the same outputs;
// and writing it leaves what agents see (AGENTS.md, the journal) alone.
func TestReportHoldoutEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	cases := []struct {
		data    string
		task    specs.Task
		metric  string
		kind    string
		plots   int      // plot cells in the holdout section, CV against holdout aside
		needles []string // headings and readings it must hold
	}{
		{"breast_cancer", specs.Binary, "f1", "stratified_kfold", 3, []string{
			"### Confusion matrix", "maximises F1 on the", "out-of-fold predictions", "AUC", "average precision", "expected calibration error", "false alarms"}},
		{"digits", specs.Multiclass, "logloss", "stratified_kfold", 2, []string{
			"### Confusion matrix", "The most common mistake", "the hardest class", "### Top-k accuracy", "among the 5 most probable"}},
		{"diabetes", specs.Regression, "rmse", "kfold", 4, []string{
			"points on the dotted line", "the residuals average", "the errors are", "the error is largest in tenth"}},
	}
	for _, c := range cases {
		t.Run(c.data, func(t *testing.T) {
			dir := t.TempDir()
			runPython(t, sklearnDataset, c.data, filepath.Join(dir, "data.csv"))
			p := &specs.Problem{Name: c.data, File: filepath.Join(dir, "problem.jsonnet"), Task: c.task, Data: filepath.Join(dir, "data.csv"),
				Target: "y", Metric: specs.Metric{Name: c.metric}, Validation: specs.Validation{Kind: c.kind, Folds: 3}, Holdout: 0.25, Seed: 3}
			p.Budget.Trials = 2
			ag := &agent.Scripted{Trials: []agent.Trial{halfTrial(c.task, 0), halfTrial(c.task, 1)}}
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			if err := os.WriteFile(filepath.Join(dir, "AGENTS.md"), []byte("# agents\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Log: zerolog.Nop()}); err != nil {
				t.Fatal(err)
			}
			agentsMD, _ := os.ReadFile(filepath.Join(dir, "AGENTS.md"))
			before, err := journal.ReadFile(filepath.Join(dir, JournalFile))
			if err != nil {
				t.Fatal(err)
			}
			res, err := WriteReport(ctx, ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}

			// What agents see is left alone: AGENTS.md is unchanged, and the
			// report adds no journal event but the ensemble and report.ready.
			if after, _ := os.ReadFile(filepath.Join(dir, "AGENTS.md")); !bytes.Equal(after, agentsMD) {
				t.Error("writing the report changed AGENTS.md")
			}
			after, _ := journal.ReadFile(filepath.Join(dir, JournalFile))
			for _, e := range after[len(before):] {
				if e.Type != journal.EnsembleUpdated && e.Type != journal.ReportReady {
					t.Errorf("the report appended a %s event", e.Type)
				}
			}
			snap := journal.Fold(after)

			var data reportData
			b, err := os.ReadFile(filepath.Join(dir, ReportData))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &data); err != nil {
				t.Fatal(err)
			}
			h := data.Holdout
			if h == nil || h.Disabled != "" || len(h.Models) == 0 {
				t.Fatalf("holdout section %+v", h)
			}
			// The models: what predict applies, then the best trial when
			// it is another one.
			first := h.Models[0]
			if res.Predict.Ensemble {
				if len(h.Models) != 2 || h.Models[1].Name != fmt.Sprintf("trial %d", snap.Best.Trial) || len(first.Members) != len(res.Predict.Members) {
					t.Errorf("predict uses %s; holdout models %+v, want the ensemble and trial %d", res.Predict.Describe(), h.Models, snap.Best.Trial)
				}
			} else if len(h.Models) != 1 || first.Name != fmt.Sprintf("trial %d", snap.Best.Trial) {
				t.Errorf("predict uses %s; holdout models %+v, want trial %d alone", res.Predict.Describe(), h.Models, snap.Best.Trial)
			}
			t.Logf("%s: predict uses %s", c.data, res.Predict.Describe())
			// The optimised metric agrees with the journal.
			for _, m := range h.Models {
				v, ok := m.metricOf(c.metric)
				if !ok || m.Journal == nil || !close9(v, *m.Journal) {
					t.Errorf("%s: %s %v (defined %v), journal %v", m.Name, c.metric, v, ok, m.Journal)
				}
			}
			// The kept trials' CV and holdout are the journal's.
			for _, k := range h.Kept {
				row := rowOf(snap, k.Trial)
				if row == nil || row.Status != journal.TrialStatusKept || row.Score.CV != k.CV || *row.Score.Holdout != k.Holdout {
					t.Errorf("kept %+v, journal %+v", k, row)
				}
			}
			if len(h.Kept) != snap.Counts.Kept {
				t.Errorf("%d kept trials in the plot, the journal keeps %d", len(h.Kept), snap.Counts.Kept)
			}

			compareWithSklearn(t, c.task, h, runPython(t, holdoutCheck, dir))
			checkHoldoutNotebook(t, dir, res.Path, c.plots, c.needles)
		})
	}
}

func rowOf(s journal.Snapshot, trial int) *journal.TrialRow {
	for i := range s.Leaderboard {
		if s.Leaderboard[i].Trial == trial {
			return &s.Leaderboard[i]
		}
	}
	return nil
}

func close9(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// compareWithSklearn checks every number of the holdout section against
// what holdoutCheck computed with scikit-learn.
func compareWithSklearn(t *testing.T, task specs.Task, h *reportHoldout, out []byte) {
	t.Helper()
	var sk []struct {
		Name        string             `json:"name"`
		Metrics     map[string]float64 `json:"metrics"`
		AP          float64            `json:"ap"`
		Threshold   float64            `json:"threshold"`
		Confusion   [][]int            `json:"confusion"`
		Calibration [2][]float64       `json:"calibration"`
		PerClass    [4][]float64       `json:"perClass"`
		TopK        []float64          `json:"topK"`
		Deciles     []decileError      `json:"deciles"`
		Residuals   []float64          `json:"residuals"`
	}
	if err := json.Unmarshal(out, &sk); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(sk) != len(h.Models) {
		t.Fatalf("scikit-learn evaluated %d models, the report %d", len(sk), len(h.Models))
	}
	check := func(what string, got, want float64) {
		t.Helper()
		if !close9(got, want) {
			t.Errorf("%s: harness %v, scikit-learn %v", what, got, want)
		}
	}
	for i, m := range h.Models {
		s := sk[i]
		// The metric table: every allowed metric, equal to scikit-learn's
		// where it is defined, and undefined where scikit-learn's is not.
		if len(m.Metrics) != len(specs.MetricNames(task)) {
			t.Errorf("%s: %d metrics in the table, want %v", m.Name, len(m.Metrics), specs.MetricNames(task))
		}
		for _, r := range m.Metrics {
			want, ok := s.Metrics[r.Name]
			switch {
			case ok != (r.Value != nil):
				t.Errorf("%s: %s defined %v (%s), scikit-learn's defined %v", m.Name, r.Name, r.Value != nil, r.Note, ok)
			case ok:
				check(m.Name+" "+r.Name, *r.Value, want)
			}
		}
		switch task {
		case specs.Binary:
			b := m.Binary
			check(m.Name+" AP", b.AP, s.AP)
			check(m.Name+" threshold", b.Threshold, s.Threshold)
			if got, want := fmt.Sprint(b.Confusion), fmt.Sprint(s.Confusion); got != want {
				t.Errorf("%s confusion %v, scikit-learn %v", m.Name, got, want)
			}
			if len(b.Calibration) != len(s.Calibration[0]) {
				t.Fatalf("%s: %d calibration bins, scikit-learn %d", m.Name, len(b.Calibration), len(s.Calibration[0]))
			}
			for j, c := range b.Calibration {
				check(fmt.Sprintf("%s calibration bin %d observed", m.Name, j), c.Observed, s.Calibration[0][j])
				check(fmt.Sprintf("%s calibration bin %d predicted", m.Name, j), c.MeanPredicted, s.Calibration[1][j])
			}
		case specs.Multiclass:
			mc := m.Multiclass
			if got, want := fmt.Sprint(mc.Confusion), fmt.Sprint(s.Confusion); got != want {
				t.Errorf("%s confusion %v, scikit-learn %v", m.Name, got, want)
			}
			for j, pc := range mc.PerClass {
				check(fmt.Sprintf("%s class %v precision", m.Name, pc.Class), pc.Precision, s.PerClass[0][j])
				check(fmt.Sprintf("%s class %v recall", m.Name, pc.Class), pc.Recall, s.PerClass[1][j])
				check(fmt.Sprintf("%s class %v F1", m.Name, pc.Class), pc.F1, s.PerClass[2][j])
				check(fmt.Sprintf("%s class %v support", m.Name, pc.Class), float64(pc.Support), s.PerClass[3][j])
			}
			if len(mc.TopK) != len(s.TopK) || len(s.TopK) == 0 {
				t.Fatalf("%s: top-k %v, scikit-learn %v", m.Name, mc.TopK, s.TopK)
			}
			for j, k := range mc.TopK {
				check(fmt.Sprintf("%s top-%d", m.Name, k.K), k.Accuracy, s.TopK[j])
			}
		default:
			r := m.Regression
			if len(r.Deciles) != len(s.Deciles) {
				t.Fatalf("%s: %d deciles, scikit-learn %d", m.Name, len(r.Deciles), len(s.Deciles))
			}
			for j, d := range r.Deciles {
				w := s.Deciles[j]
				check(fmt.Sprintf("%s decile %d MAE", m.Name, j+1), d.MAE, w.MAE)
				check(fmt.Sprintf("%s decile %d RMSE", m.Name, j+1), d.RMSE, w.RMSE)
				check(fmt.Sprintf("%s decile %d bias", m.Name, j+1), d.Bias, w.Bias)
				check(fmt.Sprintf("%s decile %d range", m.Name, j+1), d.Lo+d.Hi+float64(d.Count), w.Lo+w.Hi+float64(w.Count))
			}
			check(m.Name+" mean residual", r.MeanResidual, s.Residuals[0])
			check(m.Name+" residual p05", r.ResidualP05, s.Residuals[1])
			check(m.Name+" residual p95", r.ResidualP95, s.Residuals[2])
		}
	}
}

// checkHoldoutNotebook checks the holdout section of the executed report:
// its plot cells (one image each, and a reading after each),
// its headings and readings, and that nbclient executes the notebook again
// to the same text outputs.
func checkHoldoutNotebook(t *testing.T, dir, path string, plotCells int, needles []string) {
	t.Helper()
	nb, err := ipynb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	section := holdoutSection(nb)
	if len(section) == 0 {
		t.Fatalf("report has no %q", HoldoutHeading)
	}
	var text strings.Builder
	pngs, cells := 0, 0
	for i, c := range section {
		text.WriteString(c.Source + "\n")
		plots := 0
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell raised %s: %s", o.EName, o.EValue)
			}
			if _, ok := o.Data["image/png"]; ok {
				plots++
			}
		}
		if plots > 0 {
			cells++
			if i+1 >= len(section) || section[i+1].CellType != "markdown" || !strings.Contains(section[i+1].Source, "*Reading:*") {
				t.Errorf("plot cell %d has no reading under it:\n%s", i, c.Source)
			}
		}
		pngs += plots
	}
	// The CV against holdout plot, too.
	if cells != plotCells+1 || pngs != cells {
		t.Errorf("%d plot cells with %d images in the holdout section, want %d with one each", cells, pngs, plotCells+1)
	}
	for _, want := range append(needles, "CV against holdout", "the score the journal recorded", "(optimised)") {
		if !strings.Contains(text.String(), want) && !strings.Contains(outputsText(section), want) {
			t.Errorf("holdout section has no %q", want)
		}
	}

	runPython(t, reexecute, dir)
	again, err := ipynb.ReadFile(filepath.Join(dir, "report.nbclient.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outputsText(holdoutSection(again)), outputsText(section); got != want {
		t.Errorf("nbclient's outputs of the holdout section differ from the report's:\n%s\n---\n%s", got, want)
	}
}

// holdoutSection is the report's cells from the holdout heading up to the
// next section.
func holdoutSection(nb *ipynb.Notebook) []*ipynb.Cell {
	var out []*ipynb.Cell
	for _, c := range nb.Cells {
		if c.CellType == "markdown" && strings.HasPrefix(c.Source, "## ") {
			if len(out) > 0 {
				break
			}
			if strings.HasPrefix(c.Source, HoldoutHeading) {
				out = append(out, c)
			}
			continue
		}
		if len(out) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// outputsText is the text the cells printed or displayed.
func outputsText(cells []*ipynb.Cell) string {
	var b strings.Builder
	for _, c := range cells {
		for _, o := range c.Outputs {
			b.WriteString(o.Text)
			if s, ok := o.Data["text/plain"].(string); ok && !strings.HasPrefix(s, "<Figure") {
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// TestHoldoutCurvesMatchScikitLearn checks the binary holdout numbers on
// probabilities rounded to twentieths, so that scores tie and some sit on
// the calibration bins' edges.
func TestHoldoutCurvesMatchScikitLearn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	const n = 400
	p, y := make([]float64, n), make([]float64, n)
	pos := make([]bool, n)
	for i := range p {
		pos[i] = rng.Float64() < 0.3
		if pos[i] {
			y[i] = 1
		}
		p[i] = math.Round(math.Min(1, math.Max(0, 0.3+0.4*y[i]+rng.NormFloat64()*0.25))*20) / 20
	}
	dir := t.TempDir()
	if err := errors.Join(WriteNpy(filepath.Join(dir, "y.npy"), Array{Shape: []int{n}, Data: y}),
		WriteNpy(filepath.Join(dir, "p.npy"), Array{Shape: []int{n}, Data: p})); err != nil {
		t.Fatal(err)
	}
	var want struct {
		AP, Threshold, F1 float64
		Observed, Pred    []float64
		Q05, Q95          float64
	}
	out := runPython(t, `
import json, sys
import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
y, p = np.load(sys.argv[1] + "/y.npy").astype(int), np.load(sys.argv[1] + "/p.npy")
prec, rec, thr = skm.precision_recall_curve(y, p)
f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)[:-1]
best = np.flatnonzero(f1 == f1.max()).max()
obs, pred = calibration_curve(y, p, n_bins=10)
print(json.dumps({"AP": skm.average_precision_score(y, p), "Threshold": float(thr[best]), "F1": float(f1[best]),
                  "Observed": list(obs), "Pred": list(pred), "Q05": float(np.quantile(p, 0.05)), "Q95": float(np.quantile(p, 0.95))}))`, dir)
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	if got := averagePrecision(p, pos); !close9(got, want.AP) {
		t.Errorf("average precision %v, scikit-learn %v", got, want.AP)
	}
	if th, f := f1Threshold(p, pos); th != want.Threshold || !close9(f, want.F1) {
		t.Errorf("F1-optimal threshold %v (F1 %v), scikit-learn's precision_recall_curve says %v (F1 %v)", th, f, want.Threshold, want.F1)
	}
	bins, _ := calibrationCurve(p, pos, 10)
	if len(bins) != len(want.Observed) {
		t.Fatalf("%d calibration bins, scikit-learn %d", len(bins), len(want.Observed))
	}
	for i, b := range bins {
		if !close9(b.Observed, want.Observed[i]) || !close9(b.MeanPredicted, want.Pred[i]) {
			t.Errorf("bin %d: observed %v predicted %v, scikit-learn %v %v", i, b.Observed, b.MeanPredicted, want.Observed[i], want.Pred[i])
		}
	}
	sorted := slices.Clone(p)
	slices.Sort(sorted)
	if q5, q95 := quantile(sorted, 0.05), quantile(sorted, 0.95); !close9(q5, want.Q05) || !close9(q95, want.Q95) {
		t.Errorf("quantiles %v %v, numpy %v %v", q5, q95, want.Q05, want.Q95)
	}
}

// TestHoldoutDisabled: without sealed rows or without a kept trial the
// section says why, and the explainability cells load the labels
// themselves.
func TestHoldoutDisabled(t *testing.T) {
	snap := journal.Snapshot{Problem: &journal.ProblemSummary{Metric: "rmse"}}
	cases := []struct {
		rows int
		want string
	}{
		{0, "seals no holdout"},
		{10, "no trial has been kept yet"},
	}
	for _, c := range cases {
		d := &Data{View: View{Task: specs.Regression, HoldoutRows: c.rows}}
		h := gatherHoldout(t.TempDir(), d, nil, &snap, PredictModel{}, errors.New("no model"), nil)
		if !strings.Contains(h.Disabled, c.want) || len(h.Models) != 0 {
			t.Errorf("%d holdout rows: disabled %q, %d models; want %q", c.rows, h.Disabled, len(h.Models), c.want)
		}
		rd := &reportData{Holdout: h, Explain: &reportExplain{Members: []reportMember{{Trial: 1, Weight: 1, Model: "trials/001/model.pkl"}}}}
		nb := reportNotebook(rd, nil)
		var src strings.Builder
		for _, cell := range nb.Cells {
			src.WriteString(cell.Source + "\n")
		}
		if s := src.String(); !strings.Contains(s, HoldoutHeading+"\n\nNot available: "+h.Disabled) || !strings.Contains(s, "y_hold = np.asarray(") {
			t.Errorf("%d holdout rows: the notebook does not say why or does not load the labels for explainability:\n%s", c.rows, s)
		}
	}
}
