package lab

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/ipynb"
	"trialbook/journal"
)

// oneColumnTrial fits a pipeline on one numeric column (and, optionally,
// the categorical column) and hands it back as the trial's model. Its
// features function lives in __main__, as agents' code does, so model.pkl
// only loads elsewhere when it was pickled by value.
func oneColumnTrial(title, col string, withCat bool) agent.Trial {
	cats := "[]"
	features := col
	if withCat {
		cats, features = `["cat"]`, col+",cat"
	}
	return agent.Trial{
		Title: title,
		Plan:  "Ridge on " + features + ".",
		Tags:  map[string]string{"features": features},
		Cells: []string{
			`import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

NUM, CAT = ["` + col + `"], ` + cats + `

def add_features(df):
    out = df.copy()
    out["` + col + `_sq"] = df["` + col + `"] ** 2
    return out

class TrialModel:
    def __init__(self, models):
        self.models = models
    def predict(self, df):
        return np.mean([m.predict(add_features(df)) for m in self.models], axis=0)

def make():
    parts = [("num", "passthrough", NUM + ["` + col + `_sq"])]
    if CAT:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")), CAT))
    return make_pipeline(ColumnTransformer(parts), Ridge(alpha=1.0))`,
			`oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout)); models = []
for tr, va in folds:
    m = make().fit(add_features(X.iloc[tr]), y.iloc[tr])
    oof[va] = m.predict(add_features(X.iloc[va]))
    hold += m.predict(add_features(X_holdout)) / len(folds)
    models.append(m)`,
			`hand_back(oof, hold, model=TrialModel(models))`,
		},
	}
}

