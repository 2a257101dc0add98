package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"trialbook/journal"
)

// TestMain lets a test run this binary's main in a child process (to kill it).
func TestMain(m *testing.M) {
	if os.Getenv("TRIALBOOK_TEST_MAIN") == "1" {
		os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// repoRoot is the folder holding go.mod; it skips the test when that folder
// has no .venv (run make setup).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, ".venv", "bin", "python")); err != nil {
				t.Skip("no .venv: run make setup")
			}
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Skip("no go.mod above the test")
		}
		dir = filepath.Dir(dir)
	}
}

// smallExperiment writes a regression problem over 240 synthetic rows.
func smallExperiment(t *testing.T) string {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("Id,area,rooms,hood,price\n")
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 240; i++ {
		area, rooms := 50+rng.Float64()*150, 1+rng.IntN(5)
		hood := []string{"north", "south", "east", "NA"}[rng.IntN(4)]
		price := math.Exp(10 + area/100 + float64(rooms)/10 + rng.NormFloat64()*0.2)
		fmt.Fprintf(&b, "%d,%.1f,%d,%s,%.0f\n", i+1, area, rooms, hood, price)
	}
	os.WriteFile(filepath.Join(dir, "homes.csv"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "problem.jsonnet"), []byte(`local tb = import 'trialbook.libsonnet';
tb.regression {
  name: 'homes',
  data: 'homes.csv',
  target: 'price',
  metric: 'rmse',
  validation: tb.kfold(3),
  holdout: 0.2,
  trials: 4,
  features: tb.features(ids=['Id']),
}
`), 0o644)
	return dir
}

// runAndSignal starts `trialbook run DIR ARGS...` in a child process of its
// own process group and, at the first "trial N started" it prints once
// after has passed, sends sig: SIGKILL to the process alone (kill -9),
// SIGINT to the group (Ctrl-C in a terminal); trial 0 means any trial. It
// returns what the run printed and fails the test if no such trial started.
func runAndSignal(t *testing.T, dir string, trial int, after time.Duration, sig syscall.Signal, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"run", dir}, args...)...)
	cmd.Env = append(os.Environ(), "TRIALBOOK_TEST_MAIN=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	sc := bufio.NewScanner(out)
	sent := false
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		m := trialStarted.FindStringSubmatch(sc.Text())
		if sent || m == nil || (trial > 0 && m[1] != strconv.Itoa(trial)) || time.Since(start) < after {
			continue
		}
		pid := cmd.Process.Pid
		if sig == syscall.SIGINT {
			pid = -pid
		}
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		sent = true
		if sig == syscall.SIGKILL {
			break
		}
	}
	cmd.Wait()
	if !sent {
		t.Fatalf("the run ended before trial %d started past %s:\n%s", trial, after, printed.String())
	}
	return printed.String()
}

var trialStarted = regexp.MustCompile(`^trial (\d+) started`)

