package specs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoPython returns the project's .venv interpreter, found by walking up to
// go.mod, or skips the test when there is none.
func repoPython(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("compares with pandas in the project's .venv; skipped with -short")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test; cannot find .venv")
		}
		dir = parent
	}
	py := filepath.Join(dir, ".venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s is missing; run 'make setup'", py)
	}
	return py
}

// TestProfileMatchesPandas profiles tables with specs and with pandas and
// compares rows, dtypes, missing counts, cardinality and numeric summaries.
func TestProfileMatchesPandas(t *testing.T) {
	py := repoPython(t)
	cases := []struct{ file, target string }{
		{"testdata/data/small.csv", "spend"},
		{"testdata/data/small.parquet", "spend"},
		{"testdata/data/types.parquet", "y"},
		{"../../shared/data/house-prices/train.csv", "SalePrice"},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			if _, err := os.Stat(tc.file); err != nil {
				t.Skipf("%s is missing (../shared/data beside the repository)", tc.file)
			}
			out, err := exec.Command(py, "testdata/pandas_profile.py", tc.file, tc.target).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("pandas: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var want struct {
				Rows    int64
				Columns []struct {
					Name, Dtype    string
					Missing        int64
					Nunique        int
					Min, Max, Mean *float64
				}
				Target map[string]float64
			}
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatal(err)
			}
			got, err := ProfileFile(context.Background(), tc.file, ProfileOptions{Target: tc.target, Task: Regression})
			if err != nil {
				t.Fatal(err)
			}
			if got.Rows != want.Rows || len(got.Columns) != len(want.Columns) {
				t.Fatalf("%d rows × %d columns, pandas %d × %d", got.Rows, len(got.Columns), want.Rows, len(want.Columns))
			}
			for i, w := range want.Columns {
				g := got.Columns[i]
				if g.Name != w.Name || g.Dtype != w.Dtype || g.Missing != w.Missing {
					t.Errorf("column %d: %s %s missing %d; pandas %s %s missing %d", i, g.Name, g.Dtype, g.Missing, w.Name, w.Dtype, w.Missing)
				}
				if w.Nunique < DistinctCap && (g.Distinct != w.Nunique || g.DistinctMore) {
					t.Errorf("%s: %d distinct, pandas %d", g.Name, g.Distinct, w.Nunique)
				}
				if w.Nunique > DistinctCap && !g.DistinctMore {
					t.Errorf("%s: %d distinct and not capped, pandas %d", g.Name, g.Distinct, w.Nunique)
				}
				if (w.Mean == nil) != (g.Mean == nil) {
					t.Errorf("%s: numeric summary %v, pandas %v", g.Name, g.Mean != nil, w.Mean != nil)
					continue
				}
				if w.Mean != nil && (!close(*g.Min, *w.Min) || !close(*g.Max, *w.Max) || !close(*g.Mean, *w.Mean)) {
					t.Errorf("%s: min %v max %v mean %v; pandas %v %v %v", g.Name, *g.Min, *g.Max, *g.Mean, *w.Min, *w.Max, *w.Mean)
				}
			}
			s := got.Target.Summary
			if s == nil {
				t.Fatal("no target summary")
			}
			for name, g := range map[string]float64{"mean": s.Mean, "std": s.Std, "skew": s.Skew, "min": s.Min, "max": s.Max,
				"p05": s.P05, "p25": s.P25, "median": s.Median, "p75": s.P75, "p95": s.P95} {
				if !close(g, want.Target[name]) {
					t.Errorf("target %s = %v, pandas %v", name, g, want.Target[name])
				}
			}
		})
	}
}

func close(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestProfileCSVAndParquetAgree profiles the same table in both formats.
func TestProfileCSVAndParquetAgree(t *testing.T) {
	opts := ProfileOptions{Target: "plan", Task: Multiclass, Features: Features{IDs: []string{"id"}}}
	c, err := ProfileFile(context.Background(), "testdata/data/small.csv", opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ProfileFile(context.Background(), "testdata/data/small.parquet", opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != 40 || p.Rows != 40 {
		t.Errorf("rows %d (csv) %d (parquet), want 40", c.Rows, p.Rows)
	}
	for i := range c.Columns {
		cj, _ := json.Marshal(c.Columns[i])
		pj, _ := json.Marshal(p.Columns[i])
		if string(cj) != string(pj) {
			t.Errorf("csv %s\nparquet %s", cj, pj)
		}
	}
	cj, _ := json.Marshal(c.Target)
	pj, _ := json.Marshal(p.Target)
	if string(cj) != string(pj) {
		t.Errorf("target: csv %s, parquet %s", cj, pj)
	}
	want := []ValueCount{{"basic", 16, 0.4}, {"plus", 16, 0.4}, {"pro", 8, 0.2}}
	if fmt.Sprint(c.Target.Classes) != fmt.Sprint(want) {
		t.Errorf("classes %v, want %v", c.Target.Classes, want)
	}
	if c.Columns[0].Role != "id" || c.Columns[6].Role != "target" || c.Columns[1].Role != "feature" {
		t.Errorf("roles %s %s %s", c.Columns[0].Role, c.Columns[6].Role, c.Columns[1].Role)
	}
}

func TestProfileParquetTimes(t *testing.T) {
	p, err := ProfileFile(context.Background(), "testdata/data/types.parquet", ProfileOptions{Target: "y"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range p.Columns {
		got[c.Name] = c.values()
	}
	want := map[string]string{"when": "2024-01-01 06:30:00 … 2024-01-06 06:30:00", "day": "2024-02-29 … 2024-03-01"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
}

func TestProfileErrors(t *testing.T) {
	dir := t.TempDir()
	ragged := filepath.Join(dir, "ragged.csv")
	if err := os.WriteFile(ragged, []byte("a,b\n1,2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ProfileFile(context.Background(), ragged, ProfileOptions{})
	if err == nil || !strings.Contains(err.Error(), "ragged.csv: record on line 3: wrong number of fields") {
		t.Errorf("ragged CSV: %v", err)
	}
	notParquet := filepath.Join(dir, "x.parquet")
	if err := os.WriteFile(notParquet, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ProfileFile(context.Background(), notParquet, ProfileOptions{}); err == nil || !strings.Contains(err.Error(), "x.parquet is not a readable Parquet file") {
		t.Errorf("bad parquet: %v", err)
	}
	if _, err := ProfileFile(context.Background(), "testdata/data/small.csv", ProfileOptions{Target: "nope"}); err == nil || !strings.Contains(err.Error(), `"nope" is not a column of small.csv`) {
		t.Errorf("bad target: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range []string{"testdata/data/small.csv", "testdata/data/small.parquet"} {
		if _, err := ProfileFile(ctx, f, ProfileOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", f, err)
		}
	}
}

// BenchmarkProfileCSV profiles a generated 20-column CSV; b.SetBytes makes
// go test report MB/s.
func BenchmarkProfileCSV(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintln(f, "id,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,y")
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(f, "%d,%d,%.3f,cat%d,%d,%.2f,x%d,,%d,%.4f,%d,%d,%.1f,lvl%d,%d,%d,NA,%d,%.2f,%.3f\n",
			i, i%97, float64(i)*0.37, i%13, i%1000, float64(i%7)*1.5, i%3, i%50, float64(i)/7, i%2, i%11, float64(i%300), i%5, i, i%17, i%23, float64(i%71)*0.5, float64(i%1009)*1.7)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		if _, err := ProfileFile(context.Background(), path, ProfileOptions{Target: "y", Task: Regression}); err != nil {
			b.Fatal(err)
		}
	}
}
