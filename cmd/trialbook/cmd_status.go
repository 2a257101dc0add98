package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"trialbook/journal"
	"trialbook/lab"
)

// runStatus prints an experiment's progress and leaderboard, folded from its
// journal.
func runStatus(ctx context.Context, a *app, args []string) error {
	fs := a.flags("status")
	top := fs.Int("n", 0, "show only the best N trials (0: all)")
	compare := fs.Bool("compare", false, "`status DIR --compare A B`: compare trials A and B (cells, tags, folds and the keep rule's paired test)")
	// Flags may come before or after the folder.
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || (len(pos) != 1 && !*compare) {
		return errUsage
	}
	dir := pos[0]
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: no such experiment folder", dir)
	}
	if !st.IsDir() {
		dir = filepath.Dir(dir) // a problem file: its folder
	}
	if _, err := os.Stat(filepath.Join(dir, lab.JournalFile)); err != nil {
		return fmt.Errorf("%s has no %s yet: start it with 'trialbook run %s'", dir, lab.JournalFile, dir)
	}
	events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
	if err != nil {
		return err
	}
	if *compare {
		return runCompare(a.stdout, dir, events, pos[1:])
	}
	s := journal.Fold(events)
	name := dir
	if s.Problem != nil {
		name = fmt.Sprintf("%s (%s, %s %s, %s)", s.Problem.Name, s.Problem.Task, s.Problem.Metric, s.Problem.Direction, s.Problem.Validation)
	}
	fmt.Fprintf(a.stdout, "%s\n", name)
	c := s.Counts
	// Done counts what the budget counts; interrupted trials are apart.
	fmt.Fprintf(a.stdout, "status %s · %d done", s.Status, c.Done)
	if c.Total > 0 {
		fmt.Fprintf(a.stdout, " of %d", c.Total)
	}
	fmt.Fprintf(a.stdout, " (%d kept, %d discarded, %d failed) · %d interrupted", c.Kept, c.Discarded, c.Failed, c.Interrupted)
	fmt.Fprintf(a.stdout, " · %s elapsed", time.Duration(s.Elapsed).Round(time.Second))
	if s.Problem != nil && s.Problem.TimeBudget != "" {
		fmt.Fprintf(a.stdout, " of %s", s.Problem.TimeBudget)
	}
	fmt.Fprintln(a.stdout)
	if s.Error != "" {
		fmt.Fprintf(a.stdout, "error: %s\n", s.Error)
	}
	for _, r := range s.Running {
		cell := "starting"
		if r.Cell != nil {
			cell = fmt.Sprintf("cell %d", *r.Cell)
		}
		fmt.Fprintf(a.stdout, "running: #%d %s (%s)\n", r.Trial, r.Title, cell)
	}
	fmt.Fprintln(a.stdout)
	printLeaderboard(a.stdout, &s, *top)
	printEnsemble(a.stdout, &s)
	return nil
}

// printEnsemble shows the harness's ensemble (ensemble.updated), if any.
func printEnsemble(w io.Writer, s *journal.Snapshot) {
	e := s.Ensemble
	if e == nil || e.Score == nil {
		return
	}
	hold := "-"
	if e.Score.Holdout != nil {
		hold = fmt.Sprintf("%.6g", *e.Score.Holdout)
	}
	trials := make([]string, 0, len(e.Weights))
	for t := range e.Weights {
		trials = append(trials, t)
	}
	sort.Slice(trials, func(i, j int) bool { return e.Weights[trials[i]] > e.Weights[trials[j]] })
	parts := make([]string, len(trials))
	for i, t := range trials {
		parts[i] = fmt.Sprintf("#%s %.2f", t, e.Weights[t])
	}
	fmt.Fprintf(w, "\nensemble: CV %s %.6g ± %.3g, holdout %s (%s)\n  %s\n", e.Score.Metric, e.Score.CV, e.Score.CVStd, hold, strings.Join(parts, ", "), e.Reason)
}

// printLeaderboard writes the leaderboard as a table, best first.
func printLeaderboard(w io.Writer, s *journal.Snapshot, top int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	metric := "score"
	if s.Problem != nil {
		metric = s.Problem.Metric
	}
	// LLM agents report tokens and an estimated cost; show them when any did.
	withUsage := s.Usage.InputTokens+s.Usage.OutputTokens > 0
	usageHead := ""
	if withUsage {
		usageHead = "tokens\tcost\t"
	}
	fmt.Fprintf(tw, "#\ttrial\tstatus\tCV %s\t± std\tholdout\ttime\t%stitle\n", metric, usageHead)
	for i, r := range s.Leaderboard {
		if top > 0 && i >= top {
			break
		}
		cv, std, hold := "-", "-", "-"
		if r.Score != nil {
			cv, std = fmt.Sprintf("%.6g", r.Score.CV), fmt.Sprintf("%.3g", r.Score.CVStd)
			if r.Score.Holdout != nil {
				hold = fmt.Sprintf("%.6g", *r.Score.Holdout)
			}
		}
		title := r.Title
		if r.Status == journal.TrialStatusFailed || r.Status == journal.TrialStatusInterrupted {
			title += " — " + firstLine(r.Reason)
		}
		use := ""
		if withUsage {
			use = "-\t-\t"
			if u := r.Usage; u != nil {
				use = fmt.Sprintf("%d\t$%.4f\t", u.InputTokens+u.OutputTokens, u.CostUSD)
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s%s\n", i+1, r.Trial, r.Status, cv, std, hold, time.Duration(r.Duration).Round(100*time.Millisecond), use, title)
	}
	tw.Flush()
	if withUsage {
		fmt.Fprintf(w, "agent usage: %d input + %d output tokens, about $%.4f\n", s.Usage.InputTokens, s.Usage.OutputTokens, s.Usage.CostUSD)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}
