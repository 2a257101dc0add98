package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// venvPython finds the repository's .venv interpreter by walking up to the
// folder holding go.mod; it skips the test when there is none.
func venvPython(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			py := filepath.Join(dir, ".venv", "bin", "python")
			if _, err := os.Stat(py); err != nil {
				t.Skipf("no %s: run make setup", py)
			}
			return py
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test")
		}
		dir = parent
	}
}

// runPython runs a script with the .venv interpreter and returns its stdout.
func runPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(venvPython(t), append([]string{"-c", script}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	return out
}
