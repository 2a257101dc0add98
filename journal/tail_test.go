package journal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readTail reads what t has gained, checking that each span holds its event's line.
func readTail(t *testing.T, tl *Tail) []Event {
	t.Helper()
	data, _ := os.ReadFile(tl.path)
	var got []Event
	err := tl.Read(func(e Event, sp Span) error {
		line := string(data[sp.Offset : sp.Offset+int64(sp.Len)])
		if !strings.HasSuffix(line, "\n") || !strings.Contains(line, `"seq":`) {
			t.Errorf("span %+v of seq %d holds %q", sp, e.Seq, line)
		}
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestTailReadsOnlyWhatTheJournalGained(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	tl := NewTail(path)
	if got := readTail(t, tl); len(got) != 0 {
		t.Fatalf("a journal not there yet read %d events", len(got))
	}
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	mustAppend(t, j, Event{Type: ExperimentCreated})
	// A line longer than Tail reads at once.
	mustAppend(t, j, Event{Type: CellOutput, Trial: 1, Text: strings.Repeat("x", tailChunk*3/2)})
	if got := readTail(t, tl); len(got) != 2 || got[1].Seq != 2 || len(got[1].Text) != tailChunk*3/2 {
		t.Fatalf("first read: %d events", len(got))
	}
	// A partial line waits for its end.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	line := `{"seq":3,"time":"2026-01-02T03:04:05Z","type":"trial.proposed","trial":2}` + "\n"
	f.WriteString(line[:30])
	if got := readTail(t, tl); len(got) != 0 {
		t.Fatalf("a partial line read as %+v", got)
	}
	f.WriteString(line[30:] + "\n")
	if got := readTail(t, tl); len(got) != 1 || got[0].Seq != 3 || tl.Seq() != 3 {
		t.Fatalf("the completed line read as %+v", got)
	}
	if fi, _ := os.Stat(path); tl.Offset() != fi.Size() {
		t.Errorf("offset %d, file %d bytes", tl.Offset(), fi.Size())
	}

	// Another file in its place.
	os.WriteFile(path+".new", []byte(twoEvents), 0o644)
	os.Rename(path+".new", path)
	if err := tl.Read(func(Event, Span) error { return nil }); !errors.Is(err, ErrReplaced) {
		t.Errorf("after a rename over it: %v, want ErrReplaced", err)
	}
	os.Remove(path)
	if err := NewTail(path).Read(func(Event, Span) error { return nil }); err != nil {
		t.Errorf("a journal not there: %v", err)
	}
}

func TestSummaryFileIsTrustedOnlyWhileCurrent(t *testing.T) {
	j, path := openTemp(t)
	mustAppend(t, j, Event{Type: ExperimentCreated, Problem: &ProblemSummary{Name: "hp", Trials: 3}})
	mustAppend(t, j, Event{Type: ExperimentStarted})
	mustAppend(t, j, Event{Type: TrialProposed, Trial: 1})
	sum, ok, err := ReadSummary(path)
	if err != nil || !ok {
		t.Fatalf("summary after appends: ok %v, %v", ok, err)
	}
	want := Fold(j.Events())
	if sum.Seq != 3 || sum.Status != StatusRunning || sum.Counts != want.Counts || sum.Problem.Name != "hp" {
		t.Errorf("summary %+v, want the fold's %+v", sum, want.Summary(0))
	}
	// Another writer appends without the journal package: stale.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"2026-01-02T03:04:05Z","type":"experiment.paused"}` + "\n")
	f.Close()
	if _, ok, err := ReadSummary(path); ok || err != nil {
		t.Errorf("a summary of a journal that grew since: ok %v, %v", ok, err)
	}
	// Garbage in the summary file.
	os.WriteFile(SummaryPath(path), []byte("{"), 0o644)
	if _, ok, _ := ReadSummary(path); ok {
		t.Error("a broken summary file was believed")
	}
}

func TestAppendAllIsOneWriteOfManyEvents(t *testing.T) {
	j, path := openTemp(t)
	mustAppend(t, j, Event{Type: ExperimentCreated})
	got, err := j.AppendAll([]Event{{Type: TrialProposed, Trial: 1}, {Type: TrialStarted, Trial: 1}})
	if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("AppendAll = %+v, %v", got, err)
	}
	if _, err := j.AppendAll([]Event{{Type: TrialFinished}, {}}); err == nil {
		t.Error("a batch with an untyped event was written")
	}
	events, err := ReadFile(path)
	if err != nil || len(events) != 3 {
		t.Fatalf("journal holds %d events (%v), want 3: a refused batch writes nothing", len(events), err)
	}
	if sum, ok, _ := ReadSummary(path); !ok || sum.Seq != 3 {
		t.Errorf("summary after AppendAll: %+v ok %v", sum, ok)
	}
}
