package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/specs"
)

func testSpec(t *testing.T) *kernel.Spec {
	t.Helper()
	py := venvPython(t)
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{Prefix: filepath.Dir(filepath.Dir(py)), Paths: []string{}})
	if err != nil {
		t.Skipf("no python3 kernelspec in the .venv: %v", err)
	}
	return spec
}

// Cells of scripted trials, written against docs/trial-contract.md.
const (
	ridgeCells = `from sklearn.linear_model import Ridge
import numpy as np
num = ["a", "b"]
oof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))
for tr, va in folds:
    m = Ridge(alpha=ALPHA).fit(X.iloc[tr][num], y.iloc[tr])
    oof[va] = m.predict(X.iloc[va][num])
    hold += m.predict(X_holdout[num]) / len(folds)`
	handBack = `hand_back(oof, hold)`
)

func ridgeTrial(title string, alpha float64) agent.Trial {
	return agent.Trial{Title: title, Plan: "Ridge on a and b.", Cells: []string{fmt.Sprintf("ALPHA = %g", alpha), ridgeCells, handBack}}
}

func toyExperiment(t *testing.T, n int) (string, *specs.Problem) {
	dir := t.TempDir()
	writeToyCSV(t, filepath.Join(dir, "toy.csv"), n, specs.Regression)
	p := toyProblem(dir, specs.Regression, "kfold")
	p.Validation.Folds = 3
	p.Agent.FixAttempts = 2
	p.Budget.Trials = 10
	return dir, p
}