// TestReportEnsemblePredict runs a small experiment in real kernels whose two
// trials err independently (one sees only a, the other only b), so that the
// harness's ensemble beats both; then writes the report, validates and
// re-executes it with nbformat and nbclient, and predicts new rows with the
// ensemble.
func TestReportEnsemblePredict(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir, p := toyExperiment(t, 240)
	p.FeatureResearch, p.Explain = true, true
	ag := &agent.Scripted{Trials: []agent.Trial{
		oneColumnTrial("ridge on a", "a", false),
		oneColumnTrial("ridge on b and cat", "b", true),
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if _, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}

	res, err := WriteReport(ctx, ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.JournalSkipped != "" {
		t.Fatalf("journal skipped: %s", res.JournalSkipped)
	}
	e := res.Ensemble
	if e == nil {
		t.Fatalf("no ensemble: %s", res.EnsembleNote)
	}
	if !e.Used || len(e.Weights) != 2 {
		t.Fatalf("ensemble %v not used over two trials: %s", e.Weights, e.Reason)
	}

	// The journal records the ensemble, and the snapshot `trialbook status`
	// prints shows its holdout score.
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	snap := journal.Fold(events)
	if snap.Ensemble == nil || snap.Ensemble.Score == nil || snap.Ensemble.Score.Holdout == nil {
		t.Fatalf("snapshot ensemble %+v: want a holdout score", snap.Ensemble)
	}
	if snap.Report != ReportNotebook {
		t.Errorf("snapshot report %q, want %q", snap.Report, ReportNotebook)
	}
	// Cross-check the harness's ensemble holdout score with numpy and the
	// sealed labels.
	weights, _ := json.Marshal(snap.Ensemble.Weights)
	out := runPython(t, `
import json, sys, numpy as np
d, w = sys.argv[1], json.loads(sys.argv[2])
y = np.asarray(json.load(open(d + "/.trialbook/labels.json"))["holdout"], dtype=float)
p = sum(v * np.load(f"{d}/trials/{int(k):03d}/holdout.npy") for k, v in w.items())
print(float(np.sqrt(np.mean((y - p) ** 2))))`, dir, string(weights))
	want, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if got := *snap.Ensemble.Score.Holdout; math.Abs(got-want) > 1e-9*math.Max(1, want) {
		t.Errorf("ensemble holdout rmse %v, numpy says %v", got, want)
	}
	// Writing the report again does not repeat an unchanged ensemble.
	if _, err := WriteReport(ctx, ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	again, _ := journal.ReadFile(filepath.Join(dir, JournalFile))
	if n := countType(again, journal.EnsembleUpdated); n != 1 {
		t.Errorf("%d ensemble.updated events after two reports, want 1", n)
	}
	if n := countType(again, journal.ReportReady); n != 2 {
		t.Errorf("%d report.ready events after two reports, want 2", n)
	}

	// The notebook: every section ran, with plots and the plain reading.
	nb, err := ipynb.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	pngs := 0
	for _, c := range nb.Cells {
		text.WriteString(c.Source)
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell raised %s: %s", o.EName, o.EValue)
			}
			if _, ok := o.Data["image/png"]; ok {
				pngs++
			}
			if s, ok := o.Data["text/markdown"].(string); ok {
				text.WriteString(s)
			}
			text.WriteString(o.Text)
		}
	}
	for _, want := range []string{"## Leaderboard", "kept", "## Ensemble", "The ensemble is used", "## Feature research", "added `b`, `cat`",
		"Permutation importance", "SHAP", "leans most on", "labels.json", "trialbook predict", "001-ridge-on-a.ipynb"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report has no %q", want)
		}
	}
	// score plot, ensemble trajectory, permutation bars, SHAP, partial dependence
	if pngs < 5 {
		t.Errorf("%d plots in the report, want at least 5", pngs)
	}
	// nbformat validates it and nbclient executes it again from the
	// experiment folder.
	runPython(t, `
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1] + "/report.ipynb", as_version=4)
nbformat.validate(nb)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[1]}}).execute()
nbformat.validate(nb)
print("ok")`, dir)

	// Predict: rows of the data with the target removed.
	input := filepath.Join(t.TempDir(), "new.csv")
	runPython(t, `import sys, pandas as pd
pd.read_csv(sys.argv[1]).drop(columns=["y"]).head(57).to_csv(sys.argv[2], index=False)`, p.Data, input)
	outCSV := filepath.Join(t.TempDir(), "predictions.csv")
	pr, err := Predict(ctx, PredictOptions{Dir: dir, Input: input, Output: outCSV, IDs: p.Features.IDs, Spec: spec, Problem: p, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Rows != 57 || !pr.Model.Ensemble {
		t.Errorf("predicted %d rows with %s, want 57 with the ensemble", pr.Rows, pr.Model.Describe())
	}
	rows := readCSV(t, outCSV)
	if got, want := strings.Join(rows[0], ","), "Id,y"; got != want {
		t.Errorf("header %s, want %s", got, want)
	}
	if len(rows) != 58 {
		t.Errorf("%d lines, want a header and 57 rows", len(rows))
	}
	// The predictions are the weighted blend of the two saved models.
	check := runPython(t, `
import json, pickle, sys, numpy as np, pandas as pd
d, w, inp, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
X = pd.read_csv(inp)
p = sum(v * pickle.load(open(f"{d}/trials/{int(k):03d}/model.pkl", "rb")).predict(X) for k, v in w.items())
got = pd.read_csv(out)
print(float(np.max(np.abs(got["y"].to_numpy() - p))), int((got["Id"] == X["Id"]).all()))`, dir, string(weights), input, outCSV)
	f := strings.Fields(string(check))
	if len(f) != 2 || f[1] != "1" {
		t.Errorf("ids not kept in order: %s", check)
	} else if d, _ := strconv.ParseFloat(f[0], 64); d > 1e-6 {
		t.Errorf("predictions differ from the weighted blend of the models by %v", d)
	}

	// The same rows as Parquet, with the predictions written as Parquet:
	// the same predictions, and a Parquet file's columns are checked too.
	inPq := filepath.Join(t.TempDir(), "new.parquet")
	outPq := filepath.Join(t.TempDir(), "predictions.parquet")
	runPython(t, `import sys, pandas as pd
pd.read_csv(sys.argv[1]).to_parquet(sys.argv[2], index=False)
pd.read_csv(sys.argv[1]).drop(columns=["b"]).to_parquet(sys.argv[3], index=False)`, input, inPq, inPq+".nob.parquet")
	if pr, err := Predict(ctx, PredictOptions{Dir: dir, Input: inPq, Output: outPq, IDs: p.Features.IDs, Spec: spec, Problem: p, Log: zerolog.Nop()}); err != nil || pr.Rows != 57 {
		t.Fatalf("predict from Parquet: %v, %+v", err, pr)
	}
	same := runPython(t, `import sys, pandas as pd
a, b = pd.read_csv(sys.argv[1]), pd.read_parquet(sys.argv[2])
pd.testing.assert_frame_equal(a, b, check_dtype=False)
print(len(b))`, outCSV, outPq)
	if strings.TrimSpace(string(same)) != "57" {
		t.Errorf("Parquet predictions: %s", same)
	}
	_, err = Predict(ctx, PredictOptions{Dir: dir, Input: inPq + ".nob.parquet", Output: outPq, Spec: spec, Log: zerolog.Nop()})
	if ce := (*ColumnsError)(nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), `missing column(s) "b"`) {
		t.Errorf("Parquet without column b: %v, want a ColumnsError", err)
	}

	// A file with a missing column and one with the target still in.
	for _, c := range []struct {
		name, drop, want string
	}{
		{"missing", `["y", "b"]`, `missing column(s) "b"`},
		{"extra", `[]`, `"y" is the target: remove it`},
	} {
		bad := filepath.Join(t.TempDir(), c.name+".csv")
		runPython(t, `import json, sys, pandas as pd
pd.read_csv(sys.argv[1]).drop(columns=json.loads(sys.argv[3])).head(5).to_csv(sys.argv[2], index=False)`, p.Data, bad, c.drop)
		_, err := Predict(ctx, PredictOptions{Dir: dir, Input: bad, Output: filepath.Join(t.TempDir(), "p.csv"), Spec: spec, Log: zerolog.Nop()})
		var ce *ColumnsError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s column: error %v, want a ColumnsError naming the file and saying %q", c.name, err, c.want)
		}
	}
}

