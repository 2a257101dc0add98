package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTrainFactsMatchPandas checks the profile agents get of the training
// part against pandas on the same file: the target's skewness and minimum,
// the missing counts, the high-cardinality text columns.
func TestTrainFactsMatchPandas(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("Id,Area,Rooms,Hood,y\n")
	for i := 0; i < 60; i++ {
		area := "NA"
		if i%7 != 0 {
			area = fmt.Sprint(500 + i*13)
		}
		fmt.Fprintf(&b, "%d,%s,%d,h%d,%.1f\n", i, area, i%5+1, i%13, math.Exp(float64(i%10)/2)*1000)
	}
	path := filepath.Join(dir, "train.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := trainFacts(path, "y")
	if err != nil {
		t.Fatal(err)
	}
	out := runPython(t, `
import json, sys, pandas as pd
df = pd.read_csv(sys.argv[1])
feats = [c for c in df.columns if c != "y"]
print(json.dumps({"skew": df.y.skew(), "min": df.y.min(),
  "missing": {c: int(df[c].isna().sum()) for c in feats if df[c].isna().any()},
  "high": [c for c in feats if not pd.api.types.is_numeric_dtype(df[c]) and df[c].nunique() > 10]}))
`, path)
	var want struct {
		Skew, Min float64
		Missing   map[string]int
		High      []string
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !got.TargetNumeric || math.Abs(got.TargetSkew-want.Skew) > 1e-9 || got.TargetMin != want.Min {
		t.Errorf("target numeric %v, skew %v, min %v; pandas says skew %v, min %v", got.TargetNumeric, got.TargetSkew, got.TargetMin, want.Skew, want.Min)
	}
	if fmt.Sprint(got.Missing) != fmt.Sprint(want.Missing) || !slices.Equal(got.HighCardinality, want.High) {
		t.Errorf("missing %v, high cardinality %v; pandas says %v, %v", got.Missing, got.HighCardinality, want.Missing, want.High)
	}
}

// TestProfileViewLeavesTheHoldoutOut checks that the profile agents get
// (AGENTS.md's) counts and summarises the training part only: its target
// mean is the training labels' mean, not the whole file's.
func TestProfileViewLeavesTheHoldoutOut(t *testing.T) {
	dir, p := toyExperiment(t, 120)
	prof, err := ProfileView(context.Background(), p, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadData(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := prof.Rows, int64(d.View.Rows); got != want {
		t.Errorf("profile of %d rows, want the %d training rows (of %d with the holdout)", got, want, d.View.Rows+d.View.HoldoutRows)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	all := mean(append(slices.Clone(d.Train.Values), d.Holdout.Values...))
	if prof.Target.Summary == nil || math.Abs(prof.Target.Summary.Mean-mean(d.Train.Values)) > 1e-6 || math.Abs(prof.Target.Summary.Mean-all) < 1e-9 {
		t.Errorf("target summary %+v; want the training mean %v, not the whole file's %v", prof.Target.Summary, mean(d.Train.Values), all)
	}
}
