package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"trialbook/bridge"
	"trialbook/journal"
	"trialbook/lab"
)

// labInspector gives the bridge lab's trial notebooks and comparisons.
type labInspector struct{}

var _ bridge.Inspector = labInspector{}

func (labInspector) TrialCells(_ context.Context, dir string, events []journal.Event, n int) (any, error) {
	return lab.ReadTrialCells(dir, events, n)
}

func (labInspector) Compare(_ context.Context, dir string, events []journal.Event, a, b int) (any, error) {
	return lab.Compare(dir, events, a, b)
}

// runCompare prints `trialbook status DIR --compare A B`: the comparison
// the dashboard shows (lab.Compare), in the terminal.
func runCompare(w io.Writer, dir string, events []journal.Event, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("--compare wants two trial numbers: trialbook status %s --compare A B", dir)
	}
	var n [2]int
	for i, s := range args {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return fmt.Errorf("--compare: %q is not a trial number (1, 2, …)", s)
		}
		n[i] = v
	}
	c, err := lab.Compare(dir, events, n[0], n[1])
	if err != nil {
		return err
	}
	printComparison(w, c)
	return nil
}

func printComparison(w io.Writer, c *lab.Comparison) {
	a, b := c.A, c.B
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\t#%d %s\t#%d %s\n", a.Trial, a.Title, b.Trial, b.Title)
	fmt.Fprintf(tw, "status\t%s\t%s\n", a.Status, b.Status)
	score := func(s *journal.Score, hold bool) string {
		switch {
		case s == nil:
			return "-"
		case hold && s.Holdout == nil:
			return "-"
		case hold:
			return fmt.Sprintf("%.6g", *s.Holdout)
		}
		return fmt.Sprintf("%.6g ± %.3g", s.CV, s.CVStd)
	}
	fmt.Fprintf(tw, "CV %s\t%s\t%s\n", c.Metric, score(a.Score, false), score(b.Score, false))
	fmt.Fprintf(tw, "holdout\t%s\t%s\n", score(a.Score, true), score(b.Score, true))
	tw.Flush()

	if len(c.Folds) > 0 {
		fmt.Fprintf(w, "\nfolds (%s, %s):\n", c.Metric, c.Direction)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "fold\t#%d\t#%d\tA − B\timprovement\t\n", a.Trial, b.Trial)
		for _, f := range c.Folds {
			fmt.Fprintf(tw, "%d\t%.6g\t%.6g\t%+.4g\t%+.4g\t\n", f.Fold, f.A, f.B, f.Diff, f.Improvement)
		}
		tw.Flush()
	}
	if t := c.Test; t != nil {
		fmt.Fprintf(w, "paired test (the keep rule): mean improvement %.4g, standard error %.4g, better on %d of %d folds; kept needs mean > %g × SE\n",
			t.Mean, t.SE, t.Wins, len(t.Improvements), t.K)
	}
	if c.Keep != nil {
		verdict := "would not be kept"
		if *c.Keep {
			verdict = "would be kept"
		}
		fmt.Fprintf(w, "#%d against #%d %s: %s\n", a.Trial, b.Trial, verdict, c.Reason)
	}

	printValueDiffs(w, "tags", c.Tags)
	printValueDiffs(w, "params", c.Params)

	changed := 0
	for _, d := range c.Cells {
		if d.Change == "same" {
			continue
		}
		changed++
		fmt.Fprintf(w, "\ncell %d (%s):\n", d.Index, d.Change)
		for _, l := range d.Lines {
			op := l.Op
			if op == "=" {
				op = " "
			}
			fmt.Fprintf(w, "  %s %s\n", op, l.Text)
		}
	}
	switch {
	case len(c.Cells) == 0:
		fmt.Fprintln(w, "\ncells: neither notebook has code cells yet")
	case changed == 0:
		fmt.Fprintln(w, "\ncells: the same code")
	}
}

// printValueDiffs prints the tags or params that differ.
func printValueDiffs(w io.Writer, name string, ds []lab.ValueDiff) {
	var lines []string
	for _, d := range ds {
		if !d.Same {
			lines = append(lines, fmt.Sprintf("  %s: %s → %s", d.Key, orAbsent(d.A), orAbsent(d.B)))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s that differ:\n%s\n", name, strings.Join(lines, "\n"))
}

func orAbsent(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}
