// Command bench-search scores trialbook and other AutoML tools on the same
// sealed holdout with trialbook's own metric code, and prints a table.
//
//	bench-search EXPERIMENT_DIR RESULTS.json
//
// RESULTS.json is written by scripts/bench_search.py: a list of
// {"tool", "holdout" (a .npy of holdout predictions), "cv" (or null), "wall"
// (seconds)}. trialbook's row is what `trialbook predict` would apply, read
// from the journal: the harness's ensemble when it is used, else the best
// trial; the other one is printed in parentheses and is not compared.
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
	Tool    string    `json:"tool"`
	Holdout string    `json:"holdout"`
	CV      *float64  `json:"cv"`
	Wall    float64   `json:"wall"`
	Note    string    `json:"note,omitempty"`
	values  []float64 // holdout predictions computed here, instead of a file
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
	// trialbook's answer is what `trialbook predict` would apply: the
	// harness's ensemble only when it is used (it beat the best trial by
	// more than noise on CV), else the best trial. The other one is shown
	// for reference and takes no part in the comparison.
	pm, err := lab.ChoosePredictModel(dir, events, &s)
	if err != nil {
		return err
	}
	var final, other *result
	for i := range results {
		if results[i].Tool != "trialbook" {
			continue
		}
		final = &results[i]
		final.Note = fmt.Sprintf("%s, of %d trials", firstN(pm.Describe(), 100), s.Counts.Done)
		bestCV := s.Best.Score.CV
		best := result{Tool: "(trialbook best trial)", Holdout: filepath.Join(lab.TrialArtifacts(dir, s.Best.Trial), "holdout.npy"), CV: &bestCV, Wall: final.Wall,
			Note: fmt.Sprintf("#%d %s", s.Best.Trial, s.Best.Title)}
		if !pm.Ensemble {
			final.Holdout, final.CV = best.Holdout, best.CV
			if e := s.Ensemble; e != nil && e.Score != nil {
				cv := e.Score.CV
				other = &result{Tool: "(trialbook ensemble, not used)", CV: &cv, Wall: final.Wall, Note: firstN(e.Reason, 80)}
			}
			break
		}
		blend, err := blendHoldout(dir, pm.Members)
		if err != nil {
			return err
		}
		final.Holdout, final.values = "", blend
		cv := s.Ensemble.Score.CV
		final.CV = &cv
		other = &best
	}
	if other != nil {
		results = append(results, *other)
	}
	width := 1
	if d.View.Task == "multiclass" {
		width = len(d.View.Classes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "tool\tholdout %s\tCV %s\twall\tnote\n", m.Name, m.Name)
	scores := map[string]float64{}
	for _, r := range results {
		hold := "-"
		if r.Holdout == "" && strings.HasPrefix(r.Tool, "(trialbook ensemble") && s.Ensemble.Score.Holdout != nil {
			// The journal's ensemble row: scored by the harness with the same metric code.
			fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%.0fs\t%s\n", r.Tool, *s.Ensemble.Score.Holdout, *r.CV, r.Wall, r.Note)
			continue
		}
		a, err := lab.ReadNpy(r.Holdout)
		if r.values != nil {
			a, err = lab.Array{Data: r.values}, nil
		}
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
	tw.Flush()
	tb, ok := scores["trialbook"]
	if !ok {
		return nil
	}
	bestPeer, peer := math.NaN(), ""
	for tool, v := range scores {
		if !strings.Contains(tool, "trialbook") && (peer == "" || m.Better(v, bestPeer)) {
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

// blendHoldout is the weighted blend of the members' holdout predictions.
func blendHoldout(dir string, members []lab.TrialWeight) ([]float64, error) {
	var sum []float64
	for _, mw := range members {
		a, err := lab.ReadNpy(filepath.Join(lab.TrialArtifacts(dir, mw.Trial), "holdout.npy"))
		if err != nil {
			return nil, fmt.Errorf("ensemble member %d: %w", mw.Trial, err)
		}
		if sum == nil {
			sum = make([]float64, len(a.Data))
		}
		if len(a.Data) != len(sum) {
			return nil, fmt.Errorf("ensemble member %d has %d holdout values, want %d", mw.Trial, len(a.Data), len(sum))
		}
		for i, v := range a.Data {
			sum[i] += mw.Weight * v
		}
	}
	return sum, nil
}
