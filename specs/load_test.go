package specs

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/ from the current output")

// golden compares got with testdata/golden-style file path, or rewrites it
// with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./specs -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./specs -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestBadProblems loads every file in testdata/bad and compares the error
// with the .err file beside it.
func TestBadProblems(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.jsonnet")
	if err != nil || len(files) < 15 {
		t.Fatalf("want the table of bad problems in testdata/bad, got %d files (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".jsonnet"), func(t *testing.T) {
			p, err := Load(context.Background(), file, LoadOptions{})
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", file, p)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error is %T, want *specs.Error: %v", err, err)
			}
			golden(t, strings.TrimSuffix(file, ".jsonnet")+".err", err.Error()+"\n")
		})
	}
}

func TestLoadGoodProblems(t *testing.T) {
	ctx := context.Background()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Run("regression", func(t *testing.T) {
		p, err := Load(ctx, "testdata/problems/regression.jsonnet", LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := &Problem{
			Name: "regression", File: abs("testdata/problems/regression.jsonnet"),
			Task: Regression, Data: abs("testdata/data/small.csv"), Target: "spend",
			Metric:     Metric{"mae", Minimize},
			Validation: Validation{Kind: "kfold", Folds: 5},
			Holdout:    0.2, Seed: 7,
			Budget:   Budget{Trials: 12, Time: 90 * time.Minute, TrialTime: 10 * time.Minute, CellTime: 2 * time.Minute, CellsPerTrial: 25},
			Features: Features{Exclude: []string{"churn", "plan"}, IDs: []string{"id"}},
			Kernel:   Kernel{Sandbox: SandboxAuto, Transport: "ipc", Memory: -1, Processes: -1},
			Agent:    Agent{Kind: "builtin", FixAttempts: 3},
			Context:  "A row is a customer; spend is in EUR per month.",
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("got\n%+v\nwant\n%+v", p, want)
		}
	})
	t.Run("classification becomes binary", func(t *testing.T) {
		p, err := Load(ctx, "testdata/problems/binary.jsonnet", LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Task != Binary || !reflect.DeepEqual(p.Classes, []string{"no", "yes"}) || p.Metric != (Metric{"auc", Maximize}) {
			t.Errorf("task %s, classes %v, metric %v; want binary, [no yes], auc maximize", p.Task, p.Classes, p.Metric)
		}
		if p.Validation != (Validation{Kind: "stratified_kfold", Folds: 4}) || p.Holdout != 0.25 || !p.FeatureResearch {
			t.Errorf("validation %+v, holdout %v, featureResearch %v", p.Validation, p.Holdout, p.FeatureResearch)
		}
	})
	t.Run("multiclass with agent, kernel, recipes", func(t *testing.T) {
		p, err := Load(ctx, "testdata/problems/multiclass.jsonnet", LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantAgent := Agent{Kind: "openai", Model: "gpt-test", BaseURL: "http://127.0.0.1:9999/v1", Temperature: 0.2, FixAttempts: 1}
		if p.Name != "plans" || p.Task != Multiclass || !reflect.DeepEqual(p.Classes, []string{"basic", "plus", "pro"}) ||
			!p.Kernel.GPU || p.Agent != wantAgent || p.Validation.Repeat != 2 || p.Holdout != 0 ||
			!reflect.DeepEqual(p.Recipes, []string{abs("testdata/lib/team.libsonnet")}) {
			t.Errorf("got %+v", p)
		}
	})
	t.Run("folder holding problem.jsonnet", func(t *testing.T) {
		dir := t.TempDir()
		src := "local tb = import 'trialbook.libsonnet';\ntb.regression { data: " + quoteJSON(abs("testdata/data/small.csv")) + ", target: 'spend' }\n"
		if err := os.WriteFile(filepath.Join(dir, ProblemFile), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(ctx, dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != filepath.Base(dir) || p.File != filepath.Join(dir, ProblemFile) {
			t.Errorf("name %q file %q", p.Name, p.File)
		}
	})
	t.Run("team library through -J and ext vars", func(t *testing.T) {
		opts := LoadOptions{JPath: []string{"testdata/lib"}, ExtVars: map[string]string{"data": "../data/small.csv"}}
		p, err := Load(ctx, "testdata/problems/teamlib.jsonnet", opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.Task != Binary || p.Metric.Name != "logloss" || p.Context != "Team default context." ||
			!strings.Contains(p.AgentsMD.Sections["rules"].Append, "Team rule") {
			t.Errorf("got %+v", p)
		}
		if _, err := Load(ctx, "testdata/problems/teamlib.jsonnet", LoadOptions{}); err == nil || !strings.Contains(err.Error(), `"team.libsonnet" not found`) {
			t.Errorf("without -J: %v, want a not-found import error", err)
		}
	})
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestLoadMissingFileOrFolder(t *testing.T) {
	_, err := Load(context.Background(), "testdata/nope.jsonnet", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.jsonnet does not exist") {
		t.Errorf("got %v", err)
	}
	_, err = Load(context.Background(), "testdata", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "testdata has no problem.jsonnet") {
		t.Errorf("got %v", err)
	}
}

// TestLibraryDefaultsMatchGo checks that a problem built with the library's
// constructors and one written as a plain object resolve to the same
// Problem, so the defaults live in one place in effect.
func TestLibraryDefaultsMatchGo(t *testing.T) {
	data, err := filepath.Abs("testdata/data/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lib, plain string }{
		{"tb.regression", "{ task: 'regression' }"},
		{"tb.classification", "{ task: 'classification' }"},
		{"tb.binary", "{ task: 'binary' }"},
		{"tb.multiclass", "{ task: 'multiclass' }"},
	} {
		target := "'spend'"
		switch tc.lib {
		case "tb.classification", "tb.binary":
			target = "'churn'"
		case "tb.multiclass":
			target = "'plan'"
		}
		body := " + { data: " + quoteJSON(data) + ", target: " + target + " }"
		fromLib, err := load(context.Background(), "lib.jsonnet", "local tb = import 'trialbook.libsonnet';\n"+tc.lib+body, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.lib, err)
		}
		plain, err := load(context.Background(), "lib.jsonnet", tc.plain+body, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.plain, err)
		}
		// The library states featureResearch/explain/etc. explicitly; the
		// resolved problems must not differ at all.
		if !reflect.DeepEqual(fromLib, plain) {
			t.Errorf("%s resolves to\n%+v\nbut %s to\n%+v", tc.lib, fromLib, tc.plain, plain)
		}
	}
}

// TestMetricTableMatchesLibrary keeps lib/trialbook.libsonnet's metrics and
// defaults equal to Go's.
func TestMetricTableMatchesLibrary(t *testing.T) {
	out, err := evaluate("metrics.jsonnet", "local tb = import 'trialbook.libsonnet'; { metrics: tb.metrics, defaults: tb.defaults }", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metrics map[string]struct {
			Name      string
			Direction Direction
			Tasks     []Task
		}
		Defaults map[string]float64
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Metrics) != len(metricTable()) {
		t.Errorf("library has %d metrics, Go %d", len(got.Metrics), len(metricTable()))
	}
	for _, m := range metricTable() {
		lm, ok := got.Metrics[m.Name]
		if !ok || lm.Name != m.Name || lm.Direction != m.Direction || !reflect.DeepEqual(lm.Tasks, m.Tasks) {
			t.Errorf("metric %s: library %+v, Go %+v", m.Name, lm, m)
		}
	}
	wantDefaults := map[string]float64{"seed": DefaultSeed, "holdout": DefaultHoldout, "trials": DefaultTrials, "folds": DefaultFolds, "fixAttempts": DefaultFixAttempts}
	if !reflect.DeepEqual(got.Defaults, wantDefaults) {
		t.Errorf("library defaults %v, Go %v", got.Defaults, wantDefaults)
	}
}

// TestLibraryInJsonnet evaluates lib/trialbook_test.jsonnet, whose
// assertions test the library's functions in Jsonnet itself.
func TestLibraryInJsonnet(t *testing.T) {
	src, err := os.ReadFile("lib/trialbook_test.jsonnet")
	if err != nil {
		t.Fatal(err)
	}
	out, err := evaluate("lib/trialbook_test.jsonnet", string(src), LoadOptions{})
	if err != nil {
		t.Fatalf("library assertions failed:\n%v", err)
	}
	var passed map[string]bool
	if err := json.Unmarshal(out, &passed); err != nil {
		t.Fatal(err)
	}
	if len(passed) < 10 {
		t.Errorf("only %d assertions ran", len(passed))
	}
	for name, ok := range passed {
		if !ok {
			t.Errorf("%s failed", name)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{"rmsee", ` did you mean "rmse"?`},
		{"RMSE", ` did you mean "rmse"?`},
		{"acc", ` did you mean "accuracy"?`},
		{"logloss2", ` did you mean "logloss"?`},
		{"zzzzzz", ""},
	} {
		if got := didYouMean(tc.got, MetricNames("")); got != tc.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.got, got, tc.want)
		}
	}
}
