package journal

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// crashWriterEnv makes this test binary a writer that appends until killed.
const crashWriterEnv = "TRIALBOOK_JOURNAL_CRASH_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashWriterEnv); path != "" {
		os.Exit(crashWriter(path))
	}
	os.Exit(m.Run())
}

func crashWriter(path string) int {
	unlock, err := Lock(filepath.Dir(path))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer unlock()
	j, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	text := strings.Repeat("output ", 2000)
	for {
		if _, err := j.Append(Event{Type: CellOutput, Trial: 1, Text: text}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
}

// TestKill9LosesNoCompleteEvent kills a writer with SIGKILL mid-stream, then
// reopens its journal as a resumed run would: every event a reader saw is
// there, seqs run on without a gap, and appending continues.
func TestKill9LosesNoCompleteEvent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	w := exec.Command(exe)
	w.Env = append(os.Environ(), crashWriterEnv+"="+path)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Process.Kill()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := Follow(ctx, path, 0)
	var seen int64
	for e := range events {
		seen = e.Seq
		if seen >= 30 {
			break
		}
	}
	if err := w.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	w.Wait()
	cancel()

	if locked, _, _ := Locked(dir); locked {
		t.Error("a killed writer still holds the lock")
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after the writer died: %v", err)
	}
	defer unlock()
	j, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer j.Close()
	got := j.Events()
	if int64(len(got)) < seen {
		t.Fatalf("reopened journal has %d events; a reader had already seen %d", len(got), seen)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if e, err := j.Append(Event{Type: ExperimentResumed}); err != nil || e.Seq != int64(len(got))+1 {
		t.Errorf("append after reopen: seq %d, %v", e.Seq, err)
	}
}
