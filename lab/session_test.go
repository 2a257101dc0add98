package lab

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/journal"
)

// TestSessionsDrivenExternally opens an experiment without an agent loop and
// drives trial sessions the way an MCP server does: two at once, each with
// its own agent name; cells appended and run one by one with their outputs
// (text, results, images, exceptions) returned; a failing cell replaced in
// place; Finish refused until predictions are handed back, then scored on
// CV only; an abandoned trial; a trial past its token budget; the trial
// budget refusing a fifth; and Close leaving the session still open
// interrupted and the run paused.
func TestSessionsDrivenExternally(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir, p := toyExperiment(t, 80)
	p.Budget.Trials = 4
	p.Agent.FixAttempts = 1
	p.Agent.MaxTokensPerTrial = 500
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	x, err := Open(ctx, Options{Dir: dir, Problem: p, AgentName: "mcp", Spec: spec, Workers: 2, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := x.Start(ctx, agent.TrialPlan{Title: "Ridge, by hand", Plan: "Look at the data, then ridge.", Tags: map[string]string{"family": "ridge"}}, SessionOptions{Agent: "claude-code"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := x.Start(ctx, agent.TrialPlan{Title: "left open", Plan: "Never finished."}, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Number() != 1 || s2.Number() != 2 || s1.Notebook() != "trials/001-ridge-by-hand.ipynb" {
		t.Errorf("sessions %d %s and %d, want trials 1 (trials/001-ridge-by-hand.ipynb) and 2", s1.Number(), s1.Notebook(), s2.Number())
	}

	run := func(s *Session, code string) agent.CellResult {
		t.Helper()
		res, err := s.RunCell(ctx, code)
		if err != nil {
			t.Fatalf("RunCell(%q): %v", code, err)
		}
		return res
	}
	res := run(s1, "print('rows', len(X))\nX.shape")
	if res.Index != 0 || res.Error != nil || len(res.Outputs) != 2 {
		t.Fatalf("first cell: %+v, want index 0, a stream and a result", res)
	}
	if o := res.Outputs[0]; o.Type != "stream" || o.Name != "stdout" || !strings.HasPrefix(o.Text, "rows ") {
		t.Errorf("stream output %+v", o)
	}
	if o := res.Outputs[1]; o.Type != "execute_result" || !strings.HasPrefix(o.Text, "(") {
		t.Errorf("result output %+v, want the shape's text/plain", o)
	}
	res = run(s1, "import io, matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\nfrom IPython.display import Image, display\nfig = plt.figure(figsize=(1, 1)); plt.plot([1, 2]); buf = io.BytesIO(); fig.savefig(buf, format='png'); display(Image(buf.getvalue()))")
	if len(res.Outputs) != 1 || len(res.Outputs[0].Images) != 1 || res.Outputs[0].Images[0].MIME != "image/png" || !strings.HasPrefix(res.Outputs[0].Images[0].Base64, "iVBOR") {
		t.Errorf("plot cell outputs %+v, want one display with a PNG", res.Outputs)
	}
	res = run(s1, "ALPHA = undefined_alpha")
	if res.Index != 2 || res.Error == nil || res.Error.Ename != "NameError" || !strings.Contains(res.Error.Traceback, "undefined_alpha") {
		t.Fatalf("failing cell: %+v, want index 2 with a NameError and its traceback", res)
	}
	if _, err := s1.ReplaceCell(ctx, 7, "ALPHA = 1.0", ""); err == nil {
		t.Error("ReplaceCell of a cell that does not exist: no error")
	}
	res, err = s1.ReplaceCell(ctx, 2, "ALPHA = 1.0", "the name was undefined")
	if err != nil || res.Index != 2 || res.Error != nil {
		t.Fatalf("replaced cell: %+v, %v", res, err)
	}
	if _, err := s1.ReplaceCell(ctx, 2, "ALPHA = 2.0", ""); err == nil || errors.Is(err, agent.ErrTrialEnded) {
		t.Errorf("a second replacement past fixAttempts 1: %v, want a refusal that leaves the trial open", err)
	}
	if _, err := s1.Finish(ctx); !errors.Is(err, agent.ErrNotScored) || !strings.Contains(err.Error(), "no predictions were handed back") {
		t.Fatalf("Finish before hand_back: %v, want ErrNotScored", err)
	}
	run(s1, ridgeCells)
	run(s1, handBack)
	out, err := s1.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Number != 1 || out.Status != "kept" || out.Metric != "rmse" || out.CV <= 0 || len(out.Folds) != 3 || out.Best != 1 {
		t.Errorf("outcome %+v, want trial 1 kept on 3 folds", out)
	}
	if _, err := s1.RunCell(ctx, "1"); !errors.Is(err, agent.ErrTrialEnded) {
		t.Errorf("RunCell after Finish: %v, want ErrTrialEnded", err)
	}

	run(s2, "LEFT_OPEN = 1")
	// Each cell is in the notebook on disk once RunCell returns.
	raw, err := os.ReadFile(filepath.Join(dir, s2.Notebook()))
	if err != nil || !strings.Contains(string(raw), "LEFT_OPEN = 1") {
		t.Errorf("trial 2's notebook after its first cell: %v, %.200s", err, raw)
	}
	s3, err := x.Start(ctx, agent.TrialPlan{Title: "given up"}, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Abandon(ctx, "nothing worth trying"); err != nil {
		t.Fatal(err)
	}
	s4, err := x.Start(ctx, agent.TrialPlan{Title: "too talkative", Usage: agent.Usage{InputTokens: 300}}, SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s4.Spend(agent.Usage{InputTokens: 150, OutputTokens: 40}); err != nil {
		t.Fatalf("450 of 500 tokens: %v", err)
	}
	err = s4.Spend(agent.Usage{OutputTokens: 100})
	var ended *agent.EndedError
	if !errors.As(err, &ended) || !errors.Is(err, agent.ErrTrialBudget) || ended.Status != "failed" {
		t.Errorf("550 of 500 tokens: %v, want the trial ended on agent.ErrTrialBudget", err)
	}
	if _, err := x.Start(ctx, agent.TrialPlan{Title: "one too many"}, SessionOptions{}); !errors.Is(err, ErrBudgetSpent) {
		t.Errorf("a fifth trial on a budget of 4 (3 done, 1 running): %v, want ErrBudgetSpent", err)
	}
	st := x.State()
	if len(st.Trials) != 4 || st.Trials[0].CV != out.CV || st.Best != 1 {
		t.Errorf("state %+v, want the four trials with trial 1 best", st.Trials)
	}
	snap, err := x.Close()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Status != journal.StatusPaused {
		t.Errorf("status %s after Close, want paused", snap.Status)
	}
	for n, want := range map[int]string{1: "kept", 2: "interrupted", 3: "failed", 4: "failed"} {
		if row, _ := snap.Trial(n); row.Status != want {
			t.Errorf("trial %d is %s (%s), want %s", n, row.Status, row.Reason, want)
		}
	}
	if row, _ := snap.Trial(3); row.Reason != "nothing worth trying" {
		t.Errorf("trial 3's reason %q, want the agent's", row.Reason)
	}
	if row, _ := snap.Trial(4); !strings.Contains(row.Reason, "maxTokensPerTrial") || row.Usage == nil || row.Usage.InputTokens+row.Usage.OutputTokens != 590 {
		t.Errorf("trial 4: %q, usage %+v; want it failed on its token budget with the 590 tokens it spent", row.Reason, row.Usage)
	}
	if _, err := s2.RunCell(ctx, "1"); !errors.Is(err, agent.ErrTrialEnded) {
		t.Errorf("RunCell on an interrupted session: %v, want ErrTrialEnded", err)
	}
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	agents := map[int]string{}
	fixed := 0
	for _, e := range events {
		if e.Type == journal.TrialProposed {
			agents[e.Trial] = e.Agent
		}
		if e.Type == journal.CellFixed && e.Trial == 1 && e.Reason == "the name was undefined" && e.Source == "ALPHA = 1.0" {
			fixed++
		}
	}
	if agents[1] != "claude-code" || agents[2] != "mcp" {
		t.Errorf("trial.proposed agents %v, want claude-code for trial 1 and the experiment's mcp for trial 2", agents)
	}
	if fixed != 1 {
		t.Errorf("%d cell.fixed events for trial 1's replacement, want 1", fixed)
	}
	// The notebook is valid nbformat, holds the cells in the order they
	// ran with the replaced version recorded, and its score is CV only.
	check := runPython(t, `
import json, sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nbformat.validate(nb)
cells = [(c.cell_type, c.metadata.get("trialbook", {}).get("role")) for c in nb.cells]
fixed = [c for c in nb.cells if c.metadata.get("trialbook", {}).get("failed_attempts")]
print(json.dumps({"cells": cells, "attempts": fixed[0].metadata["trialbook"]["failed_attempts"] if fixed else None,
  "score": nb.metadata["trialbook"]["score"], "counts": [c.get("execution_count") for c in nb.cells if c.cell_type == "code"]}))
`, filepath.Join(dir, s1.Notebook()))
	var nb struct {
		Cells    [][2]any
		Attempts []map[string]string
		Score    map[string]any
		Counts   []int
	}
	if err := json.Unmarshal(check, &nb); err != nil {
		t.Fatalf("%v: %s", err, check)
	}
	roles := make([]string, len(nb.Cells))
	for i, c := range nb.Cells {
		roles[i] = c[0].(string) + ":" + func() string { s, _ := c[1].(string); return s }()
	}
	if got, want := strings.Join(roles, " "), "markdown: code:setup code:agent code:agent code:agent markdown:fix-note code:agent code:agent"; got != want {
		t.Errorf("cells %s, want %s", got, want)
	}
	if len(nb.Attempts) != 1 || nb.Attempts[0]["source"] != "ALPHA = undefined_alpha" || nb.Attempts[0]["ename"] != "NameError" {
		t.Errorf("failed attempts %v, want the replaced NameError version", nb.Attempts)
	}
	if _, ok := nb.Score["holdout"]; ok || nb.Score["cv"] == nil {
		t.Errorf("notebook score %v, want CV and no holdout", nb.Score)
	}
	if got, want := nb.Counts, []int{1, 2, 3, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("execution counts %v, want %v: the replaced cell ran once more, nothing before it again", got, want)
	}
}