// TestRunScriptedTrials runs good, fixable and broken trials in real kernels
// and checks the journal, the notebooks and the scores against scikit-learn.
func TestRunScriptedTrials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir, p := toyExperiment(t, 120)
	ag := &agent.Scripted{
		Trials: []agent.Trial{
			ridgeTrial("ridge strong", 100),
			{Title: "ridge with a typo", Plan: "A typo the agent fixes.", Cells: []string{"ALPHA = 1.0", strings.Replace(ridgeCells, "Ridge(alpha", "Ridgee(alpha", 1), handBack}},
			{Title: "nan predictions", Cells: []string{"import numpy as np\noof = np.full(len(X), np.nan); hold = np.zeros(len(X_holdout))", handBack}},
			{Title: "no hand-back", Cells: []string{"for i in range(3000):\n    print('line', i)"}},
			{Title: "wrong length", Cells: []string{"import numpy as np\nnp.save(ARTIFACTS / 'oof.npy', np.zeros(3)); np.save(ARTIFACTS / 'holdout.npy', np.zeros(len(X_holdout)))"}},
			{Title: "kernel dies", Cells: []string{"import os\nos._exit(3)"}},
		},
		FixFunc: func(f agent.FixRequest) (agent.Fix, error) {
			if f.Ename == "NameError" {
				return agent.Fix{Source: strings.Replace(f.Source, "Ridgee", "Ridge", 1), Note: "typo", Usage: agent.Usage{InputTokens: 10, OutputTokens: 5}}, nil
			}
			return agent.Fix{}, fmt.Errorf("%w: %s", agent.ErrCannotFix, f.Evalue)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Workers: 2, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := snap.Status, journal.StatusFinished; got != want {
		t.Errorf("status %s, want %s", got, want)
	}
	want := map[int]string{1: "kept|discarded", 2: "kept|discarded", 3: "failed", 4: "failed", 5: "failed", 6: "failed"}
	reasons := map[int]string{3: "NaN", 4: "no predictions were handed back", 5: "out-of-fold predictions have 3 rows", 6: "kernel died"}
	for _, r := range snap.Leaderboard {
		if !strings.Contains(want[r.Trial], r.Status) {
			t.Errorf("trial %d (%s) is %s (%s), want %s", r.Trial, r.Title, r.Status, r.Reason, want[r.Trial])
		}
		if w := reasons[r.Trial]; w != "" && !strings.Contains(r.Reason, w) {
			t.Errorf("trial %d failed with %q, want it to say %q", r.Trial, r.Reason, w)
		}
	}
	if snap.Counts.Kept < 1 || snap.Best == nil {
		t.Errorf("no trial kept: %+v", snap.Counts)
	}
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	checkDecisions(t, events)
	kernels := map[int]journal.Event{}
	var sawError, sawFixed, sawDied bool
	var lastOutput *journal.Event
	for _, e := range events {
		if e.Type == journal.KernelStarted {
			kernels[e.Trial] = e
		}
		if e.Trial == 4 && e.Type == journal.CellOutput {
			lastOutput = &e
		}
		if e.Trial == 6 && e.Type == journal.KernelDied {
			sawDied = true
		}
		if e.Trial == 2 && e.Type == journal.CellError && e.Ename == "NameError" {
			sawError = true
		}
		if e.Trial == 2 && e.Type == journal.CellFixed {
			sawFixed = true
			if e.Usage == nil || e.Usage.InputTokens != 10 {
				t.Errorf("cell.fixed usage %+v, want the fix's tokens", e.Usage)
			}
		}
	}
	if !sawDied {
		t.Error("no kernel.died event for trial 6")
	}
	// The panel gets the tail of what a cell printed, bounded, up to its
	// last line.
	if lastOutput == nil || len(lastOutput.Text) > journal.OutputTail || !strings.HasSuffix(lastOutput.Text, "\nline 2999\n") {
		t.Errorf("trial 4's last cell.output = %+v, want at most %d bytes ending with the last line printed", lastOutput, journal.OutputTail)
	}
	for n := 1; n <= 6; n++ {
		if k, ok := kernels[n]; !ok || k.Kernel == "" {
			t.Errorf("trial %d: kernel.started %+v, want one with the kernel's id", n, k)
		}
	}
	if !sawError || !sawFixed {
		t.Errorf("trial 2: cell.error %v, cell.fixed %v; want both", sawError, sawFixed)
	}
	if got := len(ag.FixRequests()); got < 2 {
		t.Errorf("%d fix requests, want at least 2 (the typo and the NaN)", got)
	}
	// The notebooks are valid nbformat, the fix is recorded, and the scores
	// are what scikit-learn computes from the saved predictions.
	out := runPython(t, `
import glob, json, sys, nbformat, numpy as np
from sklearn.metrics import root_mean_squared_error as rmse
d = sys.argv[1]
labels = json.load(open(d + "/.trialbook/labels.json"))
folds = json.load(open(d + "/data/folds.json"))
ytr = np.array(labels["train"], float); yho = np.array(labels["holdout"], float)
res = {"valid": [], "scores": {}, "notes": 0, "failed_attempts": 0, "untimed": []}
keys = {"iopub.status.busy", "iopub.execute_input", "shell.execute_reply", "iopub.status.idle"}
for f in sorted(glob.glob(d + "/trials/*.ipynb")):
    nb = nbformat.read(f, as_version=4)
    nbformat.validate(nb)
    res["valid"].append(f)
    for c in nb.cells:
        tb = c.metadata.get("trialbook", {})
        res["notes"] += tb.get("role") == "fix-note"
        res["failed_attempts"] += len(tb.get("failed_attempts", []))
        # nbclient's timing keys on every cell that ran to its end (a cell
        # whose kernel died never got its reply).
        died = any(o.get("ename") == "DeadKernelError" for o in c.get("outputs", []))
        if c.cell_type == "code" and c.get("execution_count") and not died and not keys <= set(c.metadata.get("execution", {})):
            res["untimed"].append("%s cell %s: %s" % (f, c.id, sorted(c.metadata.get("execution", {}))))
for n in (1, 2):
    oof = np.load(d + "/trials/%03d/oof.npy" % n); ho = np.load(d + "/trials/%03d/holdout.npy" % n)
    per = [rmse(ytr[f["valid"]], oof[f["valid"]]) for f in folds]
    res["scores"][n] = {"cv": float(np.mean(per)), "holdout": float(rmse(yho, ho))}
print(json.dumps(res))
`, dir)
	var res struct {
		Valid          []string
		Scores         map[string]struct{ CV, Holdout float64 }
		Notes          int
		FailedAttempts int `json:"failed_attempts"`
		Untimed        []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Valid) != 6 {
		t.Errorf("%d notebooks validated, want 6", len(res.Valid))
	}
	if len(res.Untimed) > 0 {
		t.Errorf("cells without nbclient's metadata.execution keys: %s", res.Untimed)
	}
	if res.Notes < 1 || res.FailedAttempts < 1 {
		t.Errorf("fix notes %d, failed attempts in metadata %d; want both recorded", res.Notes, res.FailedAttempts)
	}
	for _, n := range []int{1, 2} {
		row, _ := snap.Trial(n)
		sk := res.Scores[fmt.Sprint(n)]
		if row.Score == nil || abs(row.Score.CV-sk.CV) > 1e-9*sk.CV || abs(*row.Score.Holdout-sk.Holdout) > 1e-9*sk.Holdout {
			t.Errorf("trial %d: harness score %+v, scikit-learn says CV %v holdout %v", n, row.Score, sk.CV, sk.Holdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".trialbook", "labels.json")); err != nil {
		t.Error(err)
	}
}

// checkDecisions replays the journal's decisions in the order they were
// made (with workers, the order trials finished, not their numbers): each
// must be what the keep rule says against the best before it, and each
// names the best after it.
func checkDecisions(t *testing.T, events []journal.Event) {
	t.Helper()
	m, err := LookupMetric("rmse")
	if err != nil {
		t.Fatal(err)
	}
	var best *journal.Score
	bestN := 0
	decided := 0
	for _, e := range events {
		if e.Type != journal.TrialKept && e.Type != journal.TrialDiscarded {
			continue
		}
		decided++
		keep, _ := Decide(m, e.Score, bestN, best)
		if keep != (e.Type == journal.TrialKept) {
			t.Errorf("seq %d: trial %d was %s against trial %d's %+v; the keep rule says keep=%v", e.Seq, e.Trial, e.Type, bestN, best, keep)
		}
		if keep {
			best, bestN = e.Score, e.Trial
		}
		if e.Best != bestN {
			t.Errorf("seq %d: %s names trial %d as the best, want %d", e.Seq, e.Type, e.Best, bestN)
		}
	}
	if decided == 0 {
		t.Error("no trial was decided")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestInterruptAndResume stops a run while a cell runs (as Ctrl-C does),
// then runs again: the stopped trial is marked interrupted and proposed
// again, and nothing finished is redone.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir, p := toyExperiment(t, 80)
	p.Budget.Trials = 2
	slow := agent.Trial{Title: "slow", Cells: []string{"import threading\nthreading.Event().wait(600)"}}
	ag := &agent.Scripted{Trials: []agent.Trial{ridgeTrial("ridge", 1), slow}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := func(e journal.Event, s *journal.Snapshot) {
		if e.Type == journal.CellStarted && e.Trial == 2 && *e.Cell == 2 {
			cancel()
		}
	}
	snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Progress: progress, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Status != journal.StatusPaused {
		t.Errorf("status %s, want paused", snap.Status)
	}
	if row, _ := snap.Trial(2); row.Status != journal.TrialStatusInterrupted {
		t.Errorf("trial 2 is %s, want interrupted", row.Status)
	}
	// The second run re-proposes the slow trial; this time it is quick.
	ag.Trials[1] = ridgeTrial("ridge weak", 1000)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel2()
	snap, err = Run(ctx2, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	c := snap.Counts
	if c.Kept+c.Discarded != 2 || c.Interrupted != 1 || snap.Status != journal.StatusFinished {
		t.Errorf("after resume: %+v, status %s; want 2 scored, 1 interrupted, finished", c, snap.Status)
	}
	if row, _ := snap.Trial(3); row.Title != "ridge weak" || row.Score == nil {
		t.Errorf("trial 3 is %+v, want the re-proposed trial, scored", row)
	}
	if err := context.Cause(ctx2); err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

// TestCellTimeLimit fails a trial whose cell runs past the problem's
// per-cell limit, restarts a kernel that ignores the interrupt, and the next
// trial still runs; kernel.started names the GPU the kernel was given.
func TestCellTimeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir, p := toyExperiment(t, 60)
	// Generous enough for the setup cell's imports on a busy machine.
	p.Budget.CellTime = 8 * time.Second
	ag := &agent.Scripted{Trials: []agent.Trial{
		{Title: "stuck", Cells: []string{"import threading\nthreading.Event().wait(600)"}},
		{Title: "deaf", Cells: []string{"import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)"}},
		{Title: "mean", Cells: []string{"oof = np.full(len(X), y.mean()); hold = np.full(len(X_holdout), y.mean())", handBack}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, GPUs: []string{"7"}, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	row, _ := snap.Trial(1)
	if row.Status != journal.TrialStatusFailed || !strings.Contains(row.Reason, "per-cell time limit of 8s") {
		t.Errorf("trial 1: %s (%s), want failed on the per-cell limit", row.Status, row.Reason)
	}
	// A cell that ignores the interrupt gets its kernel restarted.
	row, _ = snap.Trial(2)
	if row.Status != journal.TrialStatusFailed || !strings.Contains(row.Reason, "per-cell time limit of 8s") {
		t.Errorf("trial 2: %s (%s), want failed on the per-cell limit", row.Status, row.Reason)
	}
	if row, _ := snap.Trial(3); row.Status != journal.TrialStatusKept {
		t.Errorf("trial 3: %s (%s), want kept", row.Status, row.Reason)
	}
	events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	restarted := map[int]string{}
	started := map[int]string{}
	for _, e := range events {
		switch e.Type {
		case journal.KernelRestarted:
			restarted[e.Trial] = e.Kernel
		case journal.KernelStarted:
			started[e.Trial] = e.Kernel
			if e.GPU != "7" {
				t.Errorf("trial %d: kernel.started on GPU %q, want the 7 in CUDA_VISIBLE_DEVICES", e.Trial, e.GPU)
			}
		}
	}
	if _, ok := restarted[1]; ok {
		t.Error("trial 1's kernel was restarted, though the interrupt stopped its cell")
	}
	if k, ok := restarted[2]; !ok || k != started[2] {
		t.Errorf("trial 2: kernel.restarted for %q (started %q), want one for its kernel", k, started[2])
	}
}
