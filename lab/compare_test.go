package lab

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"trialbook/ipynb"
	"trialbook/journal"
)

// compareFixture writes an experiment folder with two scored trials and
// their notebooks, as a run leaves them, and returns it with its events.
func compareFixture(t *testing.T) (string, []journal.Event) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "trials"), 0o755); err != nil {
		t.Fatal(err)
	}
	nb := func(name string, cells ...string) string {
		n := ipynb.New()
		n.Cells = append(n.Cells, ipynb.NewMarkdownCell("# plan"))
		setup := ipynb.NewCodeCell("from trialbook_harness import *")
		setup.Metadata[metaKey] = map[string]any{"role": roleSet}
		n.Cells = append(n.Cells, setup)
		for i, src := range cells {
			c := ipynb.NewCodeCell(src)
			c.Metadata[metaKey] = map[string]any{"role": roleCell, "index": i}
			n.Cells = append(n.Cells, c)
		}
		path := filepath.Join("trials", name)
		if err := n.WriteFile(filepath.Join(dir, path)); err != nil {
			t.Fatal(err)
		}
		return filepath.ToSlash(path)
	}
	one := nb("001-ridge.ipynb", "import numpy as np\nalpha = 1.0\nfit(alpha)", "handback()")
	two := nb("002-ridge.ipynb", "import numpy as np\nalpha = 10.0\nfit(alpha)\nprint('done')", "handback()", "extra()")
	data := func(tags map[string]string) json.RawMessage {
		b, _ := json.Marshal(proposal{Tags: tags, Cells: []string{"x"}})
		return b
	}
	hold := 3.5
	s1 := &journal.Score{Metric: "rmse", Direction: "minimize", CV: 3, CVStd: 0.1, Folds: []float64{3.1, 2.9, 3.0}, Holdout: &hold}
	s2 := &journal.Score{Metric: "rmse", Direction: "minimize", CV: 2, CVStd: 0.1, Folds: []float64{2.0, 2.1, 1.9}}
	events := []journal.Event{
		{Seq: 1, Type: journal.ExperimentCreated, Problem: &journal.ProblemSummary{Name: "x", Metric: "rmse", Direction: "minimize", Trials: 2}},
		{Seq: 2, Type: journal.TrialProposed, Trial: 1, Title: "ridge", Notebook: one, Plan: "plan one",
			Data: data(map[string]string{"family": "linear", "config": `{"model":"ridge","params":{"alpha":1},"steps":[]}`})},
		{Seq: 3, Type: journal.TrialFinished, Trial: 1, Score: s1},
		{Seq: 4, Type: journal.TrialKept, Trial: 1, Best: 1},
		{Seq: 5, Type: journal.TrialProposed, Trial: 2, Title: "ridge 10", Notebook: two, Plan: "plan two",
			Data: data(map[string]string{"family": "linear", "config": `{"model":"ridge","params":{"alpha":10},"steps":["log"]}`})},
		{Seq: 6, Type: journal.TrialFinished, Trial: 2, Score: s2},
		{Seq: 7, Type: journal.TrialProposed, Trial: 3, Title: "not yet", Notebook: "trials/003-not-yet.ipynb"},
	}
	return dir, events
}

