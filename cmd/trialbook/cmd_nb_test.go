package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"trialbook/ipynb"
)

// TestNBRunHelper is not a test: TestNBRunKilled runs the test binary again
// with NB_RUN_HELPER_ARGS set, and this then behaves as `trialbook ...`.
func TestNBRunHelper(t *testing.T) {
	args := os.Getenv("NB_RUN_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for TestNBRunKilled")
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatal(err)
	}
	os.Exit(mainCode(argv, os.Stdout, os.Stderr))
}

func writeNotebook(t *testing.T, path string, sources ...string) {
	t.Helper()
	nb := ipynb.New()
	nb.Metadata["kernelspec"] = map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}
	for _, s := range sources {
		nb.Cells = append(nb.Cells, ipynb.NewCodeCell(s))
	}
	if err := nb.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestNBRunKilled kills `trialbook nb run` with SIGKILL after some cells:
// the output file must be a whole, valid notebook holding at least the
// cells finished before the previous one (the save of the last finished
// cell may still be in flight).
func TestNBRunKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := filepath.Join(repoRoot(t), ".venv")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ipynb")
	var srcs []string
	for i := range 40 {
		srcs = append(srcs, "import time\ntime.sleep(0.02)\nprint('cell', "+nbItoa(i)+", 'x' * 2000)")
	}
	writeNotebook(t, in, srcs...)
	for _, killAfter := range []int{1, 7, 20} {
		out := filepath.Join(dir, "out-"+nbItoa(killAfter)+".ipynb")
		argv, _ := json.Marshal([]string{"-v", "--log-json", "nb", "run", in, "-o", out})
		cmd := exec.Command(os.Args[0], "-test.run=^TestNBRunHelper$")
		cmd.Env = append(os.Environ(), "NB_RUN_HELPER_ARGS="+string(argv), "VIRTUAL_ENV="+venv)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		finished := 0
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"cell finished"`) {
				finished++
				if finished == killAfter {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		_ = cmd.Wait()
		if finished < killAfter {
			t.Fatalf("the run ended after %d cells, before the kill", finished)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("after kill at cell %d: %v", killAfter, err)
		}
		nb, err := ipynb.Parse(data)
		if err != nil {
			t.Fatalf("after kill at cell %d the file is broken: %v", killAfter, err)
		}
		executed := 0
		for _, c := range nb.Cells {
			if c.ExecutionCount != nil {
				executed++
			}
		}
		if executed < killAfter-1 || executed > killAfter+1 {
			t.Errorf("killed after %d finished cells, the file has %d executed", killAfter, executed)
		}
		if !bytes.HasSuffix(data, []byte("}\n")) {
			t.Errorf("file does not end like a whole notebook")
		}
	}
}

func TestNBRunErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ipynb")
	os.WriteFile(bad, []byte("{\n \"cells\": [\n  {\"cell_type\": \"code\",, }\n ]\n}\n"), 0o644)
	v3 := filepath.Join(dir, "v3.ipynb")
	os.WriteFile(v3, []byte(`{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}`), 0o644)
	good := filepath.Join(dir, "good.ipynb")
	writeNotebook(t, good, "1")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nb", "run", filepath.Join(dir, "missing.ipynb")}, 1, "missing.ipynb: no such file or directory"},
		{[]string{"nb", "run", bad}, 1, "bad.ipynb: line 3, column 24: invalid character ','"},
		{[]string{"nb", "run", v3}, 1, "unsupported nbformat version: 3.0"},
		{[]string{"nb", "run", good, "--kernel", "no-such-kernel"}, 1, `no such kernel "no-such-kernel"; found:`},
		{[]string{"nb", "run"}, 2, "no input notebook"},
		{[]string{"nb", "run", good, "-p", "a"}, 2, "-p needs 2 value(s)"},
		{[]string{"nb", "run", good, "--timeout", "5"}, 2, "want a duration such as 30s"},
		{[]string{"nb", "run", good, "--frobnicate"}, 2, "unknown flag --frobnicate"},
		{[]string{"nb", "walk"}, 2, "usage: trialbook nb run"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := mainCode(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("trialbook %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestNBRunParametersAndErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	venv := filepath.Join(repoRoot(t), ".venv")
	t.Setenv("VIRTUAL_ENV", venv) // so the test finds the project's kernelspec
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ipynb")
	writeNotebook(t, in, "alpha = 0.1\nname = 'default'", "print(alpha * 2, name, type(alpha).__name__)", "raise ValueError('stop here')", "print('after')")
	nb, _ := ipynb.ReadFile(in)
	nb.Cells[0].Metadata["tags"] = []any{"parameters"}
	nb.WriteFile(in)

	out := filepath.Join(dir, "out.ipynb")
	var stdout, stderr bytes.Buffer
	code := mainCode([]string{"nb", "run", in, "-o", out, "-p", "alpha", "0.25", "-p", "name", "run 1"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "ValueError: stop here") || !strings.Contains(stderr.String(), "out.ipynb") {
		t.Fatalf("exit %d, stderr %q; want 1 with the ValueError and where the notebook is", code, stderr.String())
	}
	got, err := ipynb.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cells[1].HasTag("injected-parameters") {
		t.Fatalf("cell 1 is not the injected-parameters cell: %+v", got.Cells[1])
	}
	if text := got.Cells[2].Outputs[0].Text; text != "0.5 run 1 float\n" {
		t.Errorf("parameterised cell printed %q, want \"0.5 run 1 float\"", text)
	}
	if got.Cells[4].ExecutionCount != nil {
		t.Error("the cell after the error ran without --allow-errors")
	}

	stdout.Reset()
	stderr.Reset()
	code = mainCode([]string{"nb", "run", in, "-o", out, "--allow-errors"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "4 cells executed") {
		t.Fatalf("--allow-errors: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	got, _ = ipynb.ReadFile(out)
	if text := got.Cells[3].Outputs[0].Text; text != "after\n" {
		t.Errorf("with --allow-errors the last cell printed %q", text)
	}
}

func nbItoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
