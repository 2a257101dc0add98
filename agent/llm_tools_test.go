package agent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"trialbook/agent/internal/fakeprovider"
	"trialbook/journal"
	"trialbook/lab"
)

type args = map[string]any

func call(name string, a args) fakeprovider.Step { return fakeprovider.Call(name, a) }

func planCall(title, plan string) fakeprovider.Step {
	return call("plan_trial", args{"title": title, "plan": plan, "family": "ridge", "features": "none"})
}

// A cell that fits ridge over the folds and keeps the predictions.
const ridgeCell = "import numpy as np\nfrom sklearn.linear_model import Ridge\noof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))\nfor tr, va in folds:\n    m = Ridge(alpha=ALPHA).fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va])\n    hold += m.predict(X_holdout) / len(folds)\nprint('fitted', len(folds), 'folds')"

func ridgeWith(alpha string) string { return strings.Replace(ridgeCell, "ALPHA", alpha, 1) }

// TestInteractiveTrial runs two interactive trials on real kernels for each
// API. Trial 1: a cell that inspects shapes, a 429 before the model cell,
// a cell that raises and is replaced in place, then finish. Trial 2: an
// unknown tool and bad arguments, each answered with the error as a tool
// result, then recovery and finish. No holdout score reaches any request.
func TestInteractiveTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := repoVenv(t)
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			dir, prob := diabetesTrials(t, venv, p.name, "", 2)
			srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model", Mention: []string{e2eMarker, "run_cell"}})
			defer srv.Close()
			srv.Play(
				planCall("Ridge, looked at first", "Look at the shapes, then a ridge baseline."),
				call("run_cell", args{"code": "print('shapes', X.shape, X_holdout.shape, len(folds))"}),
				fakeprovider.Status(429, "1"),
				call("run_cell", args{"code": ridgeWith("1.0")}),
				call("run_cell", args{"code": "hand_back(oof, holdd)"}),
				call("replace_cell", args{"index": 2, "code": "hand_back(oof, hold)"}),
				call("finish", args{}),

				planCall("Ridge, stronger", "Builds on trial 1: a stronger penalty."),
				call("no_such_tool", args{"x": 1}),
				call("replace_cell", args{"index": "two", "code": "x = 1"}),
				fakeprovider.Calls("Fitting now.", fakeprovider.ToolCall{Name: "run_cell", Args: args{"code": ridgeWith("10.0") + "\nhand_back(oof, hold)"}}),
				call("finish", args{}),
			)
			var logs bytes.Buffer
			var mu sync.Mutex
			var retries []journal.Event
			snap, _, err := e2eRun(t, p, dir, prob, venv, srv, &logs, func(e journal.Event, _ *journal.Snapshot) {
				if e.Type == journal.AgentRetry {
					mu.Lock()
					retries = append(retries, e)
					mu.Unlock()
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range srv.Problems() {
				t.Errorf("fake %s provider: %s", p.name, pr)
			}
			if left := srv.Left(); left != 0 {
				t.Errorf("%d scripted answers were never asked for", left)
			}
			if snap.Status != journal.StatusFinished || len(snap.Leaderboard) != 2 {
				t.Fatalf("status %s (%s), %d trials; want finished with 2", snap.Status, snap.Error, len(snap.Leaderboard))
			}
			for _, r := range snap.Leaderboard {
				if r.Status != "kept" && r.Status != "discarded" {
					t.Errorf("trial %d (%s) is %s: %s", r.Trial, r.Title, r.Status, r.Reason)
				}
				if r.Usage == nil || r.Usage.InputTokens == 0 || r.Usage.CostUSD == 0 {
					t.Errorf("trial %d usage %+v, want tokens and a cost", r.Trial, r.Usage)
				}
			}

			reqs := srv.Requests()
			if len(reqs) != 12 {
				t.Fatalf("%d requests, want 12", len(reqs))
			}
			if reqs[0].ToolChoice != "plan_trial" {
				t.Errorf("the first request's tool_choice is %q; want plan_trial forced", reqs[0].ToolChoice)
			}
			if c := reqs[1].ToolChoice; c != map[string]string{"openai": "required", "anthropic": "any"}[p.name] {
				t.Errorf("the second request's tool_choice is %q; want some tool required", c)
			}
			if got := strings.Join(reqs[1].Tools, ","); got != "run_cell,replace_cell,finish,abandon" {
				t.Errorf("the cell tools are %s", got)
			}
			for i, w := range map[int]string{
				1:  "Trial 1 is open",
				2:  "shapes (",
				4:  "fitted 3 folds",
				5:  "NameError",
				6:  "cell 2 ran",
				8:  "Ridge, looked at first", // trial 2's prompt tells trial 1
				9:  `there is no tool "no_such_tool"`,
				10: "replace_cell arguments",
			} {
				if !strings.Contains(reqs[i].Prompt(), w) {
					t.Errorf("request %d lacks %q: %.600s", i+1, w, lastMessage(reqs[i]))
				}
			}
			// The 429 was retried: the same conversation sent again.
			if reqs[3].Prompt() != reqs[2].Prompt() {
				t.Error("the request after the 429 is not the same request again")
			}
			if len(retries) != 1 {
				t.Fatalf("%d agent.retry events on the progress feed, want 1", len(retries))
			}
			var rd struct {
				Provider string  `json:"provider"`
				Status   int     `json:"status"`
				Attempt  int     `json:"attempt"`
				Wait     float64 `json:"waitSeconds"`
			}
			if err := json.Unmarshal(retries[0].Data, &rd); err != nil || rd.Provider != p.name || rd.Status != 429 || rd.Attempt != 1 || rd.Wait != 1 || retries[0].Trial != 1 {
				t.Errorf("agent.retry %+v (%s), want trial 1, provider %s, status 429, attempt 1, wait 1s", retries[0], retries[0].Data, p.name)
			}

			events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
			if err != nil {
				t.Fatal(err)
			}
			var steps []journal.Event
			for _, e := range events {
				if e.Type == journal.AgentStep {
					steps = append(steps, e)
				}
			}
			// Trial 1: plan, 4 cells, finish; trial 2: plan, 2 bad calls, a cell, finish.
			if len(steps) != 11 {
				t.Errorf("%d agent.step events, want 11", len(steps))
			}
			var replaced, unknown bool
			for _, e := range steps {
				if len(e.Text) > 700 {
					t.Errorf("agent.step text of %d bytes is not compact", len(e.Text))
				}
				if e.Trial == 1 && e.Cell != nil && *e.Cell == 2 && strings.HasPrefix(e.Text, "replace_cell(2)") && strings.Contains(e.Text, "cell 2 ran") {
					replaced = true
				}
				if e.Trial == 2 && strings.Contains(e.Text, "no_such_tool") && strings.Contains(e.Text, "error") {
					unknown = true
				}
			}
			if !replaced || !unknown {
				t.Errorf("agent.step: replaced cell %v, unknown tool %v; want both", replaced, unknown)
			}
			checkReplacedNotebook(t, filepath.Join(dir, snap.Leaderboard[rowOf(snap, 1)].Notebook))
			checkHoldoutSealed(t, dir, events, reqs)
		})
	}
}

