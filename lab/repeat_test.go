package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/specs"
)

// checkRounds checks that the view's folds are rounds of k folds, each round
// a partition of the training rows with every other row in training, and
// that no two rounds are the same split.
func checkRounds(t *testing.T, d *Data, rounds, k int) {
	t.Helper()
	if got, want := d.Repeats(), rounds; got != want {
		t.Errorf("Repeats() = %d, want %d", got, want)
	}
	if got, want := len(d.Folds), rounds*k; got != want {
		t.Fatalf("%d folds, want %d rounds of %d", got, rounds, k)
	}
	if got, want := len(d.FirstRound()), k; got != want {
		t.Errorf("first round has %d folds, want %d", got, want)
	}
	var seen [][]int // each round's fold of every row
	for r := range rounds {
		fold := make([]int, d.View.Rows)
		for i := range fold {
			fold[i] = -1
		}
		for f, sp := range d.Folds[r*k : (r+1)*k] {
			for _, i := range sp.Valid {
				if fold[i] >= 0 {
					t.Fatalf("round %d: row %d is validated by folds %d and %d", r+1, i, fold[i]+1, f+1)
				}
				fold[i] = f
			}
			if got, want := len(sp.Train)+len(sp.Valid), d.View.Rows; got != want {
				t.Errorf("round %d fold %d: %d train + %d valid rows, want %d", r+1, f+1, len(sp.Train), len(sp.Valid), want)
			}
			valid := map[int]bool{}
			for _, i := range sp.Valid {
				valid[i] = true
			}
			for _, i := range sp.Train {
				if valid[i] {
					t.Fatalf("round %d fold %d: row %d both trains and validates", r+1, f+1, i)
				}
			}
		}
		for i, f := range fold {
			if f < 0 {
				t.Fatalf("round %d: row %d is never validated", r+1, i)
			}
		}
		for q, other := range seen {
			if slices.Equal(other, fold) {
				t.Errorf("round %d splits the rows exactly as round %d", r+1, q+1)
			}
		}
		seen = append(seen, fold)
	}
}

func TestRepeatedFolds(t *testing.T) {
	cases := []struct {
		task specs.Task
		kind string
	}{
		{specs.Regression, "kfold"},
		{specs.Regression, "stratified_kfold"},
		{specs.Binary, "stratified_kfold"},
		{specs.Multiclass, "stratified_kfold"},
	}
	for _, c := range cases {
		t.Run(string(c.task)+"/"+c.kind, func(t *testing.T) {
			once, repeated := t.TempDir(), t.TempDir()
			for _, dir := range []string{once, repeated} {
				writeToyCSV(t, filepath.Join(dir, "toy.csv"), 150, c.task)
			}
			d1, err := PrepareData(toyProblem(once, c.task, c.kind), once)
			if err != nil {
				t.Fatal(err)
			}
			p := toyProblem(repeated, c.task, c.kind)
			p.Validation.Repeat = 3
			d, err := PrepareData(p, repeated)
			if err != nil {
				t.Fatal(err)
			}
			checkRounds(t, d, 3, 4)
			// Round 1 is the split the problem gets without repeats.
			if got, want := d.FirstRound(), d1.Folds; !foldsEqual(got, want) {
				t.Error("round 1 differs from the folds of the same problem without repeats")
			}
			if c.kind != "stratified_kfold" {
				return
			}
			strata := make([]string, d.View.Rows)
			for i := range strata {
				if c.task == specs.Regression {
					strata = nil
					break
				}
				strata[i] = string(d.View.Classes[d.Train.Classes[i]])
			}
			if strata == nil {
				return
			}
			// Every round is stratified: a class's rows spread over the
			// round's folds within one row of each other.
			for r := range 3 {
				count := map[string][]int{}
				for f, sp := range d.Folds[r*4 : (r+1)*4] {
					for _, i := range sp.Valid {
						if count[strata[i]] == nil {
							count[strata[i]] = make([]int, 4)
						}
						count[strata[i]][f]++
					}
				}
				for class, n := range count {
					if slices.Max(n)-slices.Min(n) > 1 {
						t.Errorf("round %d: class %s is spread %v over the folds, want within one row", r+1, class, n)
					}
				}
			}
		})
	}
}

func foldsEqual(a, b []Fold) bool {
	return slices.EqualFunc(a, b, func(x, y Fold) bool {
		return slices.Equal(x.Train, y.Train) && slices.Equal(x.Valid, y.Valid)
	})
}

