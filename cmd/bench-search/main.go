// Command bench-search scores trialbook and other AutoML tools on the same
// sealed holdout with trialbook's own metric code, and prints a table.
//
//	bench-search EXPERIMENT_DIR RESULTS.json
//
// RESULTS.json is written by scripts/bench_search.py: a list of
// {"tool", "holdout" (a .npy of holdout predictions), "cv" (or null), "wall"
// (seconds)}. trialbook's row is its best trial, read from the journal.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"trialbook/journal"
	"trialbook/lab"
)

type result struct {
	Tool    string   `json:"tool"`
	Holdout string   `json:"holdout"`
	CV      *float64 `json:"cv"`
	Wall    float64  `json:"wall"`
	Note    string   `json:"note,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-search:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: bench-search EXPERIMENT_DIR RESULTS.json")
	}
	dir := args[0]
	var results []result
	b, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &results); err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	d, err := lab.LoadData(dir)
	if err != nil {
		return err
	}
	events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
	if err != nil {
		return err
	}
	s := journal.Fold(events)
	if s.Best == nil || s.Best.Score == nil || s.Problem == nil {
		return fmt.Errorf("%s: trialbook has no best trial", dir)
	}
	m, err := lab.LookupMetric(s.Problem.Metric)
	if err != nil {
		return err
	}
	for i := range results {
		if results[i].Tool == "trialbook" {
			results[i].Holdout = filepath.Join(dir, "trials", fmt.Sprintf("%03d", s.Best.Trial), "holdout.npy")
			cv := s.Best.Score.CV
			results[i].CV = &cv
			results[i].Note = fmt.Sprintf("best of %d trials: #%d %s", s.Counts.Done-s.Counts.Interrupted, s.Best.Trial, s.Best.Title)
		}
	}
	// The harness's ensemble of trials (ensemble.updated), when the run made
	// one: its score was computed by the same Go metric code.
	var ensembleRow *result
	if e := s.Ensemble; e != nil && e.Score != nil && e.Score.Holdout != nil {
		cv := e.Score.CV
		ensembleRow = &result{Tool: "trialbook ensemble", CV: &cv, Note: e.Reason}
		for _, r := range results {
			if r.Tool == "trialbook" {
				ensembleRow.Wall = r.Wall
			}
		}
	}
	width := 1
	if d.View.Task == "multiclass" {
		width = len(d.View.Classes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "tool\tholdout %s\tCV %s\twall\tnote\n", m.Name, m.Name)
	scores := map[string]float64{}
	for _, r := range results {
		a, err := lab.ReadNpy(r.Holdout)
		hold := "-"
		if err == nil {
			v, serr := m.Score(d.Holdout, lab.Predictions{Values: a.Data, Width: width})
			if serr == nil {
				scores[r.Tool] = v
				hold = fmt.Sprintf("%.6g", v)
			} else {
				r.Note = serr.Error()
			}
		} else if r.Note == "" {
			r.Note = err.Error()
		}
		cv := "-"
		if r.CV != nil {
			cv = fmt.Sprintf("%.6g", *r.CV)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0fs\t%s\n", r.Tool, hold, cv, r.Wall, r.Note)
	}
	if ensembleRow != nil {
		scores[ensembleRow.Tool] = *s.Ensemble.Score.Holdout
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%.0fs\t%s\n", ensembleRow.Tool, *s.Ensemble.Score.Holdout, *ensembleRow.CV, ensembleRow.Wall, firstN(ensembleRow.Note, 80))
	}
	tw.Flush()
	tb, ok := scores["trialbook"]
	if v, ok2 := scores["trialbook ensemble"]; ok2 && (!ok || m.Better(v, tb)) {
		tb, ok = v, true
	}
	if !ok {
		return nil
	}
	bestPeer, peer := math.NaN(), ""
	for tool, v := range scores {
		if !strings.HasPrefix(tool, "trialbook") && (peer == "" || m.Better(v, bestPeer)) {
			bestPeer, peer = v, tool
		}
	}
	if peer != "" {
		fmt.Fprintf(w, "\ntrialbook / best peer (%s) on holdout %s: %.3f (%s is better)\n", peer, m.Name, tb/bestPeer,
			map[bool]string{true: "below 1", false: "above 1"}[!m.Maximize])
	}
	return nil
}

func firstN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
