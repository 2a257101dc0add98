package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trialbook/specs"
)

const specsTestdata = "../../specs/testdata"

// runCLI runs trialbook with args as main would and returns its exit code,
// stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := mainCode(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckBadProblems runs the table of bad problem files through the CLI:
// each exits 1 with exactly the message in its golden .err file.
func TestCheckBadProblems(t *testing.T) {
	files, err := filepath.Glob(specsTestdata + "/bad/*.jsonnet")
	if err != nil || len(files) < 15 {
		t.Fatalf("want the bad problems of specs/testdata/bad, got %d (%v)", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonnet")
		t.Run(name, func(t *testing.T) {
			golden, err := os.ReadFile(strings.TrimSuffix(file, ".jsonnet") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			// The golden messages name files as the specs tests do, from specs/.
			msg := strings.ReplaceAll(string(golden), "testdata/", specsTestdata+"/")
			for _, cmd := range []string{"check", "agents-md"} {
				code, stdout, stderr := runCLI(cmd, file)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1", cmd, code)
				}
				if want := "trialbook " + cmd + ": " + msg; stderr != want {
					t.Errorf("%s: stderr\n%s\nwant\n%s", cmd, stderr, want)
				}
				if stdout != "" {
					t.Errorf("%s: printed %q on an error", cmd, stdout)
				}
			}
		})
	}
}

func TestCheckPrintsResolvedProblem(t *testing.T) {
	file := specsTestdata + "/problems/regression.jsonnet"
	code, stdout, stderr := runCLI("check", file, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p specs.Problem
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("check --json printed %q: %v", stdout, err)
	}
	if p.Target != "spend" || p.Metric.Name != "mae" || p.Budget.Trials != 12 || !filepath.IsAbs(p.Data) {
		t.Errorf("resolved %+v", p)
	}
	code, stdout, _ = runCLI("check", file)
	for _, want := range []string{"regression.jsonnet: ok", "metric           mae (minimize)", "budget           12 trials, 1h30m0s total, 10m0s per trial, 2m0s per cell", "features         ids id; excluded churn, plan"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("check printed\n%s\nwithout %q", stdout, want)
		}
	}
	if code, _, stderr := runCLI("check"); code != 2 || !strings.Contains(stderr, "usage: trialbook check") {
		t.Errorf("check without a file: exit %d, %q", code, stderr)
	}
}

func TestAgentsMDCommand(t *testing.T) {
	want, err := os.ReadFile(specsTestdata + "/golden/regression.md")
	if err != nil {
		t.Fatal(err)
	}
	file := specsTestdata + "/problems/regression.jsonnet"
	code, stdout, stderr := runCLI("agents-md", file)
	if code != 0 || stdout != string(want) {
		t.Errorf("exit %d, stderr %q; stdout differs from specs/testdata/golden/regression.md", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "AGENTS.md")
	code, stdout, stderr = runCLI("agents-md", file, "-o", out)
	got, _ := os.ReadFile(out)
	if code != 0 || stdout != "" || string(got) != string(want) {
		t.Errorf("-o: exit %d, stdout %q, stderr %q, file differs", code, stdout, stderr)
	}
	// A team library through -J and an external variable.
	code, stdout, stderr = runCLI("agents-md", "-J", specsTestdata+"/lib", "--ext-str", "data=../data/small.csv", specsTestdata+"/problems/teamlib.jsonnet")
	if code != 0 || !strings.Contains(stdout, "- Team rule: no deep learning.") {
		t.Errorf("-J: exit %d, stderr %q", code, stderr)
	}
	// A failing render leaves an existing file alone.
	if err := os.WriteFile(out, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, _ = runCLI("agents-md", specsTestdata+"/bad/unknown_metric.jsonnet", "-o", out)
	if got, _ := os.ReadFile(out); code != 1 || string(got) != "keep" {
		t.Errorf("exit %d; file now %q", code, got)
	}
}

func TestInitCommand(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "churn")
	data := specsTestdata + "/data/small.csv"
	code, stdout, stderr := runCLI("init", dir, "--data", data, "--target", "churn")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"wrote " + filepath.Join(dir, "problem.jsonnet"), "guessed task: binary (churn has 2 classes: no, yes)", "guessed metric: auc", "guessed features.ids: id"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("init printed\n%s\nwithout %q", stdout, want)
		}
	}
	if md, err := os.ReadFile(filepath.Join(dir, "AGENTS.md")); err != nil || !strings.Contains(string(md), "## If you are connected through MCP") {
		t.Errorf("init wrote no AGENTS.md with the MCP section: %v", err)
	}
	if code, stdout, stderr := runCLI("check", dir); code != 0 || !strings.Contains(stdout, "task             binary") {
		t.Errorf("check of the starter: exit %d\n%s%s", code, stdout, stderr)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "problem.jsonnet"))
	code, _, stderr = runCLI("init", "--data", data, "--target", "spend", dir)
	after, _ := os.ReadFile(filepath.Join(dir, "problem.jsonnet"))
	if code != 1 || !strings.Contains(stderr, "already exists") || string(before) != string(after) {
		t.Errorf("second init: exit %d, %q; file changed: %v", code, stderr, string(before) != string(after))
	}
	bad := filepath.Join(root, "bad")
	code, _, stderr = runCLI("init", bad, "--data", data, "--target", "nope")
	if code != 1 || !strings.Contains(stderr, `target: "nope" is not a column of small.csv`) {
		t.Errorf("bad target: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("init failed but created %s", bad)
	}
	if code, _, stderr := runCLI("init", "--data", data); code != 2 || !strings.Contains(stderr, "usage: trialbook init") {
		t.Errorf("init without DIR: exit %d, %q", code, stderr)
	}
}