func countType(events []journal.Event, typ journal.Type) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestFeatureSteps(t *testing.T) {
	cases := []struct {
		tags map[string]string
		want string
	}{
		{map[string]string{"features": "b, cat,,none"}, "b,cat"},
		{map[string]string{"config": `{"steps":["log_target","seeds"],"interactions":[["a","b"]]}`}, "a × b,log_target"},
		{map[string]string{"family": "lightgbm"}, ""},
	}
	for _, c := range cases {
		if got := strings.Join(featureSteps(c.tags), ","); got != c.want {
			t.Errorf("featureSteps(%v) = %q, want %q", c.tags, got, c.want)
		}
	}
}

// TestReportBinary writes the report of a one-trial binary experiment: the
// explainability cells on probabilities, no ensemble, and predict writing a
// label and a probability per row.
func TestReportBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir := t.TempDir()
	writeToyCSV(t, filepath.Join(dir, "toy.csv"), 160, "binary")
	p := toyProblem(dir, "binary", "stratified_kfold")
	p.Validation.Folds = 3
	p.Explain = true
	ag := &agent.Scripted{Trials: []agent.Trial{{
		Title: "logistic on a and cat",
		Cells: []string{`import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
def make():
    return make_pipeline(make_column_transformer(("passthrough", ["a", "b"]), (OneHotEncoder(handle_unknown="ignore"), ["cat"])), LogisticRegression())
yy = (y == CLASSES[1]).astype(int)
oof = np.zeros(len(X))
for tr, va in folds:
    oof[va] = make().fit(X.iloc[tr], yy.iloc[tr]).predict_proba(X.iloc[va])[:, 1]
model = make().fit(X, yy)
hand_back(oof, model.predict_proba(X_holdout)[:, 1], model=model)`},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if _, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	res, err := WriteReport(ctx, ReportOptions{Dir: dir, Spec: spec, Problem: p, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ensemble == nil || res.Ensemble.Used {
		t.Errorf("one trial: ensemble %+v, want one built and not used", res.Ensemble)
	}
	nb, err := ipynb.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, c := range nb.Cells {
		text.WriteString(c.Source)
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell raised %s: %s", o.EName, o.EValue)
			}
			if s, ok := o.Data["text/markdown"].(string); ok {
				text.WriteString(s)
			}
		}
	}
	for _, want := range []string{"The ensemble is not used", "probability of yes", "leans most on"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report has no %q", want)
		}
	}
	if strings.Contains(text.String(), "## Feature research") {
		t.Error("feature research written though the problem does not ask for it")
	}
	input := filepath.Join(t.TempDir(), "new.csv")
	runPython(t, `import sys, pandas as pd
pd.read_csv(sys.argv[1]).drop(columns=["y"]).to_csv(sys.argv[2], index=False)`, p.Data, input)
	out := filepath.Join(t.TempDir(), "p.csv")
	pr, err := Predict(ctx, PredictOptions{Dir: dir, Input: input, Output: out, IDs: p.Features.IDs, Spec: spec, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, out)
	if got, want := strings.Join(rows[0], ","), "Id,y,y_proba_yes"; got != want || len(rows) != 161 || pr.Model.Ensemble {
		t.Errorf("header %s with %d lines (%s), want %s and 161 lines from trial 1", got, len(rows), pr.Model.Describe(), want)
	}
	for _, r := range rows[1:] {
		prob, err := strconv.ParseFloat(r[2], 64)
		if (r[1] != "yes" && r[1] != "no") || err != nil || (prob >= 0.5) != (r[1] == "yes") {
			t.Fatalf("row %v: want a label that agrees with its probability", r)
		}
	}
}
