package lab

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"trialbook/specs"
)

// writeToyCSV writes n rows: id, two numbers, a category with gaps, a target.
func writeToyCSV(t *testing.T, path string, n int, task specs.Task) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"Id", "a", "b", "cat", "grp", "y"})
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; i++ {
		a, b := rng.NormFloat64(), rng.Float64()*10
		cat := []string{"x", "y", "z", "NA"}[rng.IntN(4)]
		var y string
		switch task {
		case specs.Regression:
			y = fmt.Sprintf("%.4f", 3*a+b+rng.NormFloat64())
		case specs.Binary:
			y = []string{"no", "yes"}[map[bool]int{false: 0, true: 1}[a+rng.NormFloat64()*0.5 > 0]]
		default:
			y = fmt.Sprint(rng.IntN(3))
		}
		w.Write([]string{fmt.Sprint(i + 1), fmt.Sprintf("%.5f", a), fmt.Sprintf("%.3f", b), cat, fmt.Sprint(i % 13), y})
	}
	w.Flush()
}

func toyProblem(dir string, task specs.Task, kind string) *specs.Problem {
	metric := map[specs.Task]string{specs.Regression: "rmse", specs.Binary: "auc", specs.Multiclass: "logloss"}[task]
	return &specs.Problem{
		Name: "toy", File: filepath.Join(dir, "problem.jsonnet"), Task: task,
		Data: filepath.Join(dir, "toy.csv"), Target: "y", Metric: specs.Metric{Name: metric},
		Validation: specs.Validation{Kind: kind, Folds: 4, Group: "grp", Time: "Id"},
		Holdout:    0.2, Seed: 11, Features: specs.Features{IDs: []string{"Id"}},
	}
}

func TestPrepareDataSplits(t *testing.T) {
	cases := []struct {
		task specs.Task
		kind string
	}{
		{specs.Regression, "kfold"},
		{specs.Regression, "stratified_kfold"},
		{specs.Binary, "stratified_kfold"},
		{specs.Multiclass, "stratified_kfold"},
		{specs.Regression, "group_kfold"},
		{specs.Regression, "time_series"},
	}
	for _, c := range cases {
		t.Run(string(c.task)+"/"+c.kind, func(t *testing.T) {
			dir := t.TempDir()
			writeToyCSV(t, filepath.Join(dir, "toy.csv"), 200, c.task)
			p := toyProblem(dir, c.task, c.kind)
			d, err := PrepareData(p, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.View.Rows+d.View.HoldoutRows, 200; got != want {
				t.Errorf("rows %d + holdout %d, want %d in all", d.View.Rows, d.View.HoldoutRows, want)
			}
			if d.View.HoldoutRows < 30 || d.View.HoldoutRows > 50 {
				t.Errorf("holdout has %d rows, want about 40", d.View.HoldoutRows)
			}
			if slices.Contains(d.View.Features, "Id") || slices.Contains(d.View.Features, "y") {
				t.Errorf("features %v include the id or the target", d.View.Features)
			}
			seen := make([]int, d.View.Rows)
			for _, f := range d.Folds {
				for _, i := range f.Valid {
					seen[i]++
				}
				if slices.ContainsFunc(f.Train, func(i int) bool { return slices.Contains(f.Valid, i) }) {
					t.Error("a row is in both train and valid of one fold")
				}
			}
			for i, s := range seen {
				if s > 1 || (s == 0 && c.kind != "time_series") {
					t.Fatalf("row %d validated %d times", i, s)
				}
			}
			hold, err := os.ReadFile(filepath.Join(dir, viewHoldoutFile))
			if err != nil {
				t.Fatal(err)
			}
			if header := strings.SplitN(string(hold), "\n", 2)[0]; strings.Contains(header, ",y") {
				t.Errorf("holdout.csv header %q has the target", header)
			}
			// Loading again gives the same split, and a changed file is refused.
			again, err := PrepareData(p, dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(again.Folds[0].Valid, d.Folds[0].Valid) {
				t.Error("a second PrepareData re-split the data")
			}
			os.WriteFile(p.Data, append(hold, '\n'), 0o644)
			if _, err := PrepareData(p, dir); err == nil || !strings.Contains(err.Error(), "changed") {
				t.Errorf("changed data: err = %v", err)
			}
		})
	}
}

func TestPrepareDataErrors(t *testing.T) {
	dir := t.TempDir()
	writeToyCSV(t, filepath.Join(dir, "toy.csv"), 50, specs.Regression)
	p := toyProblem(dir, specs.Regression, "kfold")
	p.Target = "price"
	if _, err := PrepareData(p, dir); err == nil || !strings.Contains(err.Error(), `target "price" is not a column`) {
		t.Errorf("missing target column: %v", err)
	}
	p = toyProblem(dir, specs.Regression, "kfold")
	p.Target = "cat"
	if _, err := PrepareData(p, dir); err == nil || !strings.Contains(err.Error(), "not a number") || !strings.Contains(err.Error(), "line") {
		t.Errorf("text target for regression: %v", err)
	}
}

// TestSetupCellAndHandBack runs the harness's setup cell in Python, as a
// kernel would, and hands back good and bad predictions.
func TestSetupCellAndHandBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	for _, task := range []specs.Task{specs.Regression, specs.Binary, specs.Multiclass} {
		t.Run(string(task), func(t *testing.T) {
			dir := t.TempDir()
			writeToyCSV(t, filepath.Join(dir, "toy.csv"), 120, task)
			p := toyProblem(dir, task, "stratified_kfold")
			d, err := PrepareData(p, dir)
			if err != nil {
				t.Fatal(err)
			}
			script := SetupCell(3, p.Seed, p.Metric.Name) + `
import numpy as np
assert len(X) + len(X_holdout) == 120 and list(X.columns) == ["a", "b", "cat", "grp"], X.columns
assert TARGET not in X_holdout.columns
width = len(CLASSES) if TASK == "multiclass" else None
def preds(n):
    return np.full((n, width), 1 / width) if width else np.full(n, 0.5)
for bad, why in [(preds(len(X))[:-1], "shape"), (np.full(len(X), np.nan) if not width else np.full((len(X), width), np.nan), "NaN")]:
    try:
        hand_back(bad, preds(len(X_holdout)))
    except ValueError as e:
        assert why in str(e), e
    else:
        raise AssertionError("bad predictions accepted: " + why)
hand_back(preds(len(X)), preds(len(X_holdout)), model={"any": "picklable"})
`
			cmd := exec.Command(venvPython(t), "-c", script)
			cmd.Dir = filepath.Join(dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("setup cell: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "handed back oof") {
				t.Errorf("no confirmation line in %q", out)
			}
			oof, err := ReadNpy(filepath.Join(dir, "trials", "003", "oof.npy"))
			if err != nil {
				t.Fatal(err)
			}
			if oof.Shape[0] != d.View.Rows {
				t.Errorf("oof has %d rows, want %d", oof.Shape[0], d.View.Rows)
			}
			if _, err := os.Stat(filepath.Join(dir, "trials", "003", "model.pkl")); err != nil {
				t.Error(err)
			}
		})
	}
}