// foldJournal reads and folds dir's journal.
func foldJournal(t *testing.T, dir string) ([]journal.Event, journal.Snapshot) {
	t.Helper()
	events, err := journal.ReadFile(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return events, journal.Fold(events)
}

// rerun runs `trialbook run DIR ARGS...` in this process to its end and
// checks that it exits 0 and that its first line starts with want.
func rerun(t *testing.T, dir, want string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := mainCode(append([]string{"run", dir}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("trialbook run %s %v exited %d: %s\n%s", dir, args, code, stderr.String(), stdout.String())
	}
	if first, _, _ := strings.Cut(stdout.String(), "\n"); !strings.HasPrefix(first, want) {
		t.Errorf("trialbook run %s %v: first line %q, want it to start %q", dir, args, first, want)
	}
	return stdout.String()
}

// TestKillAndResume kills `trialbook run --trials 3` with SIGKILL while its
// second trial runs (the problem's budget is 4), runs it again plainly, and
// checks that it resumes under --trials 3: 3 trials done of 3, the killed
// one counted apart, none repeated, every notebook valid, and that a
// finished notebook re-executes with nbclient to the same predictions.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	root := repoRoot(t)
	dir := smallExperiment(t)
	first := runAndSignal(t, dir, 2, 0, syscall.SIGKILL, "--trials", "3")
	if !strings.HasPrefix(first, "starting with --trials 3, no time limit") {
		t.Errorf("the first run began:\n%s", first)
	}
	if _, s := foldJournal(t, dir); s.Counts.Done >= 3 {
		t.Fatalf("killed after %d trials, want it killed during one of the first three", s.Counts.Done)
	}
	out := rerun(t, dir, "resuming under the budget it was started with: --trials 3, no time limit", "--no-report")
	// The second line says how trial kernels are confined.
	if lines := strings.SplitN(out, "\n", 3); len(lines) < 2 || !strings.HasPrefix(lines[1], "trial kernels are sandboxed: no network") {
		t.Errorf("the run's second line is not the sandbox notice:\n%s", out)
	}
	events, s := foldJournal(t, dir)
	c := s.Counts
	if c.Kept+c.Discarded+c.Failed != 3 || c.Done != 3 || c.Total != 3 || c.Interrupted != 1 {
		t.Errorf("after resume: %+v, want 3 done of 3 and 1 interrupted apart\n%s", c, out)
	}
	if row, _ := s.Trial(2); row.Status != journal.TrialStatusInterrupted {
		t.Errorf("trial 2 (killed) is %s, want interrupted", row.Status)
	}
	ideas := map[string]int{}
	for _, e := range events {
		if e.Type != journal.TrialProposed {
			continue
		}
		row, _ := s.Trial(e.Trial)
		if row.Status == journal.TrialStatusInterrupted {
			continue
		}
		var d struct{ Tags map[string]string }
		json.Unmarshal(e.Data, &d)
		if prev, ok := ideas[d.Tags["idea"]]; ok {
			t.Errorf("trials %d and %d both ran %s", prev, e.Trial, d.Tags["idea"])
		}
		ideas[d.Tags["idea"]] = e.Trial
	}
	if s.Best == nil || s.Best.Score == nil {
		t.Fatalf("no best trial: %+v", s.Leaderboard)
	}
	// `trialbook status` shows the same leaderboard and counts.
	var stdout, stderr bytes.Buffer
	if code := mainCode([]string{"status", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), s.Best.Title) ||
		!strings.Contains(stdout.String(), "3 done of 3") || !strings.Contains(stdout.String(), "1 interrupted") {
		t.Errorf("status exited %d, want the best trial, 3 done of 3 and 1 interrupted:\n%s", code, stdout.String())
	}
	py := exec.Command(filepath.Join(root, ".venv", "bin", "python"), "-c", `
import glob, json, sys, nbformat, numpy as np
from nbclient import NotebookClient
from sklearn.metrics import root_mean_squared_error as rmse
d, best, cv = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
for f in glob.glob(d + "/trials/*.ipynb"):
    nbformat.validate(nbformat.read(f, as_version=4))
path = glob.glob(d + "/trials/%03d-*.ipynb" % best)[0]
art = d + "/trials/%03d" % best
before = np.load(art + "/oof.npy")
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": d + "/trials"}}).execute()
after = np.load(art + "/oof.npy")
assert np.allclose(before, after, rtol=1e-9, atol=0), "re-executed predictions differ"
labels = np.array(json.load(open(d + "/.trialbook/labels.json"))["train"], float)
folds = json.load(open(d + "/data/folds.json"))
got = float(np.mean([rmse(labels[f["valid"]], after[f["valid"]]) for f in folds]))
assert abs(got - cv) <= 1e-9 * cv, (got, cv)
print("reproduced", got)
`, dir, fmt.Sprint(s.Best.Trial), fmt.Sprintf("%.17g", s.Best.Score.CV))
	py.Env = append(os.Environ(), "JUPYTER_PATH="+filepath.Join(root, ".venv", "share", "jupyter"))
	if b, err := py.CombinedOutput(); err != nil {
		t.Errorf("re-executing the best notebook: %v\n%s", err, b)
	}
}

// TestTimeBudgetSurvivesKill kills `trialbook run --time 45s` with SIGKILL
// during a trial some 20 s in, runs it again plainly, and checks that the
// re-run keeps --time 45s and counts the running time the journal has from
// before the kill: it stops after what was left, not after 45 s more.
func TestTimeBudgetSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	repoRoot(t)
	dir := smallExperiment(t)
	const budget = 45 * time.Second
	runAndSignal(t, dir, 0, 20*time.Second, syscall.SIGKILL, "--trials", "50", "--time", "45s")
	events, _ := foldJournal(t, dir)
	// The running time before the kill, as the journal has it: from
	// experiment.started to its last event.
	var started time.Time
	for _, e := range events {
		if e.Type == journal.ExperimentStarted {
			started = e.Time
		}
	}
	before := events[len(events)-1].Time.Sub(started)
	if before < 15*time.Second {
		t.Fatalf("the journal has only %s of running time before the kill; want at least 15s to tell the runs apart", before)
	}
	rerun(t, dir, "resuming under the budget it was started with: --trials 50, --time 45s", "--no-report")
	events, s := foldJournal(t, dir)
	var resumed, spent, ended journal.Event
	for _, e := range events {
		switch {
		case e.Type == journal.ExperimentResumed:
			resumed = e
		case e.Type == journal.TrialInterrupted && strings.Contains(e.Reason, "time budget") && spent.Seq == 0:
			spent = e // the trial the deadline stopped
		case e.Type == journal.ExperimentFinished || e.Type == journal.ExperimentPaused || e.Type == journal.ExperimentFailed:
			ended = e
		}
	}
	if ended.Type != journal.ExperimentFinished || !strings.Contains(ended.Reason, "time budget of 45s is spent") {
		t.Fatalf("the re-run ended with %s (%s), want finished on the time budget", ended.Type, ended.Reason)
	}
	if spent.Seq == 0 {
		spent = ended // no trial was running at the deadline
	}
	// What was left, plus time to interrupt the running cell.
	const slack = 10 * time.Second
	again := spent.Time.Sub(resumed.Time)
	t.Logf("%s running before the kill, %s after it", before.Round(time.Second), again.Round(time.Second))
	if again > budget-before+slack {
		t.Errorf("the re-run ran %s after %s before the kill; want about the %s left of --time 45s", again.Round(time.Second), before.Round(time.Second), (budget - before).Round(time.Second))
	}
	if el := time.Duration(s.Elapsed); el < budget {
		t.Errorf("elapsed %s over both runs, want at least the 45s budget", el)
	}
	if c := s.Counts; c.Interrupted < 1 || c.Done > c.Total {
		t.Errorf("counts %+v: want the killed trial interrupted and done ≤ total", c)
	}
}

