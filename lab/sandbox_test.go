package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
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

// requireSandbox fails (never skips) a test on a host that cannot sandbox.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := kernel.SandboxCheck(context.Background(), nil); err != nil {
		t.Fatalf("this host cannot sandbox kernels, so this sandbox test fails rather than skip: %v", err)
	}
}

// TestSandboxedBuiltinSameScores runs the built-in strategist on the same
// problem sandboxed and not: every trial scores the same.
func TestSandboxedBuiltinSameScores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	requireSandbox(t)
	spec := testSpec(t)
	scores := map[string]map[int]float64{}
	for _, mode := range []string{"required", "off"} {
		dir := t.TempDir()
		writeToyCSV(t, filepath.Join(dir, "toy.csv"), 150, specs.Regression)
		file := filepath.Join(dir, "problem.jsonnet")
		src := "local tb = import 'trialbook.libsonnet';\n\ntb.regression { data: 'toy.csv', target: 'y', metric: 'rmse', validation: tb.kfold(3), features: tb.features(ids=['Id']), holdout: 0.2, seed: 5, kernel: tb.kernel(sandbox='" + mode + "') }\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		p, ag := loadBuiltin(ctx, t, file, dir)
		c, err := Confine(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Sandboxed != (mode == "required") {
			t.Fatalf("sandbox=%s: confinement %+v", mode, c)
		}
		snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "builtin", Spec: spec, Trials: 3, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		scores[mode] = map[int]float64{}
		for _, r := range snap.Leaderboard {
			if r.Score == nil {
				t.Fatalf("sandbox=%s: trial %d (%s) is %s: %s", mode, r.Trial, r.Title, r.Status, r.Reason)
			}
			scores[mode][r.Trial] = r.Score.CV
		}
		events, err := journal.ReadFile(filepath.Join(dir, JournalFile))
		if err != nil {
			t.Fatal(err)
		}
		notice := ""
		for _, e := range events {
			if e.Type == journal.ExperimentStarted {
				var d struct{ Sandbox string }
				if err := json.Unmarshal(e.Data, &d); err != nil {
					t.Fatalf("experiment.started data %s: %v", e.Data, err)
				}
				notice = d.Sandbox
			}
		}
		want := map[string]string{"required": "trial kernels are sandboxed", "off": "trial kernels are NOT sandboxed: sandbox is off in the problem"}[mode]
		if !strings.Contains(notice, want) {
			t.Errorf("sandbox=%s: experiment.started says %q, want %q", mode, notice, want)
		}
		if fi, err := os.Stat(filepath.Join(dir, ".trialbook")); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf(".trialbook: %v, %v; want mode 0700", fi.Mode(), err)
		}
	}
	if len(scores["required"]) != 3 {
		t.Fatalf("sandboxed scores %v, want 3 trials", scores["required"])
	}
	for n, cv := range scores["off"] {
		if got := scores["required"][n]; got != cv {
			t.Errorf("trial %d: CV %v sandboxed, %v not", n, got, cv)
		}
	}
}