// lastMessage is the end of a request's prompt, for error messages.
func lastMessage(r fakeprovider.Request) string {
	if len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[len(r.Messages)-1].Text
}

// checkReplacedNotebook checks trial 1's notebook: the plan, the setup
// cell, three agent cells, the third replaced with its failed version kept.
func checkReplacedNotebook(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			CellType string         `json:"cell_type"`
			Source   any            `json:"source"`
			Metadata map[string]any `json:"metadata"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	var agentCells []map[string]any
	for _, c := range nb.Cells {
		if m, _ := c.Metadata["trialbook"].(map[string]any); c.CellType == "code" && m["role"] == "agent" {
			agentCells = append(agentCells, m)
		}
	}
	if len(agentCells) != 3 {
		t.Fatalf("%s has %d agent cells, want 3", path, len(agentCells))
	}
	fa, _ := json.Marshal(agentCells[2]["failed_attempts"])
	if !strings.Contains(string(fa), "holdd") || !strings.Contains(string(fa), "NameError") {
		t.Errorf("the replaced cell does not keep its failed version: %s", fa)
	}
}

// TestInteractiveCellBound: a model that never finishes is stopped by the
// cells-per-trial bound (told once, then stopped), and the trial fails with
// that reason.
func TestInteractiveCellBound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := repoVenv(t)
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			dir, prob := diabetesTrials(t, venv, p.name, "", 1, "cellsPerTrial: 2")
			srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model"})
			defer srv.Close()
			srv.Play(
				planCall("Endless", "Never finishes."),
				fakeprovider.Text("Let me think about the data first."), // no tool call: nudged
				call("run_cell", args{"code": "a = 1"}),
				call("run_cell", args{"code": "a += 1"}),
				call("run_cell", args{"code": "a += 2"}), // refused: told to finish
				call("run_cell", args{"code": "a += 3"}), // asked again: stopped
			)
			var logs bytes.Buffer
			snap, _, err := e2eRun(t, p, dir, prob, venv, srv, &logs)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range srv.Problems() {
				t.Errorf("fake %s provider: %s", p.name, pr)
			}
			reqs := srv.Requests()
			if len(reqs) != 6 || srv.Left() != 0 {
				t.Fatalf("%d requests, %d steps left; want 6 and 0", len(reqs), srv.Left())
			}
			if !strings.Contains(lastMessage(reqs[2]), "the answer called no tool") {
				t.Errorf("the model was not told to call a tool: %.300s", lastMessage(reqs[2]))
			}
			if !strings.Contains(lastMessage(reqs[5]), "has run its 2 cells (budget.cellsPerTrial)") {
				t.Errorf("the model was not told the cell bound: %.300s", lastMessage(reqs[5]))
			}
			if len(snap.Leaderboard) != 1 {
				t.Fatalf("%d trials, want 1", len(snap.Leaderboard))
			}
			r := snap.Leaderboard[0]
			if r.Status != "failed" || !strings.Contains(r.Reason, "budget.cellsPerTrial 2") {
				t.Errorf("trial 1 is %s (%s); want failed by budget.cellsPerTrial", r.Status, r.Reason)
			}
		})
	}
}

// TestProviderAlwaysFails: a provider that answers 500 to every request
// ends the experiment with that reason within the retry bounds the problem
// sets, and every retry is on the progress feed and in the journal.
func TestProviderAlwaysFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := repoVenv(t)
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			dir, prob := diabetesTrials(t, venv, p.name, ", retry: { total: '1s', attempt: '1s', base: '50ms', max: '100ms' }", 3)
			srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model"})
			defer srv.Close()
			srv.FailAll(500)
			var logs bytes.Buffer
			var mu sync.Mutex
			seen := 0
			start := time.Now()
			snap, _, err := e2eRun(t, p, dir, prob, venv, srv, &logs, func(e journal.Event, _ *journal.Snapshot) {
				if e.Type == journal.AgentRetry && strings.Contains(e.Text, "HTTP 500") {
					mu.Lock()
					seen++
					mu.Unlock()
				}
			})
			if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "gave up") {
				t.Fatalf("the run returned %v; want an error naming the provider's HTTP 500", err)
			}
			if took := time.Since(start); took > 2*time.Minute {
				t.Errorf("the run took %s; the retry bounds allow about 3s of retries", took)
			}
			if snap.Status != journal.StatusFailed || !strings.Contains(snap.Error, "HTTP 500") {
				t.Errorf("status %s (%s); want failed with the provider's reason", snap.Status, snap.Error)
			}
			if seen < 3 {
				t.Errorf("%d agent.retry events on the progress feed; want a retry line per retry", seen)
			}
			events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range events {
				if e.Type == journal.AgentRetry {
					n++
				}
			}
			if n != seen || len(srv.Requests()) < n {
				t.Errorf("%d agent.retry events in the journal, %d on the feed, %d requests", n, seen, len(srv.Requests()))
			}
		})
	}
}
