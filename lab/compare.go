package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"trialbook/journal"
)

// Two trials side by side, as a reviewer asks "why did #14 beat #9?": the
// JupyterLab dashboard (GET …/compare?a=A&b=B) and `trialbook status DIR
// --compare A B` show this one computation, so they agree.

// Comparison is trial A against trial B. The paired test is the keep rule's
// (Decide, PairFolds) with A as the candidate and B as the reference.
type Comparison struct {
	Metric    string      `json:"metric"`
	Direction string      `json:"direction"`
	A         CompareSide `json:"a"`
	B         CompareSide `json:"b"`
	// Cells are the two notebooks' code cells aligned by their index.
	Cells  []CellDiff  `json:"cells"`
	Tags   []ValueDiff `json:"tags"`   // every tag of either, by key
	Params []ValueDiff `json:"params"` // the config tag's JSON, flattened (params.alpha, steps)
	// Folds pairs the per-fold CV scores; empty unless both have the same
	// folds (at least 2).
	Folds []FoldPair `json:"folds"`
	// Test is the keep rule's paired test; nil without paired folds.
	Test *Paired `json:"test"`
	// Keep and Reason are what the keep rule says of A against B (Decide),
	// when both are scored.
	Keep   *bool  `json:"keep,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CompareSide is one trial of a comparison.
type CompareSide struct {
	journal.TrialRow
	Plan string            `json:"plan,omitempty"`
	Tags map[string]string `json:"tags"`
}

// CellDiff is one aligned pair of cells. Change is same, changed, added
// (only B has it) or removed (only A has it).
type CellDiff struct {
	Index  int        `json:"index"`
	Role   string     `json:"role,omitempty"`
	Change string     `json:"change"`
	Lines  []LineDiff `json:"lines"`
}

// LineDiff is one line of a cell diff: Op is "=" (in both), "-" (A only) or
// "+" (B only); A and B are its 1-based line numbers on each side (0: absent).
type LineDiff struct {
	Op   string `json:"op"`
	Text string `json:"text"`
	A    int    `json:"a,omitempty"`
	B    int    `json:"b,omitempty"`
}

// ValueDiff is one tag or parameter on both sides; an absent one is null.
type ValueDiff struct {
	Key  string  `json:"key"`
	A    *string `json:"a"`
	B    *string `json:"b"`
	Same bool    `json:"same"`
}

// FoldPair is one fold's scores; Diff is A minus B, Improvement the keep
// rule's (positive when A is better, whichever the metric's direction).
type FoldPair struct {
	Fold        int     `json:"fold"` // from 1
	A           float64 `json:"a"`
	B           float64 `json:"b"`
	Diff        float64 `json:"diff"`
	Improvement float64 `json:"improvement"`
}

// Compare compares trials a and b of the experiment in dir, given its
// events. An unknown trial is ErrNoTrial.
func Compare(dir string, events []journal.Event, a, b int) (*Comparison, error) {
	snap := journal.Fold(events)
	side := func(n int) (CompareSide, error) {
		row, ok := snap.Trial(n)
		if !ok {
			return CompareSide{}, fmt.Errorf("trial %d: %w", n, ErrNoTrial)
		}
		s := CompareSide{TrialRow: row, Tags: map[string]string{}}
		for _, e := range events {
			if e.Trial != n || e.Type != journal.TrialProposed {
				continue
			}
			s.Plan = e.Plan
			var pr proposal
			if len(e.Data) > 0 && json.Unmarshal(e.Data, &pr) == nil && pr.Tags != nil {
				s.Tags = pr.Tags
			}
		}
		return s, nil
	}
	c := &Comparison{Cells: []CellDiff{}, Folds: []FoldPair{}}
	var err error
	if c.A, err = side(a); err != nil {
		return nil, err
	}
	if c.B, err = side(b); err != nil {
		return nil, err
	}
	if snap.Problem != nil {
		c.Metric, c.Direction = snap.Problem.Metric, snap.Problem.Direction
	}
	c.Tags = diffValues(c.A.Tags, c.B.Tags)
	c.Params = diffValues(params(c.A.Tags), params(c.B.Tags))
	if c.Cells, err = diffNotebooks(dir, c.A.Notebook, c.B.Notebook); err != nil {
		return nil, err
	}
	sa, sb := c.A.Score, c.B.Score
	if sa == nil || sb == nil {
		return c, nil
	}
	if c.Metric == "" {
		c.Metric, c.Direction = sa.Metric, sa.Direction
	}
	m, err := LookupMetric(sa.Metric)
	if err != nil {
		// A metric this build does not know still has a direction.
		m = Metric{Name: sa.Metric, Maximize: sa.Direction == "maximize"}
	}
	keep, reason := Decide(m, sa, b, sb)
	c.Keep, c.Reason = &keep, reason
	if len(sa.Folds) == len(sb.Folds) && len(sa.Folds) >= 2 {
		p := PairFolds(m, sa, sb)
		c.Test = &p
		for i := range sa.Folds {
			c.Folds = append(c.Folds, FoldPair{Fold: i + 1, A: sa.Folds[i], B: sb.Folds[i], Diff: sa.Folds[i] - sb.Folds[i], Improvement: p.Improvements[i]})
		}
	}
	return c, nil
}

// params flattens the config tag (JSON the built-in agent writes: its model
// parameters and feature steps) into dotted keys; other agents' tags have
// no config and so no params.
func params(tags map[string]string) map[string]string {
	out := map[string]string{}
	var v any
	if json.Unmarshal([]byte(tags["config"]), &v) != nil {
		return out
	}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, x := range m {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x)
			}
			return
		}
		b, _ := json.Marshal(v)
		if prefix != "" {
			out[prefix] = string(b)
		}
	}
	walk("", v)
	return out
}

func diffValues(a, b map[string]string) []ValueDiff {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	out := make([]ValueDiff, 0, len(keys))
	for k := range keys {
		d := ValueDiff{Key: k}
		if v, ok := a[k]; ok {
			d.A = &v
		}
		if v, ok := b[k]; ok {
			d.B = &v
		}
		d.Same = d.A != nil && d.B != nil && *d.A == *d.B
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// diffNotebooks diffs the code cells of two trial notebooks, aligned by
// index, line by line. A notebook not written yet has no cells.
func diffNotebooks(dir, a, b string) ([]CellDiff, error) {
	read := func(nb string) ([]NotebookCell, error) {
		n, err := readTrialNotebook(dir, nb)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var cells []NotebookCell
		for i, c := range n.Cells {
			cells = append(cells, compactCell(i, c))
		}
		return cells, nil
	}
	ca, err := read(a)
	if err != nil {
		return nil, err
	}
	cb, err := read(b)
	if err != nil {
		return nil, err
	}
	out := []CellDiff{}
	for i := 0; i < max(len(ca), len(cb)); i++ {
		var x, y *NotebookCell
		if i < len(ca) && ca[i].Type == "code" {
			x = &ca[i]
		}
		if i < len(cb) && cb[i].Type == "code" {
			y = &cb[i]
		}
		if x == nil && y == nil {
			continue // the plans: shown side by side, not diffed
		}
		d := CellDiff{Index: i}
		switch {
		case x == nil:
			d.Change, d.Role, d.Lines = "added", y.Role, diffLines("", y.Source)
		case y == nil:
			d.Change, d.Role, d.Lines = "removed", x.Role, diffLines(x.Source, "")
		default:
			d.Role, d.Lines = x.Role, diffLines(x.Source, y.Source)
			d.Change = "same"
			if x.Source != y.Source {
				d.Change = "changed"
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// diffLines is a line diff of a against b (difflib's SequenceMatcher, the
// algorithm of Python's difflib).
func diffLines(a, b string) []LineDiff {
	la, lb := splitSource(a), splitSource(b)
	out := []LineDiff{}
	m := difflib.NewMatcherWithJunk(la, lb, false, nil)
	for _, op := range m.GetOpCodes() {
		if op.Tag == 'e' {
			for k := 0; k < op.I2-op.I1; k++ {
				out = append(out, LineDiff{Op: "=", Text: la[op.I1+k], A: op.I1 + k + 1, B: op.J1 + k + 1})
			}
			continue
		}
		for i := op.I1; i < op.I2; i++ {
			out = append(out, LineDiff{Op: "-", Text: la[i], A: i + 1})
		}
		for j := op.J1; j < op.J2; j++ {
			out = append(out, LineDiff{Op: "+", Text: lb[j], B: j + 1})
		}
	}
	return out
}

func splitSource(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
