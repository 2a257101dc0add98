package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/agent/internal/fakeprovider"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/lab"
	"trialbook/specs"
)

// repoVenv finds the project's .venv beside go.mod, walking up from here.
func repoVenv(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
	venv := filepath.Join(dir, ".venv")
	if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
		t.Skipf("no Python environment at %s (run make setup): %v", venv, err)
	}
	return venv
}

const e2eMarker = "E2E-CONTEXT: disease progression one year after baseline"

// diabetesExperiment writes scikit-learn's diabetes data set (442 rows) and
// a problem file naming the agent kind into a fresh folder, the way a user
// would set one up, and loads it.
func diabetesExperiment(t *testing.T, venv, kind string, extra string) (string, *specs.Problem) {
	t.Helper()
	return diabetesTrials(t, venv, kind, extra, 3)
}

// diabetesTrials is diabetesExperiment with a trial budget and, in top,
// more top-level fields.
func diabetesTrials(t *testing.T, venv, kind string, extra string, trials int, top ...string) (string, *specs.Problem) {
	t.Helper()
	dir := t.TempDir()
	script := `import sys
from sklearn.datasets import load_diabetes
df = load_diabetes(as_frame=True).frame
df.insert(0, "row_id", range(len(df)))
df.to_csv(sys.argv[1], index=False)
`
	out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", script, filepath.Join(dir, "diabetes.csv")).CombinedOutput()
	if err != nil {
		t.Fatalf("exporting the diabetes data: %v\n%s", err, out)
	}
	problem := `local tb = import 'trialbook.libsonnet';
tb.regression {
  name: 'diabetes',
  data: 'diabetes.csv',
  target: 'target',
  metric: 'rmse',
  validation: tb.kfold(3),
  holdout: 0.2,
  trials: ` + strconv.Itoa(trials) + `,
` + strings.Join(append(top, ""), ",\n") + `
  features: tb.features(ids=['row_id']),
  agent: tb.agents.` + kind + `('test-model') { fixAttempts: 2 ` + extra + ` },
  context: '` + e2eMarker + `',
}
`
	if err := os.WriteFile(filepath.Join(dir, "problem.jsonnet"), []byte(problem), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := specs.Load(context.Background(), dir, specs.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// Scripted trials, written against docs/trial-contract.md: the setup cell
// gives X, y, X_holdout, folds and hand_back.
func ridgeE2E(title string, alpha string) fakeprovider.Trial {
	return fakeprovider.Trial{
		Title: title,
		Plan:  "Ridge regression on all ten standardised measurements; a linear baseline.",
		Cells: []string{
			"import numpy as np\nfrom sklearn.linear_model import Ridge",
			"oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))\nfor tr, va in folds:\n    m = Ridge(alpha=" + alpha + ").fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va])\n    hold += m.predict(X_holdout) / len(folds)",
			"hand_back(oof, hold)",
		},
		Family: "ridge", Features: "none",
	}
}

// forestE2E's third cell raises; the first counts how often it ran, so the
// fix can show that earlier cells were not run again.
func forestE2E() fakeprovider.Trial {
	return fakeprovider.Trial{
		Title: "Random forest, shallow",
		Plan:  "A shallow random forest to catch interactions the ridge of trial 1 misses.",
		Cells: []string{
			"import numpy as np\nfrom sklearn.ensemble import RandomForestRegressor\nRUNS_OF_CELL_1 = globals().get('RUNS_OF_CELL_1', 0) + 1",
			"params = dict(n_estimators=25, max_depth=4, random_state=SEED, n_jobs=1)",
			"oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))\nfor tr, va in folds:\n    m = RandomForestRegressor(**params).fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va][['no_such_column']])",
			"hand_back(oof, hold)",
		},
		Family: "random_forest", Features: "none",
	}
}

const forestFix = "oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))\nfor tr, va in folds:\n    m = RandomForestRegressor(**params).fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va])\n    hold += m.predict(X_holdout) / len(folds)\nprint('cell 1 ran', RUNS_OF_CELL_1, 'time(s)')"

// e2eRun runs an experiment with an LLM agent against the fake provider.
func e2eRun(t *testing.T, p provider, dir string, prob *specs.Problem, venv string, srv *fakeprovider.Server, logs *bytes.Buffer, progress ...func(journal.Event, *journal.Snapshot)) (journal.Snapshot, agent.Agent, error) {
	t.Helper()
	t.Setenv(p.keyEnv, testKey)
	t.Setenv(p.baseEnv, p.baseURL(srv))
	cfg := agent.ConfigFromProblem(prob.Agent)
	if prob.Agent.Retry.Total == 0 {
		// Short waits, but room for a loaded machine: an attempt cut short
		// by the bound would take the next scripted answer.
		cfg.Retry = agent.RetryPolicy{Total: time.Minute, Attempt: 30 * time.Second, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	// The agent and lab log from several goroutines into one buffer.
	lw := &lockedWriter{w: logs}
	cfg.Log = zerolog.New(lw).Level(zerolog.DebugLevel)
	price := testPrice
	cfg.Price = &price
	ag, err := p.newAgt(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{Prefix: venv, Paths: []string{}})
	if err != nil {
		t.Skipf("no python3 kernelspec in %s: %v", venv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prof, err := specs.ProfileData(ctx, prob)
	if err != nil {
		t.Fatal(err)
	}
	md, err := specs.RenderAgentsMD(prob, prof)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := lab.Run(ctx, lab.Options{
		Dir: dir, Problem: prob, Agent: ag, AgentName: p.name, Spec: spec, Workers: 1,
		AgentsMD: md, Profile: prof.Markdown(), Log: zerolog.New(lw).Level(zerolog.DebugLevel),
		Progress: func(e journal.Event, s *journal.Snapshot) {
			for _, f := range progress {
				f(e, s)
			}
		},
	})
	return snap, ag, err
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestLLMExperimentEndToEnd runs a three-trial experiment on real kernels
// for each provider: a good trial, a trial whose third cell raises and is
// fixed in place, and a trial that comes after a 429 and a malformed answer.
func TestLLMExperimentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := repoVenv(t)
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			dir, prob := diabetesExperiment(t, venv, p.name, ", mode: 'whole'")
			srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model", Mention: []string{e2eMarker, "hand_back"}})
			defer srv.Close()
			srv.Play(
				fakeprovider.Answer(ridgeE2E("Ridge baseline", "1.0")),
				fakeprovider.Answer(forestE2E()),
				fakeprovider.Answer(fakeprovider.Fix{Source: forestFix, Note: "no_such_column is not a column; predict on X.iloc[va]"}),
				fakeprovider.Status(429, "1"),
				fakeprovider.Text("Let us try a stronger ridge."),
				fakeprovider.Answer(ridgeE2E("Ridge, stronger penalty", "10.0")),
			)
			var logs bytes.Buffer
			snap, ag, err := e2eRun(t, p, dir, prob, venv, srv, &logs)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range srv.Problems() {
				t.Errorf("fake %s provider: %s", p.name, pr)
			}
			if left := srv.Left(); left != 0 {
				t.Errorf("%d scripted answers were never asked for", left)
			}
			if snap.Status != journal.StatusFinished {
				t.Fatalf("status %s (%s), want finished", snap.Status, snap.Error)
			}
			if len(snap.Leaderboard) != 3 {
				t.Fatalf("%d trials, want 3", len(snap.Leaderboard))
			}
			for _, r := range snap.Leaderboard {
				if r.Status != "kept" && r.Status != "discarded" {
					t.Errorf("trial %d (%s) is %s: %s", r.Trial, r.Title, r.Status, r.Reason)
				}
				if r.Usage == nil || r.Usage.InputTokens == 0 || r.Usage.CostUSD == 0 {
					t.Errorf("trial %d usage %+v, want tokens and a cost", r.Trial, r.Usage)
				}
			}
			spent := ag.(llmAgent).Spent()
			if snap.Usage.InputTokens != spent.InputTokens || snap.Usage.OutputTokens != spent.OutputTokens {
				t.Errorf("journal usage %+v, agent spent %+v", snap.Usage, spent)
			}

			events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
			if err != nil {
				t.Fatal(err)
			}
			var sawError, sawFixed bool
			for _, e := range events {
				if e.Trial == 2 && e.Type == journal.CellError && e.Ename == "KeyError" {
					sawError = true
				}
				if e.Trial == 2 && e.Type == journal.CellFixed && e.Source == forestFix {
					sawFixed = true
				}
			}
			if !sawError || !sawFixed {
				t.Errorf("trial 2: cell.error %v, cell.fixed %v; want both", sawError, sawFixed)
			}
			checkFixedNotebook(t, filepath.Join(dir, snap.Leaderboard[rowOf(snap, 2)].Notebook))
			checkHoldoutSealed(t, dir, events, srv.Requests())

			reqs := srv.Requests()
			if len(reqs) != 6 {
				t.Fatalf("%d requests, want 6", len(reqs))
			}
			if reqs[2].Schema != "fix_cell" || !strings.Contains(reqs[2].Prompt(), "no_such_column") || !strings.Contains(reqs[2].Prompt(), "## Trial 2: Random forest") {
				t.Errorf("request 3 is not the fix of the failing cell: %s", reqs[2].Schema)
			}
			third := reqs[5].Prompt()
			for _, s := range []string{"Ridge baseline", "Random forest, shallow", "could not be used"} {
				if !strings.Contains(third, s) {
					t.Errorf("the third proposal's prompt lacks %q", s)
				}
			}

			// The key is in no file of the experiment and in no log line.
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				if err == nil && bytes.Contains(b, []byte(testKey)) {
					t.Errorf("%s contains the API key", path)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), testKey) {
				t.Error("the logs contain the API key")
			}
		})
	}
}

// checkHoldoutSealed checks that no holdout score of a finished trial
// appears in any request the agent sent after it finished, nor in any
// trial's plan (in the journal or in its notebook), in any of the ways a
// prompt or a plan would print it. A string that is also how a CV, fold or
// spread score prints is not evidence either way and is left out.
func checkHoldoutSealed(t *testing.T, dir string, events []journal.Event, reqs []fakeprovider.Request) {
	t.Helper()
	visible := map[string]bool{}
	var holdouts []float64
	for _, e := range events {
		if e.Type != journal.TrialFinished || e.Score == nil {
			continue
		}
		for _, v := range append([]float64{e.Score.CV, e.Score.CVStd}, e.Score.Folds...) {
			for _, s := range printings(v) {
				visible[s] = true
			}
		}
		if e.Score.Holdout != nil {
			holdouts = append(holdouts, *e.Score.Holdout)
		}
	}
	if len(holdouts) == 0 {
		t.Fatal("no trial was scored on the holdout: nothing to check")
	}
	var texts []string
	for _, r := range reqs {
		texts = append(texts, string(r.Body))
	}
	plans := 0
	for _, e := range events {
		if e.Type == journal.TrialProposed {
			texts = append(texts, e.Plan)
			plans++
			nb, err := os.ReadFile(filepath.Join(dir, e.Notebook))
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, string(nb)) // its plan, and its metadata's score

		}
	}
	if len(reqs) == 0 || plans == 0 {
		t.Fatalf("%d requests and %d plans: nothing to check", len(reqs), plans)
	}
	// The first request came before any score: what it holds (the data
	// profile's numbers) is not the holdout's.
	first := string(reqs[0].Body)
	for _, h := range holdouts {
		for _, s := range printings(h) {
			if visible[s] || strings.Contains(first, s) {
				continue
			}
			for _, txt := range texts {
				if strings.Contains(txt, s) {
					t.Errorf("the holdout score %s reached an agent or a plan: %.300s", s, txt[max(0, strings.Index(txt, s)-200):])
				}
			}
		}
	}
}

// printings are the ways a score is printed in prompts and plans.
func printings(v float64) []string {
	return []string{strconv.FormatFloat(v, 'g', -1, 64), fmt.Sprintf("%.6g", v), fmt.Sprintf("%.5g", v), fmt.Sprintf("%.4g", v)}
}

func rowOf(s journal.Snapshot, trial int) int {
	for i, r := range s.Leaderboard {
		if r.Trial == trial {
			return i
		}
	}
	return -1
}

// checkFixedNotebook checks that the notebook keeps the fixed cell, records
// the failed attempt, and that the fix ran in the same live kernel.
func checkFixedNotebook(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			CellType string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
			Metadata map[string]any  `json:"metadata"`
			Outputs  []struct {
				Text json.RawMessage `json:"text"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	text := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var lines []string
		_ = json.Unmarshal(raw, &lines)
		return strings.Join(lines, "")
	}
	fixedAt := -1
	for i, c := range nb.Cells {
		if c.CellType == "code" && text(c.Source) == forestFix {
			fixedAt = i
		}
	}
	if fixedAt < 0 {
		t.Fatalf("%s does not hold the fixed cell", path)
	}
	fixed := nb.Cells[fixedAt]
	meta, _ := json.Marshal(fixed.Metadata)
	if !strings.Contains(string(meta), "failed_attempts") || !strings.Contains(string(meta), "no_such_column") {
		t.Errorf("the fixed cell's metadata does not record the failed attempt: %s", meta)
	}
	var out string
	for _, o := range fixed.Outputs {
		out += text(o.Text)
	}
	if !strings.Contains(out, "cell 1 ran 1 time(s)") {
		t.Errorf("the fixed cell printed %q; want it to find the earlier cells' state, run once", out)
	}
	if fixedAt+1 >= len(nb.Cells) || nb.Cells[fixedAt+1].CellType != "markdown" || !strings.Contains(text(nb.Cells[fixedAt+1].Source), "fixed") {
		t.Errorf("no markdown note after the fixed cell")
	}
}

// TestLLMExperimentBudget runs an experiment whose first proposal the
// provider refuses (that trial fails, the experiment goes on) and whose
// token budget ends it cleanly after the second.
func TestLLMExperimentBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := repoVenv(t)
	p := providers()[0]
	// The fake counts four characters a token; a proposal's prompt is about
	// 2,300 tokens: the budget holds one proposal, not two.
	dir, prob := diabetesExperiment(t, venv, p.name, ", maxTokens: 2800, mode: 'whole'")
	srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model", Mention: []string{e2eMarker}})
	defer srv.Close()
	srv.Play(fakeprovider.Status(http.StatusBadRequest, ""), fakeprovider.Answer(ridgeE2E("Ridge baseline", "1.0")))
	var logs bytes.Buffer
	snap, _, err := e2eRun(t, p, dir, prob, venv, srv, &logs)
	if err != nil {
		t.Fatalf("the experiment failed: %v", err)
	}
	if snap.Status != journal.StatusFinished {
		t.Fatalf("status %s (%s), want finished", snap.Status, snap.Error)
	}
	if snap.Counts.Kept != 1 || snap.Counts.Failed != 1 || len(snap.Leaderboard) != 2 {
		t.Errorf("counts %+v, want one failed proposal and one kept trial", snap.Counts)
	}
	if i := rowOf(snap, 1); i < 0 || !strings.Contains(snap.Leaderboard[i].Reason, "HTTP 400") {
		t.Errorf("trial 1 should fail with the provider's reason: %+v", snap.Leaderboard)
	}
	events, err := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Type != journal.ExperimentFinished || !strings.Contains(last.Reason, "token budget") {
		t.Errorf("last event %s (%s), want experiment.finished naming the token budget", last.Type, last.Reason)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2: none once the budget cannot hold a proposal", n)
	}
}
