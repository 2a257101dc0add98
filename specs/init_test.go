package specs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInitGuessesAndWritesAValidProblem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    InitOptions
		task    Task
		metric  string
		guessed []string
	}{
		{
			name: "regression", opts: InitOptions{Data: "testdata/data/small.csv", Target: "spend"},
			task: Regression, metric: "rmse",
			guessed: []string{
				"task: regression (spend is numeric with 40 distinct values)",
				"metric: rmse (the usual metric for regression; others: rmsle, mae, r2, mape)",
				"features.ids: id (named like an id, one value per row)",
			},
		},
		{
			name: "binary from labels", opts: InitOptions{Data: "testdata/data/small.parquet", Target: "churn"},
			task: Binary, metric: "auc",
			guessed: []string{
				"task: binary (churn has 2 classes: no, yes)",
				"metric: auc (the usual metric for binary; others: logloss, accuracy, f1)",
				"features.ids: id (named like an id, one value per row)",
			},
		},
		{
			name: "multiclass from labels", opts: InitOptions{Data: "testdata/data/small.csv", Target: "plan", Metric: "accuracy", Name: "plans"},
			task: Multiclass, metric: "accuracy",
			guessed: []string{
				"task: multiclass (plan has 3 classes: basic, plus, pro)",
				"features.ids: id (named like an id, one value per row)",
			},
		},
		{
			name: "task given", opts: InitOptions{Data: "testdata/data/small.csv", Target: "churn", Task: "classification", Context: "One row per customer."},
			task: Binary, metric: "logloss",
			guessed: []string{
				"metric: logloss (the usual metric for classification; others: auc, accuracy, f1)",
				"features.ids: id (named like an id, one value per row)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "exp", "nested")
			path, guessed, err := Init(dir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if path != filepath.Join(dir, ProblemFile) {
				t.Errorf("path %s", path)
			}
			if !reflect.DeepEqual(guessed, tc.guessed) {
				t.Errorf("guessed\n%q\nwant\n%q", guessed, tc.guessed)
			}
			p, err := Load(context.Background(), dir, LoadOptions{})
			if err != nil {
				t.Fatalf("the starter does not load: %v", err)
			}
			if p.Task != tc.task || p.Metric.Name != tc.metric || p.Target != tc.opts.Target || !reflect.DeepEqual(p.Features.IDs, []string{"id"}) {
				t.Errorf("loaded %s %s %s ids %v", p.Task, p.Metric.Name, p.Target, p.Features.IDs)
			}
			wantData, _ := filepath.Abs(tc.opts.Data)
			if p.Data != wantData {
				t.Errorf("data %s, want %s", p.Data, wantData)
			}
			if tc.opts.Name != "" && p.Name != tc.opts.Name {
				t.Errorf("name %q", p.Name)
			}
			if tc.opts.Context != "" && p.Context != tc.opts.Context {
				t.Errorf("context %q", p.Context)
			}
			src, _ := os.ReadFile(path)
			for _, g := range tc.guessed {
				field, _, _ := strings.Cut(g, ":")
				if field == "features.ids" {
					field = "ids"
				}
				if !strings.Contains(string(src), "guessed: ") {
					t.Errorf("the file does not mark its guesses (%s)", field)
				}
			}
		})
	}
}

func TestInitRefusesAndWritesNothing(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "existing")
	if err := os.MkdirAll(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := []byte("// mine, do not touch\n")
	if err := os.WriteFile(filepath.Join(existing, ProblemFile), mine, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		opts      InitOptions
		want      string
	}{
		{"existing problem", existing, InitOptions{Data: "testdata/data/small.csv", Target: "spend"}, "problem.jsonnet already exists; edit it, or init another folder"},
		{"no data", "a", InitOptions{Target: "spend"}, "data: missing; give the dataset (CSV or Parquet) with --data FILE"},
		{"no target", "b", InitOptions{Data: "testdata/data/small.csv"}, "target: missing; give the column to predict with --target COLUMN"},
		{"missing data", "c", InitOptions{Data: "testdata/data/nope.csv", Target: "spend"}, `data: "testdata/data/nope.csv": no such file or directory`},
		{"missing target", "d", InitOptions{Data: "testdata/data/small.csv", Target: "spent"}, `target: "spent" is not a column of small.csv; did you mean "spend"?`},
		{"bad task", "e", InitOptions{Data: "testdata/data/small.csv", Target: "spend", Task: "regresion"}, `task: "regresion" is not a task; did you mean "regression"?`},
		{"bad metric", "f", InitOptions{Data: "testdata/data/small.csv", Target: "spend", Metric: "rmsee"}, `metric: "rmsee" is not a metric; did you mean "rmse"?`},
		{"metric unfit for the task", "g", InitOptions{Data: "testdata/data/small.csv", Target: "spend", Metric: "auc"}, `metric: "auc" is a classification metric and the task is regression`},
		{"labels as regression", "h", InitOptions{Data: "testdata/data/small.csv", Target: "city", Task: "regression"}, `target: "city" is not numeric`},
		{"binary with three classes", "i", InitOptions{Data: "testdata/data/small.csv", Target: "plan", Task: "binary"}, `task: binary, but "plan" has 3 classes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(root, dir, "deeper")
			}
			_, _, err := Init(dir, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if dir != existing {
				if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Init failed but created %s (%v)", filepath.Dir(dir), err)
				}
			}
		})
	}
	got, _ := os.ReadFile(filepath.Join(existing, ProblemFile))
	if string(got) != string(mine) {
		t.Errorf("the existing problem file was changed to %q", got)
	}
}

func TestDataRef(t *testing.T) {
	for _, tc := range []struct{ dir, data, want string }{
		{"/work/exp", "/work/data/train.csv", "../data/train.csv"},
		{"/work/exp", "/work/exp/train.csv", "train.csv"},
		{"/tmp/hp", "/work/shared/train.csv", "/work/shared/train.csv"},
	} {
		if got := dataRef(tc.dir, tc.data); got != tc.want {
			t.Errorf("dataRef(%s, %s) = %s, want %s", tc.dir, tc.data, got, tc.want)
		}
	}
}

func TestLooksLikeID(t *testing.T) {
	for name, want := range map[string]bool{"id": true, "Id": true, "ID": true, "customer_id": true, "PassengerId": true,
		"Idea": false, "paid": false, "valid": false, "grid": false, "Width": false} {
		if got := looksLikeID(name); got != want {
			t.Errorf("looksLikeID(%q) = %v, want %v", name, got, want)
		}
	}
}
