package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"trialbook/journal"
	"trialbook/lab"
)

func TestStatusCompare(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "journal", "testdata", "three-trials.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, lab.JournalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := mainCode([]string{"status", dir, "--compare", "2", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	events, _ := journal.ReadFile(filepath.Join(dir, lab.JournalFile))
	c, err := lab.Compare(dir, events, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	// The same verdict and fold differences as the dashboard's endpoint.
	want := []string{c.Reason, fmt.Sprintf("standard error %.4g", c.Test.SE)}
	for _, f := range c.Folds {
		want = append(want, fmt.Sprintf("%+.4g", f.Improvement))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}

	for _, args := range [][]string{{"status", dir, "--compare", "2"}, {"status", dir, "--compare", "2", "x"}, {"status", dir, "--compare", "2", "9"}} {
		stdout.Reset()
		stderr.Reset()
		if code := mainCode(args, &stdout, &stderr); code == 0 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}