// TestCtrlCThenResume stops `trialbook run --trials 2` with SIGINT to its
// process group (Ctrl-C) while trial 2 runs; a plain re-run resumes under
// --trials 2; a re-run with --trials 3 says so in its first line and runs
// one more; a re-run with fewer trials than done is refused.
func TestCtrlCThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	repoRoot(t)
	dir := smallExperiment(t)
	out := runAndSignal(t, dir, 2, 0, syscall.SIGINT, "--trials", "2")
	if !strings.Contains(out, "Stopped. Resume with: trialbook run "+dir) {
		t.Errorf("after Ctrl-C the run printed:\n%s", out)
	}
	_, s := foldJournal(t, dir)
	if s.Status != journal.StatusPaused || s.Counts.Interrupted != 1 {
		t.Fatalf("after Ctrl-C: status %s, counts %+v; want paused with 1 trial interrupted", s.Status, s.Counts)
	}

	rerun(t, dir, "resuming under the budget it was started with: --trials 2, no time limit", "--no-report")
	if _, s = foldJournal(t, dir); s.Status != journal.StatusFinished || s.Counts.Done != 2 || s.Counts.Total != 2 {
		t.Fatalf("after a plain re-run: status %s, counts %+v; want finished, 2 done of 2", s.Status, s.Counts)
	}

	rerun(t, dir, "resuming with --trials 3 instead of 2", "--no-report", "--trials", "3")
	_, s = foldJournal(t, dir)
	if c := s.Counts; s.Status != journal.StatusFinished || c.Done != 3 || c.Total != 3 || c.Interrupted != 1 {
		t.Fatalf("after --trials 3: status %s, counts %+v; want finished, 3 done of 3, 1 interrupted", s.Status, c)
	}

	var stdout, stderr bytes.Buffer
	if code := mainCode([]string{"run", dir, "--trials", "2"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "--trials 2: this experiment has already done 3 trials; give --trials 3 or more") {
		t.Errorf("--trials 2 after 3 done: exit %d, stderr %q; want a refusal", code, stderr.String())
	}
	stdout.Reset()
	if code := mainCode([]string{"status", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "3 done of 3 (") || !strings.Contains(stdout.String(), "· 1 interrupted") {
		t.Errorf("status exited %d:\n%s", code, stdout.String())
	}
}
