package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/lab"
	"trialbook/specs"
)

// testSpec is the python3 kernelspec of the repository's .venv; the test is
// skipped without one (run make setup).
func testSpec(t *testing.T) *kernel.Spec {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("no go.mod above the test")
		}
		dir = filepath.Dir(dir)
	}
	venv := filepath.Join(dir, ".venv")
	if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
		t.Skip("no .venv: run make setup")
	}
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{Prefix: venv, Paths: []string{}})
	if err != nil {
		t.Skipf("no python3 kernelspec in the .venv: %v", err)
	}
	return spec
}

// smallProblem writes a regression problem over 150 synthetic rows with a
// budget of trials trials and loads it.
func smallProblem(t *testing.T, trials int) *specs.Problem {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("Id,area,rooms,price\n")
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 150; i++ {
		area, rooms := 50+rng.Float64()*150, 1+rng.IntN(5)
		fmt.Fprintf(&b, "%d,%.1f,%d,%.0f\n", i+1, area, rooms, math.Exp(10+area/100+float64(rooms)/10+rng.NormFloat64()*0.2))
	}
	if err := os.WriteFile(filepath.Join(dir, "homes.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`local tb = import 'trialbook.libsonnet';
tb.regression { name: 'homes', data: 'homes.csv', target: 'price', metric: 'rmse',
  validation: tb.kfold(3), holdout: 0.2, trials: %d, features: tb.features(ids=['Id']) }
`, trials)
	if err := os.WriteFile(filepath.Join(dir, "problem.jsonnet"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := specs.Load(context.Background(), dir, specs.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is a server on an open experiment and one connected SDK client
// that records every response's text.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	x      *lab.Experiment
	srv    *Server
	cs     *mcp.ClientSession
	mu     sync.Mutex
	texts  []string
	closed bool
}

func newFixture(t *testing.T, ctx context.Context, trials, workers int, client string) *fixture {
	t.Helper()
	spec := testSpec(t)
	p := smallProblem(t, trials)
	dir := filepath.Dir(p.File)
	md, err := specs.RenderAgentsMD(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := lab.Open(ctx, lab.Options{Dir: dir, Problem: p, AgentName: "mcp", Spec: spec, Workers: workers, AgentsMD: md, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, dir: dir, x: x, srv: New(Options{Experiment: x, Dir: dir, Workers: workers, Version: "test", Log: zerolog.Nop()})}
	f.cs = f.connect(client)
	t.Cleanup(func() {
		f.cs.Close()
		if !f.closed {
			f.srv.Close()
		}
	})
	return f
}

// connect connects another SDK client, in-process.
func (f *fixture) connect(name string) *mcp.ClientSession {
	f.t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	if _, err := f.srv.MCP().Connect(f.ctx, st, nil); err != nil {
		f.t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1.0"}, nil).Connect(f.ctx, ct, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

// call calls a tool through cs and returns its text and whether it is a
// tool error; a protocol error fails the test.
func (f *fixture) call(cs *mcp.ClientSession, name string, args any) (string, bool, *mcp.CallToolResult) {
	f.t.Helper()
	res, err := cs.CallTool(f.ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		f.t.Fatalf("%s(%v): protocol error %v", name, args, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text + "\n")
		}
	}
	raw, _ := json.Marshal(res)
	f.mu.Lock()
	f.texts = append(f.texts, string(raw))
	f.mu.Unlock()
	return b.String(), res.IsError, res
}

// ok calls a tool that must succeed.
func (f *fixture) ok(name string, args any) string {
	f.t.Helper()
	text, isErr, _ := f.call(f.cs, name, args)
	if isErr {
		f.t.Fatalf("%s(%v): tool error: %s", name, args, text)
	}
	return text
}

// refused calls a tool that must answer with a tool error containing want.
func (f *fixture) refused(name string, args any, want string) {
	f.t.Helper()
	text, isErr, _ := f.call(f.cs, name, args)
	if !isErr || !strings.Contains(text, want) {
		f.t.Errorf("%s(%v) = %q (error %v), want a tool error saying %q", name, args, text, isErr, want)
	}
}

// noHoldout checks that no response carried a holdout score of the
// journal's.
func (f *fixture) noHoldout() {
	f.t.Helper()
	events, err := journal.ReadFile(filepath.Join(f.dir, "journal.jsonl"))
	if err != nil {
		f.t.Fatal(err)
	}
	seen := 0
	for _, e := range events {
		if e.Score == nil || e.Score.Holdout == nil {
			continue
		}
		seen++
		h := *e.Score.Holdout
		for _, form := range []string{strconv.FormatFloat(h, 'g', -1, 64), fmt.Sprintf("%.6g", h), fmt.Sprintf("%.5g", h), fmt.Sprintf("%.4g", h)} {
			for _, text := range f.texts {
				if strings.Contains(text, form) {
					f.t.Errorf("a response contains the holdout score %s of trial %d: %.300s", form, e.Trial, text)
				}
			}
		}
	}
	if seen == 0 {
		f.t.Error("the journal has no holdout score: the check checked nothing")
	}
}

const (
	ridgeCell = `from sklearn.linear_model import Ridge
import numpy as np
oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))
for tr, va in folds:
    m = Ridge(alpha=ALPHA).fit(X.iloc[tr], np.log(y.iloc[tr]))
    oof[va] = np.exp(m.predict(X.iloc[va]))
    hold += np.exp(m.predict(X_holdout)) / len(folds)
print("fitted", len(folds), "folds")`
	plotCell = `import io, matplotlib
matplotlib.use('agg')
import matplotlib.pyplot as plt
from IPython.display import Image, display
fig = plt.figure(figsize=(1, 1)); plt.plot([1, 2]); buf = io.BytesIO(); fig.savefig(buf, format='png'); display(Image(buf.getvalue()))`
)

// TestMCPDrivesTrialsToScores drives whole trials through the SDK's own
// client in-process, on real kernels: the tools are listed with schemas;
// experiment; start_trial with the setup cell's output; run_cell with text,
// long output cut with a note, an image as image content, an exception
// with its traceback; replace_cell fixing the failing cell in place;
// finish_trial refused before the hand-back, then scored; abandon_trial;
// bad arguments answered with tool errors; the workers and trial budgets
// refusing a trial with a clear error; the journal naming the client; the
// resources; and no response carrying a holdout score.
func TestMCPDrivesTrialsToScores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 2, 1, "claude-code")

	tools, err := f.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if len(tl.Description) < 80 || tl.InputSchema == nil {
			t.Errorf("tool %s: description %q, schema %v: want a description for a model and a schema", tl.Name, tl.Description, tl.InputSchema)
		}
	}
	if got, want := strings.Join(names, ","), "abandon_trial,experiment,finish_trial,replace_cell,run_cell,start_trial,trial"; got != want {
		t.Errorf("tools %s, want %s", got, want)
	}
	if text := f.ok("experiment", nil); !strings.Contains(text, "Metric: rmse (lower is better)") || !strings.Contains(text, "trials: 0 done of 2") || !strings.Contains(text, "hand_back(oof, holdout") || !strings.Contains(text, "No trials yet") {
		t.Errorf("experiment:\n%s", text)
	}

	text := f.ok("start_trial", map[string]any{"title": "Ridge on log price", "plan": "Ridge on a log target: prices are skewed."})
	if !strings.Contains(text, "Trial 1 started") || !strings.Contains(text, "trials/001-ridge-on-log-price.ipynb") || !strings.Contains(text, "setup cell ran") {
		t.Fatalf("start_trial:\n%s", text)
	}
	// The worker limit (1) refuses a second open trial.
	f.refused("start_trial", map[string]any{"title": "second", "plan": "p"}, "1 trials are open")

	text = f.ok("run_cell", map[string]any{"trial": 1, "code": "print('rows', len(X))\nfor i in range(3000): print('line', i)"})
	if !strings.Contains(text, "cell 0 ran") || !strings.Contains(text, "rows 120") || !strings.Contains(text, "characters cut here") || !strings.Contains(text, "line 2999") || len(text) > DefaultMaxText+1000 {
		t.Errorf("run_cell with long output (%d bytes):\n%.600s", len(text), text)
	}
	_, _, res := f.call(f.cs, "run_cell", map[string]any{"trial": 1, "code": plotCell})
	if len(res.Content) != 2 {
		t.Errorf("plot cell: %d content blocks, want text and an image", len(res.Content))
	} else if im, ok := res.Content[1].(*mcp.ImageContent); !ok || im.MIMEType != "image/png" || !strings.HasPrefix(string(im.Data), "\x89PNG") {
		t.Errorf("plot cell's second block is %T, want a PNG image", res.Content[1])
	}
	text = f.ok("run_cell", map[string]any{"trial": 1, "code": "ALPHA = undefined_alpha"})
	if !strings.Contains(text, "cell 2 ran") || !strings.Contains(text, "raised NameError") || !strings.Contains(text, "undefined_alpha") || !strings.Contains(text, "replace_cell(trial=1, index=2") {
		t.Errorf("failing cell:\n%s", text)
	}
	f.refused("finish_trial", map[string]any{"trial": 1}, "still open")
	text = f.ok("replace_cell", map[string]any{"trial": 1, "index": 2, "code": "ALPHA = 1.0", "note": "undefined name"})
	if !strings.Contains(text, "cell 2 ran") || strings.Contains(text, "raised") {
		t.Errorf("replaced cell:\n%s", text)
	}
	// Bad arguments: tool errors, never a crash.
	f.refused("run_cell", map[string]any{"trial": "one", "code": "1"}, "trial")
	f.refused("run_cell", map[string]any{"trial": 1}, "code")
	f.refused("run_cell", map[string]any{"trial": 9, "code": "1"}, "trial 9 is not open (your open trials: 1)")
	f.refused("replace_cell", map[string]any{"trial": 1, "index": 7, "code": "1"}, "no cell 7 to replace")
	f.refused("start_trial", map[string]any{"title": "", "plan": "p"}, "title is empty")
	f.refused("trial", map[string]any{"n": 42}, "there is no trial 42")
	f.refused("abandon_trial", map[string]any{"trial": 1, "reason": " "}, "reason is empty")

	f.ok("run_cell", map[string]any{"trial": 1, "code": ridgeCell})
	f.ok("run_cell", map[string]any{"trial": 1, "code": "hand_back(oof, hold)"})
	text = f.ok("finish_trial", map[string]any{"trial": 1})
	if !strings.Contains(text, "Trial 1 scored by the harness: rmse CV") || !strings.Contains(text, "Kept:") || !strings.Contains(text, "trials: 1 done of 2") {
		t.Errorf("finish_trial:\n%s", text)
	}
	f.refused("run_cell", map[string]any{"trial": 1, "code": "1"}, "trial 1 is not open")

	f.ok("start_trial", map[string]any{"title": "Give up", "plan": "Abandoned on purpose."})
	if text := f.ok("abandon_trial", map[string]any{"trial": 2, "reason": "nothing to learn here"}); !strings.Contains(text, "trials: 2 done of 2") || !strings.Contains(text, "budget is spent") {
		t.Errorf("abandon_trial:\n%s", text)
	}
	f.refused("start_trial", map[string]any{"title": "third", "plan": "p"}, "budget is spent")

	text = f.ok("trial", map[string]any{"n": 1})
	if !strings.Contains(text, "status: kept") || !strings.Contains(text, "Ridge on a log target") || !strings.Contains(text, "ALPHA = 1.0") || !strings.Contains(text, "CV: ") {
		t.Errorf("trial(1):\n%s", text)
	}
	if text := f.ok("experiment", nil); !strings.Contains(text, "| 1 (best) | Ridge on log price | kept |") || !strings.Contains(text, "| 2 | Give up | failed |") {
		t.Errorf("experiment after two trials:\n%s", text)
	}

	// Resources: AGENTS.md and the notebooks, nothing else.
	rs, err := f.cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range rs.Resources {
		uris = append(uris, r.URI)
	}
	if got := strings.Join(uris, " "); !strings.Contains(got, "trialbook:///AGENTS.md") || !strings.Contains(got, "trialbook:///trials/001-ridge-on-log-price.ipynb") || !strings.Contains(got, "trialbook:///trials/002-give-up.ipynb") {
		t.Errorf("resources: %s", got)
	}
	nb, err := f.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "trialbook:///trials/001-ridge-on-log-price.ipynb"})
	if err != nil || !strings.Contains(nb.Contents[0].Text, "failed_attempts") || !strings.Contains(nb.Contents[0].Text, "undefined_alpha") {
		t.Errorf("notebook resource: %v %v", err, nb)
	}
	for _, uri := range []string{"trialbook:///.trialbook/holdout.csv", "trialbook:///trials/../journal.jsonl", "trialbook:///journal.jsonl"} {
		if _, err := f.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri}); err == nil {
			t.Errorf("resource %s was served", uri)
		}
	}

	events, err := journal.ReadFile(filepath.Join(f.dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	proposed := 0
	for _, e := range events {
		if e.Type == journal.TrialProposed {
			proposed++
			if e.Agent != "claude-code" {
				t.Errorf("trial %d proposed by %q, want the client's name claude-code", e.Trial, e.Agent)
			}
		}
	}
	if proposed != 2 {
		t.Errorf("%d trials proposed, want 2", proposed)
	}
	if snap := f.x.Snapshot(); snap.Status != journal.StatusFinished {
		t.Errorf("experiment %s after its budget, want finished", snap.Status)
	}
	f.noHoldout()
}

// TestMCPDisconnectInterrupts: a client that disconnects with a trial open
// leaves it interrupted, its notebook whole, and its worker slot free for
// another client; closing the server pauses the experiment.
func TestMCPDisconnectInterrupts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := newFixture(t, ctx, 5, 1, "codex")
	f.ok("start_trial", map[string]any{"title": "left open", "plan": "The client goes away."})
	f.ok("run_cell", map[string]any{"trial": 1, "code": "A = 1\nprint('still here')"})
	other := f.connect("cursor")
	defer other.Close()
	if text, isErr, _ := f.call(other, "run_cell", map[string]any{"trial": 1, "code": "1"}); !isErr || !strings.Contains(text, "another MCP client") {
		t.Errorf("another client's run_cell on trial 1: %q", text)
	}
	f.cs.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		row := f.x.State().Trials[0]
		if row.Status == journal.TrialStatusInterrupted {
			if !strings.Contains(row.Reason, "disconnected") {
				t.Errorf("interrupted because %q", row.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trial 1 is %s 30s after its client disconnected, want interrupted", row.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nb, err := os.ReadFile(filepath.Join(f.dir, "trials", "001-left-open.ipynb"))
	if err != nil || !strings.Contains(string(nb), "still here") || !json.Valid(nb) {
		t.Errorf("the interrupted trial's notebook is not whole: %v", err)
	}
	if text, isErr, _ := f.call(other, "start_trial", map[string]any{"title": "next", "plan": "p"}); isErr || !strings.Contains(text, "Trial 2 started") {
		t.Errorf("start_trial after the disconnect: %s", text)
	}
	snap, err := f.srv.Close()
	f.closed = true
	if err != nil || snap.Status != journal.StatusPaused {
		t.Errorf("Close: %s, %v; want paused", snap.Status, err)
	}
	if row, _ := snap.Trial(2); row.Status != journal.TrialStatusInterrupted {
		t.Errorf("trial 2 open at Close is %s, want interrupted", row.Status)
	}
}
