package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command's -h starts with its usage line from the table and exits 0;
// a command with flags lists them.
func TestHelpShowsUsageLine(t *testing.T) {
	for _, c := range commands() {
		args := []string{c.name, "-h"}
		if c.name == "lab" {
			args = []string{"lab", "install", "-h"}
		}
		var stdout, stderr bytes.Buffer
		if code := mainCode(args, &stdout, &stderr); code != 0 {
			t.Errorf("%v: exit %d, want 0; stderr:\n%s", args, code, stderr.String())
			continue
		}
		out := stdout.String() + stderr.String() // nb writes its help to stdout, flag sets to stderr
		if want := "usage: trialbook " + c.usage + "\n"; !strings.HasPrefix(out, want) {
			t.Errorf("%v: help starts %q, want %q", args, firstLine(out), want)
		}
		if c.name == "predict" && !strings.Contains(out, "\n  -o string") {
			t.Errorf("predict -h lists no -o flag:\n%s", out)
		}
	}
}
