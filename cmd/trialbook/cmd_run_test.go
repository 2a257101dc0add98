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
	"strings"
	"testing"

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

// TestKillAndResume kills `trialbook run` with SIGKILL while its second trial
// runs, runs it again, and checks that it ends with the budgeted number of
// finished trials, none repeated, every notebook valid, and that a finished
// notebook re-executes with nbclient to the same predictions.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	root := repoRoot(t)
	dir := smallExperiment(t)
	cmd := exec.Command(os.Args[0], "run", dir, "--trials", "4")
	cmd.Env = append(os.Environ(), "TRIALBOOK_TEST_MAIN=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "trial 2 started") {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the first run ended before trial 2 started")
	}

	var stdout, stderr bytes.Buffer
	if code := mainCode([]string{"run", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("resume exited %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	events, err := journal.ReadFile(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s := journal.Fold(events)
	c := s.Counts
	if done := c.Kept + c.Discarded + c.Failed; done != 4 {
		t.Errorf("%d finished trials after resume, want 4 (%+v)\n%s", done, c, stdout.String())
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
	// `trialbook status` shows the same leaderboard.
	stdout.Reset()
	if code := mainCode([]string{"status", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), s.Best.Title) {
		t.Errorf("status exited %d:\n%s", code, stdout.String())
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