// TestRepeatOneIsNoRepeat: repeat 1 writes the data view that no repeat
// writes, file for file; view.json differs only by the problem's own
// validation.repeat field, which it records.
func TestRepeatOneIsNoRepeat(t *testing.T) {
	src, none, one := t.TempDir(), t.TempDir(), t.TempDir()
	writeToyCSV(t, filepath.Join(src, "toy.csv"), 120, specs.Binary)
	p0 := toyProblem(src, specs.Binary, "stratified_kfold")
	if _, err := PrepareData(p0, none); err != nil {
		t.Fatal(err)
	}
	p := toyProblem(src, specs.Binary, "stratified_kfold")
	p.Validation.Repeat = 1
	d, err := PrepareData(p, one)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Repeats(); got != 1 {
		t.Errorf("Repeats() = %d, want 1", got)
	}
	for _, f := range []string{viewTrainFile, viewHoldoutFile, viewFoldsFile, sealedLabels} {
		a, err1 := os.ReadFile(filepath.Join(none, f))
		b, err2 := os.ReadFile(filepath.Join(one, f))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between repeat 1 and no repeat", f)
		}
	}
	var a, b map[string]any
	if err := readJSON(filepath.Join(none, viewMetaFile), &a); err != nil {
		t.Fatal(err)
	}
	if err := readJSON(filepath.Join(one, viewMetaFile), &b); err != nil {
		t.Fatal(err)
	}
	if got := b["validation"].(map[string]any)["repeat"]; got != 1.0 {
		t.Errorf("view.json validation.repeat = %v, want 1", got)
	}
	delete(b["validation"].(map[string]any), "repeat")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("view.json beyond validation.repeat differs:\n%s\n%s", ja, jb)
	}
	if testing.Short() {
		return
	}
	// The setup cell prints the same line and defines REPEATS = 1 on both.
	outNone, outOne := runSetup(t, none), runSetup(t, one)
	if outNone != outOne {
		t.Errorf("setup cell output differs:\nno repeat: %s\nrepeat 1: %s", outNone, outOne)
	}
	if !strings.Contains(outNone, "REPEATS 1 folds 4\n") || !strings.Contains(outNone, ", 4 folds, ") {
		t.Errorf("setup cell output %q, want REPEATS 1 and 4 folds", outNone)
	}
}

// runSetup runs the setup cell in dir's data view and prints REPEATS and
// len(folds) after its own output.
func runSetup(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(venvPython(t), "-c", SetupCell(1, 11, "auc")+"\nprint('REPEATS', REPEATS, 'folds', len(folds))\n")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("setup cell: %v\n%s", err, out)
	}
	return string(out)
}

func TestRepeatRefusedWhereFoldsAreFixed(t *testing.T) {
	for _, kind := range []string{"group_kfold", "time_series"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			writeToyCSV(t, filepath.Join(dir, "toy.csv"), 100, specs.Regression)
			p := toyProblem(dir, specs.Regression, kind)
			p.Validation.Repeat = 2
			_, err := PrepareData(p, dir)
			if err == nil || !strings.Contains(err.Error(), "validation.repeat 2") || !strings.Contains(err.Error(), "same in every round") {
				t.Fatalf("repeat 2 with %s: %v, want a refusal naming validation.repeat", kind, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Errorf("the refused view left data/ behind (%v)", err)
			}
		})
	}
}

