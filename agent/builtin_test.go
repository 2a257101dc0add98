package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"trialbook/specs"
)

func TestLoadRecipes(t *testing.T) {
	rs, err := LoadRecipesForTest(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]int{}
	for _, r := range rs {
		stages[r.Stage]++
	}
	for _, s := range []string{"baseline", "family", "feature", "exploit"} {
		if stages[s] == 0 {
			t.Errorf("no %s recipes", s)
		}
	}
	// A user's file replaces a built-in recipe by name and adds new ones.
	extra := filepath.Join(t.TempDir(), "mine.jsonnet")
	os.WriteFile(extra, []byte(`[
  { name: 'dummy', stage: 'baseline', family: 'dummy', title: 'My dummy', why: 'mine', model: { regression: 'DummyRegressor(strategy="median")' } },
  { name: 'knn', stage: 'family', family: 'knn', title: 'k nearest neighbours', why: 'local', preprocess: 'linear',
    imports: 'from sklearn.neighbors import KNeighborsRegressor', model: { regression: 'KNeighborsRegressor(n_neighbors=10)' } },
]`), 0o644)
	rs2, err := specs.LoadRecipes([]string{extra})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs2) != len(rs)+1 || rs2[0].Title != "My dummy" || rs2[len(rs2)-1].Name != "knn" {
		t.Errorf("extra recipes not merged: %d recipes, first %q", len(rs2), rs2[0].Title)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonnet")
	os.WriteFile(bad, []byte(`[{ name: 'x', stage: 'family', title: 'X', why: '' }]`), 0o644)
	if _, err := specs.LoadRecipes([]string{bad}); err == nil || !strings.Contains(err.Error(), "bad.jsonnet") || !strings.Contains(err.Error(), "model") {
		t.Errorf("a recipe without a model: %v", err)
	}
}

func LoadRecipesForTest(t *testing.T, extra []string) ([]specs.Recipe, error) {
	t.Helper()
	return specs.LoadRecipes(extra)
}

// skewedTrain is what the harness measures on a training part with a
// skewed target (exp of i%10 / 2, times 1000, for 60 rows: pandas' skew
// 1.452, min 1000), an Area column missing in 9 rows and a 13-level Hood.
func skewedTrain() *TrainFacts {
	return &TrainFacts{TargetNumeric: true, TargetSkew: 1.4519431536547471, TargetMin: 1000, Missing: map[string]int{"Area": 9}, HighCardinality: []string{"Hood"}}
}

func TestBuiltinProposesInOrderAndCitesEvidence(t *testing.T) {
	p := &specs.Problem{Task: specs.Regression, Target: "y", Metric: specs.Metric{Name: "rmse", Direction: specs.Minimize}, Validation: specs.Validation{Kind: "kfold", Folds: 5}, FeatureResearch: true}
	b, err := NewBuiltin(p)
	if err != nil {
		t.Fatal(err)
	}
	s := State{Problem: p, Next: 1, Train: skewedTrain()}
	var titles []string
	// Play the strategist against itself: each trial scores a bit better
	// than the one before, on every fold, so each is kept.
	for n := 1; n <= 16; n++ {
		s.Next = n
		tr, err := b.Propose(context.Background(), s)
		if err != nil {
			t.Fatalf("proposal %d: %v", n, err)
		}
		titles = append(titles, tr.Title)
		if !strings.Contains(tr.Cells[len(tr.Cells)-1], "hand_back(") {
			t.Fatalf("trial %d: %d cells, last %q", n, len(tr.Cells), tr.Cells[len(tr.Cells)-1])
		}
		if n > 8 && !strings.Contains(strings.ToLower(tr.Plan), fmt.Sprintf("trial %d", n-1)) {
			t.Errorf("trial %d's plan does not cite the best trial %d:\n%s", n, n-1, tr.Plan)
		}
		if strings.Contains(tr.Title, "log target") && !strings.Contains(tr.Plan, "skewness") {
			t.Errorf("log-target plan gives no evidence:\n%s", tr.Plan)
		}
		cv := 100 - float64(n)
		ts := TrialSummary{Number: n, Title: tr.Title, Tags: tr.Tags, Status: "kept", CV: cv, Folds: []float64{cv, cv, cv}}
		if n == 3 {
			ts.Importance = []FeatureImportance{{Feature: "Area", Importance: 0.6, Numeric: true}, {Feature: "Hood", Importance: 0.3}, {Feature: "Rooms", Importance: 0.1, Numeric: true}}
		}
		s.Trials = append(s.Trials, ts)
		s.Best = n
	}
	// The families, strongest on tabular data first; then, the target being
	// skewed, the three best families again on a log target.
	want := []string{"Dummy baseline", "Linear baseline with proper preprocessing", "LightGBM", "CatBoost", "XGBoost", "HistGradientBoosting", "Random forest", "Extra trees",
		"Extra trees + log target", "Random forest + log target", "HistGradientBoosting + log target"}
	for i, w := range want {
		if titles[i] != w {
			t.Errorf("trial %d is %q, want %q (all: %q)", i+1, titles[i], w, titles)
		}
	}
	if titles[11] != "Blend of trials 11, 10, 9" {
		t.Errorf("trial 12 is %q, want the blend of the best trial of the three best families", titles[11])
	}
	joined := strings.Join(titles, "|")
	for _, step := range []string{"log target", "missing indicators", "target encoding", "interactions", "permutation importance"} {
		if !strings.Contains(joined, step) {
			t.Errorf("no %s trial in %q", step, titles)
		}
	}
	seen := map[string]bool{}
	for _, tr := range s.Trials {
		if seen[tr.Tags["idea"]] {
			t.Errorf("idea %s proposed twice", tr.Tags["idea"])
		}
		seen[tr.Tags["idea"]] = true
	}
}