func TestCompare(t *testing.T) {
	dir, events := compareFixture(t)
	c, err := Compare(dir, events, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.A.Plan != "plan two" || c.B.Plan != "plan one" || c.Metric != "rmse" {
		t.Errorf("plans %q, %q, metric %q", c.A.Plan, c.B.Plan, c.Metric)
	}
	// The verdict is the keep rule's, word for word.
	rmse, _ := LookupMetric("rmse")
	wantKeep, wantReason := Decide(rmse, c.A.Score, 1, c.B.Score)
	if c.Keep == nil || *c.Keep != wantKeep || c.Reason != wantReason || !wantKeep {
		t.Errorf("keep %v %q, want %v %q", c.Keep, c.Reason, wantKeep, wantReason)
	}
	if c.Test == nil || !reflect.DeepEqual(*c.Test, PairFolds(rmse, c.A.Score, c.B.Score)) {
		t.Fatalf("test %+v", c.Test)
	}
	if got, want := len(c.Folds), 3; got != want {
		t.Fatalf("%d folds, want %d", got, want)
	}
	for i, f := range c.Folds {
		if f.Fold != i+1 || f.A != c.A.Score.Folds[i] || f.B != c.B.Score.Folds[i] || f.Diff != f.A-f.B || f.Improvement != f.B-f.A {
			t.Errorf("fold %d: %+v", i+1, f)
		}
	}

	var cells []string
	for _, d := range c.Cells {
		cells = append(cells, d.Change)
	}
	if got, want := cells, []string{"same", "changed", "same", "removed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cell changes %v, want %v (A has a cell B lacks: removed)", got, want)
	}
	var ops []string
	for _, l := range c.Cells[1].Lines {
		ops = append(ops, l.Op+l.Text)
	}
	want := []string{"=import numpy as np", "-alpha = 10.0", "+alpha = 1.0", "=fit(alpha)", "-print('done')"}
	if !reflect.DeepEqual(ops, want) {
		t.Errorf("lines %q, want %q", ops, want)
	}

	keys := func(ds []ValueDiff) string {
		var b strings.Builder
		for _, d := range ds {
			b.WriteString(d.Key)
			if d.Same {
				b.WriteString("=")
			} else {
				b.WriteString("≠")
			}
			b.WriteString(" ")
		}
		return b.String()
	}
	if got, want := keys(c.Tags), "config≠ family= "; got != want {
		t.Errorf("tags %q, want %q", got, want)
	}
	if got, want := keys(c.Params), "model= params.alpha≠ steps≠ "; got != want {
		t.Errorf("params %q, want %q", got, want)
	}

	// An unscored trial compares without a test; an unknown one is an error.
	c, err = Compare(dir, events, 3, 1)
	if err != nil || c.Test != nil || c.Keep != nil || len(c.Folds) != 0 {
		t.Errorf("unscored: %+v, %v", c, err)
	}
	if _, err := Compare(dir, events, 9, 1); !errors.Is(err, ErrNoTrial) {
		t.Errorf("unknown trial: %v, want ErrNoTrial", err)
	}
}

func TestReadTrialCells(t *testing.T) {
	dir, events := compareFixture(t)
	path := filepath.Join(dir, "trials", "001-ridge.ipynb")
	nb, err := ipynb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", compactTextBytes) + "END"
	nb.Cells[2].Outputs = []*ipynb.Output{
		{OutputType: ipynb.StreamOutput, Name: "stdout", Text: long},
		{OutputType: ipynb.DisplayDataOutput, Data: map[string]any{"image/png": "iVBORw0KGgo=\n", "text/plain": "<Figure>"}, Metadata: map[string]any{}},
		{OutputType: ipynb.ErrorOutput, EName: "ValueError", EValue: "bad", Traceback: []string{"\x1b[31mValueError\x1b[0m: bad"}},
	}
	if err := nb.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	tc, err := ReadTrialCells(dir, events, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Written || len(tc.Cells) != 4 || tc.Cells[1].Role != roleSet || tc.Cells[2].Role != roleCell {
		t.Fatalf("cells %+v", tc)
	}
	outs := tc.Cells[2].Outputs
	if len(outs) != 3 {
		t.Fatalf("outputs %+v", outs)
	}
	if o := outs[0]; !o.Truncated || !strings.HasSuffix(o.Text, "END") || len(o.Text) != compactTextBytes {
		t.Errorf("long stream: truncated %v, %d bytes", o.Truncated, len(o.Text))
	}
	if o := outs[1]; o.Type != "image" || o.MIME != "image/png" || o.Data != "iVBORw0KGgo=" {
		t.Errorf("image %+v", o)
	}
	if o := outs[2]; o.Type != "error" || o.Text != "ValueError: bad" {
		t.Errorf("error %+v", o)
	}

	tc, err = ReadTrialCells(dir, events, 3)
	if err != nil || tc.Written || len(tc.Cells) != 0 {
		t.Errorf("a trial without a notebook yet: %+v, %v", tc, err)
	}
	if _, err := ReadTrialCells(dir, events, 7); !errors.Is(err, ErrNoTrial) {
		t.Errorf("unknown trial: %v", err)
	}
	bad := append(events, journal.Event{Seq: 8, Type: journal.TrialProposed, Trial: 4, Notebook: "../outside.ipynb"})
	if _, err := ReadTrialCells(dir, bad, 4); err == nil || !strings.Contains(err.Error(), "outside the experiment folder") {
		t.Errorf("a notebook outside the folder: %v", err)
	}
}