// TestScoreRepeatedFolds scores hand-made averaged predictions: CV is the
// metric on all of them, the fold scores are round 1's, and they differ
// from the mean of round 1's folds, so the test tells the two apart.
func TestScoreRepeatedFolds(t *testing.T) {
	dir := t.TempDir()
	writeToyCSV(t, filepath.Join(dir, "toy.csv"), 100, specs.Regression)
	p := toyProblem(dir, specs.Regression, "kfold")
	p.Validation.Folds, p.Validation.Repeat = 3, 2
	d, err := PrepareData(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LookupMetric("rmse")
	if err != nil {
		t.Fatal(err)
	}
	oof := Array{Shape: []int{d.View.Rows}, Data: make([]float64, d.View.Rows)}
	for i, v := range d.Train.Values {
		oof.Data[i] = v + float64(i%7) - 3 // errors of different sizes
	}
	hold := Array{Shape: []int{d.View.HoldoutRows}, Data: slices.Clone(d.Holdout.Values)}
	s, err := ScoreTrial(m, d, oof, hold)
	if err != nil {
		t.Fatal(err)
	}
	var sse float64
	for i, v := range d.Train.Values {
		sse += (oof.Data[i] - v) * (oof.Data[i] - v)
	}
	if got, want := s.CV, math.Sqrt(sse/float64(d.View.Rows)); math.Abs(got-want) > 1e-12 {
		t.Errorf("CV %v, want the rmse of all averaged predictions %v", got, want)
	}
	if got, want := len(s.Folds), 3; got != want {
		t.Fatalf("%d fold scores, want round 1's %d", got, want)
	}
	var mean float64
	for f, fold := range d.FirstRound() {
		var ss float64
		for _, i := range fold.Valid {
			ss += (oof.Data[i] - d.Train.Values[i]) * (oof.Data[i] - d.Train.Values[i])
		}
		want := math.Sqrt(ss / float64(len(fold.Valid)))
		if math.Abs(s.Folds[f]-want) > 1e-12 {
			t.Errorf("fold %d scores %v, want %v on round 1's fold", f+1, s.Folds[f], want)
		}
		mean += want
	}
	mean /= 3
	if math.Abs(s.CV-mean) < 1e-9 {
		t.Errorf("CV %v equals the mean of the fold scores; the test cannot tell them apart", s.CV)
	}
	var ss float64
	for _, v := range s.Folds {
		ss += (v - mean) * (v - mean)
	}
	if got, want := s.CVStd, math.Sqrt(ss/3); math.Abs(got-want) > 1e-12 {
		t.Errorf("± std %v, want the spread of round 1's folds %v", got, want)
	}
	if s.Holdout == nil || *s.Holdout != 0 {
		t.Errorf("holdout %v, want 0 for exact predictions", s.Holdout)
	}
	// The ensemble's greedy search ranks blends by the same CV.
	cv, err := cvScore(m, d, oof)
	if err != nil || cv != s.CV {
		t.Errorf("cvScore = %v, %v; want ScoreTrial's CV %v", cv, err, s.CV)
	}
}

// repeatedCheck is a Python script run in an experiment folder: for each
// trial notebook given, it runs the notebook's setup cell as the kernel
// did, checks REPEATS and the rounds of folds, and recomputes the trial's
// scores with scikit-learn from its saved oof.npy and holdout.npy.
const repeatedCheck = `
import contextlib, io, json, sys, math
import nbformat
import numpy as np
from sklearn.metrics import mean_squared_error, roc_auc_score

rounds, k = int(sys.argv[1]), int(sys.argv[2])
out = {}
for path in sys.argv[3:]:
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if "trialbook-setup" in c.metadata.get("tags", []))
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(setup.source, ns)
    folds, y = ns["folds"], ns["y"]
    assert ns["REPEATS"] == rounds, ns["REPEATS"]
    assert len(folds) == rounds * k, len(folds)
    for r in range(rounds):
        seen = np.concatenate([va for _, va in folds[r * k:(r + 1) * k]])
        assert sorted(seen.tolist()) == list(range(len(y))), f"round {r + 1} is not a partition"
        for tr, va in folds[r * k:(r + 1) * k]:
            assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y)
    art = ns["ARTIFACTS"]
    oof = np.load(art / "oof.npy")
    hold = np.load(art / "holdout.npy")
    labels = json.loads((ns["EXPERIMENT_DIR"] / ".trialbook" / "labels.json").read_text())
    if ns["TASK"] == "regression":
        score = lambda t, p: math.sqrt(mean_squared_error(t, p))
        truth = y.to_numpy(dtype=float)
        held = np.array(labels["holdout"], dtype=float)
    else:
        score = roc_auc_score
        truth = (y.astype(str).to_numpy() == str(ns["CLASSES"][1])).astype(int)
        held = (np.array(labels["holdout"]) == str(ns["CLASSES"][1])).astype(int)
    # The dummy baseline predicts the mean of each fold's training rows, so
    # its averaged oof can be rebuilt here: it shows the built-in CV cell
    # averages over the rounds instead of keeping the last one.
    averaged = None
    if nb.metadata["trialbook"]["title"] == "Dummy baseline":
        want = np.zeros(len(truth))
        for tr, va in folds:
            want[va] += truth[tr].mean() / rounds
        last = np.zeros(len(truth))
        for tr, va in folds[-k:]:
            last[va] = truth[tr].mean()
        assert not np.allclose(want, last), "the rounds give the same dummy predictions; the check cannot tell"
        averaged = bool(np.allclose(oof, want, rtol=0, atol=1e-12))
    out[nb.metadata["trialbook"]["trial"]] = {
        "averaged": averaged,
        "cv": score(truth, oof),
        "folds": [score(truth[va], oof[va]) for _, va in folds[:k]],
        "holdout": score(held, hold),
        "printed": next(o["text"] for o in setup.outputs if o.get("name") == "stdout"),
    }
print(json.dumps(out))
`

// TestRunRepeatedBuiltin runs the built-in agent on problems with repeated
// folds, loaded from Jsonnet as trialbook run loads them, in real kernels,
// and recomputes each trial's scores with scikit-learn.
func TestRunRepeatedBuiltin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	cases := []struct {
		name       string
		task       specs.Task
		problem    string
		trials     int
		rounds, k  int
		wantMetric string
	}{
		{"regression kfold", specs.Regression, "tb.regression { data: 'toy.csv', target: 'y', metric: 'rmse', validation: tb.kfold(3, repeat=2), features: tb.features(ids=['Id']), holdout: 0.2, seed: 5 }", 3, 2, 3, "rmse"},
		{"binary stratified", specs.Binary, "tb.binary { data: 'toy.csv', target: 'y', metric: 'auc', validation: tb.stratifiedKfold(3, repeat=2), features: tb.features(ids=['Id']), holdout: 0.2, seed: 6 }", 2, 2, 3, "auc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeToyCSV(t, filepath.Join(dir, "toy.csv"), 150, c.task)
			file := filepath.Join(dir, "problem.jsonnet")
			if err := os.WriteFile(file, []byte("local tb = import 'trialbook.libsonnet';\n\n"+c.problem+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			p, ag := loadBuiltin(ctx, t, file, dir)
			snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "builtin", Spec: spec, Trials: c.trials, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(snap.Leaderboard), c.trials; got != want {
				t.Fatalf("%d trials, want %d", got, want)
			}
			d, err := LoadData(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkRounds(t, d, c.rounds, c.k)
			args := []string{strings.TrimSpace(repeatedCheck), strconv.Itoa(c.rounds), strconv.Itoa(c.k)}
			scores := map[int]*journal.Score{}
			for _, r := range snap.Leaderboard {
				if r.Status != "kept" && r.Status != "discarded" || r.Score == nil {
					t.Fatalf("trial %d (%s) is %s (%s), want it scored", r.Trial, r.Title, r.Status, r.Reason)
				}
				args = append(args, filepath.Join(dir, r.Notebook))
				scores[r.Trial] = r.Score
			}
			cmd := exec.Command(venvPython(t), append([]string{"-c"}, args...)...)
			cmd.Dir = dir
			cmd.Stderr = os.Stderr
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("python check: %v", err)
			}
			var got map[int]struct {
				CV      float64   `json:"cv"`
				Folds   []float64 `json:"folds"`
				Holdout float64   `json:"holdout"`
				Printed string    `json:"printed"`
				// Averaged is null but for the dummy baseline.
				Averaged *bool `json:"averaged"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			dummies := 0
			for n, py := range got {
				if py.Averaged != nil {
					dummies++
					if !*py.Averaged {
						t.Errorf("trial %d, the dummy baseline, handed back an oof that is not the average of its rounds' predictions", n)
					}
				}
			}
			if dummies != 1 {
				t.Errorf("%d dummy baselines among the trials, want 1 to check the averaging", dummies)
			}
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
			for n, s := range scores {
				py, ok := got[n]
				if !ok {
					t.Fatalf("no scikit-learn scores for trial %d", n)
				}
				if s.Metric != c.wantMetric {
					t.Errorf("trial %d scored with %s, want %s", n, s.Metric, c.wantMetric)
				}
				if !near(s.CV, py.CV) {
					t.Errorf("trial %d: CV %v, scikit-learn on the averaged oof gives %v", n, s.CV, py.CV)
				}
				if len(s.Folds) != len(py.Folds) {
					t.Fatalf("trial %d: %d fold scores, want round 1's %d", n, len(s.Folds), len(py.Folds))
				}
				for f := range py.Folds {
					if !near(s.Folds[f], py.Folds[f]) {
						t.Errorf("trial %d fold %d: %v, scikit-learn on round 1 gives %v", n, f+1, s.Folds[f], py.Folds[f])
					}
				}
				if s.Holdout == nil || !near(*s.Holdout, py.Holdout) {
					t.Errorf("trial %d: holdout %v, scikit-learn gives %v", n, s.Holdout, py.Holdout)
				}
				if !strings.Contains(py.Printed, "6 folds (2 rounds of 3)") {
					t.Errorf("trial %d's setup cell printed %q, want it to count 6 folds in 2 rounds", n, py.Printed)
				}
			}
			if c.task == specs.Regression {
				events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
				if err != nil {
					t.Fatal(err)
				}
				checkDecisions(t, events)
			}
		})
	}
}

// loadBuiltin loads a problem file and the built-in agent for an
// experiment in dir.
func loadBuiltin(ctx context.Context, t *testing.T, file, dir string) (*specs.Problem, *agent.Builtin) {
	t.Helper()
	p, err := specs.Load(ctx, file, specs.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.NewBuiltin(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, ag
}
