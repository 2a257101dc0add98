package lab

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/journal"
	"trialbook/specs"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// goldenScore is one built-in trial's outcome as the golden file keeps it.
type goldenScore struct {
	Trial   int       `json:"trial"`
	Title   string    `json:"title"`
	Status  string    `json:"status"`
	CV      float64   `json:"cv"`
	CVStd   float64   `json:"cvStd"`
	Folds   []float64 `json:"folds"`
	Holdout float64   `json:"holdout"`
}

// TestBuiltinScoresUnchanged runs the built-in strategist on a fixed toy
// problem (same seeds, same folds) through baselines, every family and
// feature research (missing indicators, then interactions of the features
// an earlier trial ranked strongest), and compares every trial's title, status and scores with
// testdata/builtin_scores.json, recorded before the trial session replaced
// the old cell loop. Run with -update to record them again.
func TestBuiltinScoresUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir := t.TempDir()
	writeToyCSV(t, filepath.Join(dir, "toy.csv"), 150, specs.Regression)
	file := filepath.Join(dir, "problem.jsonnet")
	src := "local tb = import 'trialbook.libsonnet';\n\ntb.regression { data: 'toy.csv', target: 'y', metric: 'rmse', validation: tb.kfold(3), features: tb.features(ids=['Id']), holdout: 0.2, seed: 5, featureResearch: true }\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, ag := loadBuiltin(ctx, t, file, dir)
	snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "builtin", Spec: spec, Trials: 10, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	var got []goldenScore
	for _, r := range snap.Leaderboard {
		g := goldenScore{Trial: r.Trial, Title: r.Title, Status: r.Status}
		if r.Score != nil {
			g.CV, g.CVStd, g.Folds = r.Score.CV, r.Score.CVStd, r.Score.Folds
			if r.Score.Holdout != nil {
				g.Holdout = *r.Score.Holdout
			}
		}
		got = append(got, g)
	}
	checkPlansSealed(t, dir)
	golden := filepath.Join("testdata", "builtin_scores.json")
	if *update {
		slices.SortFunc(got, func(a, b goldenScore) int { return a.Trial - b.Trial })
		raw, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want []goldenScore
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	byTrial := func(a, b goldenScore) int { return a.Trial - b.Trial }
	slices.SortFunc(got, byTrial)
	slices.SortFunc(want, byTrial)
	if len(got) != len(want) {
		t.Fatalf("%d trials, %s has %d", len(got), golden, len(want))
	}
	// Same code, same seeds, same folds: the same numbers up to the last
	// few bits a BLAS may order differently.
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for i, w := range want {
		g := got[i]
		if g.Trial != w.Trial || g.Title != w.Title || g.Status != w.Status {
			t.Errorf("trial %d: %q %s, want trial %d %q %s", g.Trial, g.Title, g.Status, w.Trial, w.Title, w.Status)
			continue
		}
		if !near(g.CV, w.CV) || !near(g.CVStd, w.CVStd) || !near(g.Holdout, w.Holdout) || len(g.Folds) != len(w.Folds) {
			t.Errorf("trial %d (%s): CV %v ± %v, holdout %v, folds %v; want %v ± %v, %v, %v", g.Trial, g.Title, g.CV, g.CVStd, g.Holdout, g.Folds, w.CV, w.CVStd, w.Holdout, w.Folds)
			continue
		}
		for f := range w.Folds {
			if !near(g.Folds[f], w.Folds[f]) {
				t.Errorf("trial %d fold %d: %v, want %v", g.Trial, f+1, g.Folds[f], w.Folds[f])
			}
		}
	}
}

// checkPlansSealed checks that no trial's plan (in the journal and in its
// notebook, which later trials may read) quotes a holdout score, in any of
// the ways a plan prints a score. A string that is also how a CV, fold or
// spread score prints is no evidence either way and is left out.
func checkPlansSealed(t *testing.T, dir string) {
	t.Helper()
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	printings := func(v float64) []string {
		return []string{strconv.FormatFloat(v, 'g', -1, 64), fmt.Sprintf("%.6g", v), fmt.Sprintf("%.5g", v), fmt.Sprintf("%.4g", v)}
	}
	visible := map[string]bool{}
	var holdouts []float64
	var texts []string
	for _, e := range events {
		switch {
		case e.Type == journal.TrialFinished && e.Score != nil:
			for _, v := range append([]float64{e.Score.CV, e.Score.CVStd}, e.Score.Folds...) {
				for _, s := range printings(v) {
					visible[s] = true
				}
			}
			if e.Score.Holdout != nil {
				holdouts = append(holdouts, *e.Score.Holdout)
			}
		case e.Type == journal.TrialProposed:
			nb, err := os.ReadFile(filepath.Join(dir, e.Notebook))
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, e.Plan, string(nb))
		}
	}
	if len(holdouts) == 0 || len(texts) == 0 {
		t.Fatal("no holdout scores or no plans: nothing to check")
	}
	for _, h := range holdouts {
		for _, s := range printings(h) {
			for _, txt := range texts {
				if !visible[s] && strings.Contains(txt, s) {
					t.Errorf("a plan or notebook quotes the holdout score %s: %.300s", s, txt[max(0, strings.Index(txt, s)-200):])
				}
			}
		}
	}
}