// TestBuiltinCellsCompile checks every recipe's cells are valid Python.
func TestBuiltinCellsCompile(t *testing.T) {
	py := repoPython(t)
	for _, task := range []specs.Task{specs.Regression, specs.Binary} {
		p := &specs.Problem{Task: task, Target: "y", Metric: specs.Metric{Name: "rmse"}, Validation: specs.Validation{Folds: 5}, FeatureResearch: true}
		b, err := NewBuiltin(p)
		if err != nil {
			t.Fatal(err)
		}
		s := State{Problem: p, Train: skewedTrain()}
		for n := 1; n <= 10; n++ {
			s.Next = n
			tr, err := b.Propose(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			src := strings.Join(tr.Cells, "\n\n")
			cmd := exec.Command(py, "-c", "import sys; compile(sys.stdin.read(), 'trial', 'exec')")
			cmd.Stdin = strings.NewReader(src)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s trial %q does not compile: %v\n%s", task, tr.Title, err, out)
			}
			s.Trials = append(s.Trials, TrialSummary{Number: n, Tags: tr.Tags, Status: "kept", CV: float64(100 - n)})
			s.Best = n
		}
	}
}

func repoPython(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			py := filepath.Join(dir, ".venv", "bin", "python")
			if _, err := os.Stat(py); err != nil {
				t.Skip("no .venv: run make setup")
			}
			return py
		}
		if filepath.Dir(dir) == dir {
			t.Skip("no go.mod")
		}
		dir = filepath.Dir(dir)
	}
}

func TestBuiltinFixGivesUpWithReason(t *testing.T) {
	b := &Builtin{}
	_, err := b.Fix(context.Background(), FixRequest{Ename: "ModuleNotFoundError", Evalue: "No module named 'catboost'"})
	if err == nil || !strings.Contains(err.Error(), "catboost") {
		t.Errorf("Fix = %v, want the missing module named", err)
	}
}

// TestBuiltinNeverRepeatsAConfiguration runs the strategist for many trials,
// each scoring worse than the first family, and checks that no two trials
// run the same configuration.
func TestBuiltinNeverRepeatsAConfiguration(t *testing.T) {
	p := &specs.Problem{Task: specs.Regression, Target: "y", Metric: specs.Metric{Name: "rmse", Direction: specs.Minimize}, Validation: specs.Validation{Folds: 3}, FeatureResearch: true}
	b, err := NewBuiltin(p)
	if err != nil {
		t.Fatal(err)
	}
	s := State{Problem: p, Train: skewedTrain()}
	seen := map[string]int{}
	for n := 1; n <= 40; n++ {
		s.Next = n
		tr, err := b.Propose(context.Background(), s)
		if err != nil {
			t.Fatalf("proposal %d: %v", n, err)
		}
		if cfg := tr.Tags["config"]; cfg != "" {
			if prev, ok := seen[cfg]; ok {
				t.Fatalf("trial %d (%s) repeats trial %d's configuration", n, tr.Title, prev)
			}
			seen[cfg] = n
		}
		cv := 50 + float64(n%7)
		status := "discarded"
		if n == 3 {
			cv, status, s.Best = 40, "kept", 3
		}
		s.Trials = append(s.Trials, TrialSummary{Number: n, Title: tr.Title, Tags: tr.Tags, Status: status, CV: cv, Folds: []float64{cv, cv, cv}})
	}
}

// TestBuiltinNoSeedBaggingOfASeedlessModel: when the best trial is a ridge
// regression, refitting it with other seeds would change nothing.
func TestBuiltinNoSeedBaggingOfASeedlessModel(t *testing.T) {
	p := &specs.Problem{Task: specs.Regression, Target: "y", Metric: specs.Metric{Name: "rmse", Direction: specs.Minimize}, Validation: specs.Validation{Kind: "kfold", Folds: 5}}
	b, err := NewBuiltin(p)
	if err != nil {
		t.Fatal(err)
	}
	s := State{Problem: p, Train: skewedTrain()}
	sawLinearMove := false
	for n := 1; n <= 20; n++ {
		s.Next = n
		tr, err := b.Propose(context.Background(), s)
		if err != nil {
			t.Fatalf("proposal %d: %v", n, err)
		}
		if strings.Contains(tr.Title, "seed bagging") {
			t.Fatalf("trial %d bags seeds of the seedless best trial: %q", n, tr.Title)
		}
		sawLinearMove = sawLinearMove || strings.Contains(tr.Title, "Linear baseline with proper preprocessing stronger-regularisation")
		// The linear baseline stays the best; everything else is worse.
		cv, status := 200.0+float64(n), "discarded"
		if tr.Tags[tagKey] == "baseline:linear" {
			cv, status = 50, "kept"
			s.Best = n
		}
		s.Trials = append(s.Trials, TrialSummary{Number: n, Title: tr.Title, Tags: tr.Tags, Status: status, CV: cv, Folds: []float64{cv, cv, cv}})
	}
	if !sawLinearMove {
		t.Errorf("the linear model's own move was never proposed")
	}
}