// TestMemoryCapFailsOneTrial runs two trials at once, one of which
// allocates past the memory cap: it fails saying so, and the other (and
// the experiment) carry on.
func TestMemoryCapFailsOneTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	requireSandbox(t)
	spec := testSpec(t)
	dir, p := toyExperiment(t, 120)
	p.Kernel = specs.Kernel{Sandbox: specs.SandboxRequired, Transport: "ipc", Memory: 400 << 20, Processes: 48}
	ag := &agent.Scripted{Trials: []agent.Trial{
		{Title: "hog", Plan: "Allocate 2 GiB.", Cells: []string{"hog = b'1' * (2 << 30)", handBack}},
		ridgeTrial("ridge", 1),
		{Title: "fork bomb", Plan: "Fork until refused.", Cells: []string{`import os, time
kids = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
finally:
    for pid in kids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)`, handBack}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Workers: 2, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Status != journal.StatusFinished {
		t.Errorf("status %s, want finished", snap.Status)
	}
	for _, r := range snap.Leaderboard {
		switch r.Trial {
		case 1:
			if r.Status != journal.TrialStatusFailed || !strings.Contains(r.Reason, "memory cap of 400 MiB") {
				t.Errorf("the hog is %s: %q; want failed past the memory cap of 400 MiB", r.Status, r.Reason)
			}
		case 2:
			if r.Score == nil {
				t.Errorf("the ridge trial is %s: %q; want it scored", r.Status, r.Reason)
			}
		case 3:
			if r.Status != journal.TrialStatusFailed || !strings.Contains(r.Reason, "BlockingIOError") || !strings.Contains(r.Reason, "process cap of 48") {
				t.Errorf("the fork bomb is %s: %q; want failed on BlockingIOError at the process cap", r.Status, r.Reason)
			}
		}
	}
}

// TestHarnessKernelsConfinedLikeTrials checks that the report's and
// predict's kernels, which unpickle agents' models, are sandboxed where the
// trials are, and not where they are not.
func TestHarnessKernelsConfinedLikeTrials(t *testing.T) {
	requireSandbox(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		mode string
		want bool
	}{{specs.SandboxRequired, true}, {specs.SandboxOff, false}} {
		p := &specs.Problem{File: "problem.jsonnet", Kernel: specs.Kernel{Sandbox: tc.mode, Transport: "ipc", Memory: 0, Processes: 0}}
		o, sandboxed, err := harnessKernelOptions(context.Background(), p, dir, []string{dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sandboxed != tc.want || (o.Sandbox != nil) != tc.want || !o.CleanEnv {
			t.Errorf("sandbox=%s: sandboxed %v, options %+v; want sandboxed %v and a clean environment", tc.mode, sandboxed, o, tc.want)
		}
	}
	if o, sandboxed, err := harnessKernelOptions(context.Background(), nil, dir, nil, nil); err != nil || sandboxed || o.Sandbox != nil {
		t.Errorf("no problem: %+v, %v, %v; want unsandboxed", o, sandboxed, err)
	}
}

// TestTrialCellsAttack runs, as a trial of a real experiment, a cell that
// tries what an agent's code could: read the sealed labels, reach a
// service on the host's loopback, read a planted API key, write to the home
// directory and to data/. It reports what got through by the error it
// raises, which is the trial's failure reason.
func TestTrialCellsAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	requireSandbox(t)
	spec := testSpec(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Setenv("OPENAI_API_KEY", "sk-planted")
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	homeFile := filepath.Join(home, fmt.Sprintf(".trialbook-attack-%d", os.Getpid()))
	t.Cleanup(func() { os.Remove(homeFile) })
	attack := fmt.Sprintf(`import os, socket
leaks = []
try:
    open(".trialbook/labels.json").read(); leaks.append("labels")
except OSError:
    pass
try:
    socket.create_connection(("127.0.0.1", %d), timeout=5); leaks.append("loopback")
except OSError:
    pass
if os.environ.get("OPENAI_API_KEY"):
    leaks.append("key")
for p in [%q, "data/train.csv", "trials/001/x"]:
    try:
        open(p, "a").write("x"); leaks.append("wrote " + p)
    except OSError:
        pass
raise RuntimeError("sandbox verdict: " + (",".join(leaks) or "sealed"))`, ln.Addr().(*net.TCPAddr).Port, homeFile)
	for _, tc := range []struct {
		mode, want string
	}{
		{specs.SandboxRequired, "sandbox verdict: sealed"},
		{specs.SandboxOff, "sandbox verdict: labels,loopback,wrote"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			dir, p := toyExperiment(t, 60)
			p.Kernel = specs.Kernel{Sandbox: tc.mode, Transport: "ipc", Memory: 0, Processes: 0}
			ag := &agent.Scripted{Trials: []agent.Trial{ridgeTrial("ridge", 1), {Title: "attack", Cells: []string{attack, handBack}}}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			snap, err := Run(ctx, Options{Dir: dir, Problem: p, Agent: ag, AgentName: "scripted", Spec: spec, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			row, _ := snap.Trial(2)
			if row.Status != journal.TrialStatusFailed || !strings.Contains(row.Reason, tc.want) {
				t.Errorf("the attack is %s: %q; want %q", row.Status, row.Reason, tc.want)
			}
			// The key never reaches a trial kernel, sandboxed or not.
			if strings.Contains(row.Reason, "key") {
				t.Errorf("the planted API key reached the kernel: %q", row.Reason)
			}
			os.Remove(homeFile)
		})
	}
}
