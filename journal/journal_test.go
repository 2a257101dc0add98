package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

func mustAppend(t *testing.T, j *Journal, e Event) Event {
	t.Helper()
	got, err := j.Append(e)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendAssignsSeqAndTimeAndReopens(t *testing.T) {
	j, path := openTemp(t)
	for i := 1; i <= 3; i++ {
		e := mustAppend(t, j, Event{Type: TrialProposed, Trial: i, Title: fmt.Sprint("trial ", i), Seq: 99})
		if e.Seq != int64(i) {
			t.Errorf("append %d: seq = %d, want %d", i, e.Seq, i)
		}
		if e.Time.Location() != time.UTC || e.Time.IsZero() {
			t.Errorf("append %d: time %v is not a UTC time", i, e.Time)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Event{Type: TrialStarted}); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: err = %v, want ErrClosed", err)
	}
	j2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got := j2.Events()
	if len(got) != 3 || got[2].Title != "trial 3" || got[2].Seq != 3 {
		t.Fatalf("reopened events = %+v", got)
	}
	if e := mustAppend(t, j2, Event{Type: TrialStarted, Trial: 1}); e.Seq != 4 {
		t.Errorf("seq after reopen = %d, want 4", e.Seq)
	}
	read, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 4 {
		t.Errorf("ReadFile: %d events, want 4", len(read))
	}
}

func TestAppendRejectsUntypedEvent(t *testing.T) {
	j, _ := openTemp(t)
	if _, err := j.Append(Event{Trial: 1}); err == nil {
		t.Fatal("append of an event with no type succeeded")
	}
	if j.LastSeq() != 0 {
		t.Errorf("seq moved to %d", j.LastSeq())
	}
}

// writeFile writes a journal's raw bytes, as a crashed or foreign writer would.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoEvents = `{"seq":1,"time":"2026-01-02T03:04:05Z","type":"experiment.created"}
{"seq":2,"time":"2026-01-02T03:04:06Z","type":"experiment.started"}
`

func TestOpenRepairsTornLastLine(t *testing.T) {
	tests := []struct {
		name      string
		tail      string
		wantN     int
		wantBytes int64 // what Open cuts away
	}{
		{"half an event", `{"seq":3,"time":"2026-01-02T03:0`, 2, 32},
		{"zeros from a crash", "\x00\x00\x00\x00", 2, 4},
		{"whole event without its newline", `{"seq":3,"time":"2026-01-02T03:04:07Z","type":"trial.proposed","trial":1}`, 3, 0},
		{"nothing torn", "", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, twoEvents+tt.tail)
			j, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if got := len(j.Events()); got != tt.wantN {
				t.Errorf("events = %d, want %d", got, tt.wantN)
			}
			if got := j.Repaired(); got != tt.wantBytes {
				t.Errorf("repaired %d bytes, want %d", got, tt.wantBytes)
			}
			e := mustAppend(t, j, Event{Type: TrialStarted, Trial: 1})
			if e.Seq != int64(tt.wantN+1) {
				t.Errorf("next seq = %d, want %d", e.Seq, tt.wantN+1)
			}
			events, err := ReadFile(path)
			if err != nil {
				t.Fatalf("journal unreadable after repair: %v", err)
			}
			if len(events) != tt.wantN+1 {
				t.Errorf("file holds %d events, want %d", len(events), tt.wantN+1)
			}
		})
	}
}

func TestOpenReportsBadLinesWithFileAndLine(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantLine int
		wantText string
	}{
		{"not JSON", twoEvents[:strings.Index(twoEvents, "\n")+1] + "oops\n" + twoEvents[strings.Index(twoEvents, "\n")+1:], 2, "not a JSON event"},
		{"seq goes back", twoEvents + `{"seq":2,"type":"trial.proposed"}` + "\n", 3, "seq 2 does not follow seq 2"},
		{"no type", twoEvents + `{"seq":3}` + "\n", 3, `no "type"`},
		{"invalid last line with its newline", twoEvents + "{\n", 3, "not a JSON event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			before, _ := os.ReadFile(path)
			_, err := Open(path)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("Open: err = %v, want a *LineError", err)
			}
			if le.Line != tt.wantLine || le.Path != path {
				t.Errorf("error at %s:%d, want %s:%d", le.Path, le.Line, path, tt.wantLine)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("%s:%d:", path, tt.wantLine)) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("message %q lacks the place or %q", msg, tt.wantText)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Error("Open changed a journal it refused")
			}
			if _, err := ReadFile(path); !errors.As(err, &le) {
				t.Errorf("ReadFile: err = %v, want a *LineError", err)
			}
		})
	}
}

func TestReadFileIgnoresPartialLastLine(t *testing.T) {
	path := writeFile(t, twoEvents+`{"seq":3,"ty`)
	events, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Errorf("events = %d, want 2", len(events))
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), `{"seq":3,"ty`) {
		t.Error("ReadFile changed the file")
	}
}

func TestConcurrentAppendsKeepOrder(t *testing.T) {
	j, path := openTemp(t)
	sub := j.Subscribe(0)
	defer sub.Close()
	const writers, each = 4, 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := j.Append(Event{Type: CellOutput, Trial: w + 1, Text: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	events, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != writers*each {
		t.Fatalf("file holds %d events, want %d", len(events), writers*each)
	}
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		got := <-sub.C()
		if got.Seq != e.Seq {
			t.Fatalf("subscriber got seq %d, file has %d", got.Seq, e.Seq)
		}
	}
}

func TestSubscribeReplaysThenDeliversLive(t *testing.T) {
	j, _ := openTemp(t)
	for i := 1; i <= 3; i++ {
		mustAppend(t, j, Event{Type: TrialProposed, Trial: i})
	}
	sub := j.Subscribe(1)
	defer sub.Close()
	mustAppend(t, j, Event{Type: TrialStarted, Trial: 1})
	var seqs []int64
	for range 3 {
		seqs = append(seqs, (<-sub.C()).Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" {
		t.Errorf("seqs = %v, want [2 3 4]", seqs)
	}
	sub.Close()
	sub.Close()
	if _, ok := <-sub.C(); ok {
		t.Error("channel open after Close")
	}
	if sub.Err() != nil {
		t.Errorf("Err after Close = %v, want nil", sub.Err())
	}
}

func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	j, _ := openTemp(t)
	j.subBuffer = 2
	slow := j.Subscribe(0)
	fast := j.Subscribe(0)
	defer fast.Close()
	for i := 1; i <= 4; i++ {
		mustAppend(t, j, Event{Type: CellOutput, Trial: 1, Text: fmt.Sprint(i)})
		if e := <-fast.C(); e.Seq != int64(i) {
			t.Fatalf("fast subscriber got seq %d, want %d", e.Seq, i)
		}
	}
	var n int
	for range slow.C() {
		n++
	}
	if n != 2 {
		t.Errorf("slow subscriber got %d events before being dropped, want its buffer of 2", n)
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Errorf("slow.Err() = %v, want ErrSlowSubscriber", slow.Err())
	}
	slow.Close() // harmless after a drop
}

func TestCloseEndsSubscriptions(t *testing.T) {
	j, _ := openTemp(t)
	sub := j.Subscribe(0)
	j.Close()
	if _, ok := <-sub.C(); ok {
		t.Fatal("channel open after journal Close")
	}
	if !errors.Is(sub.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", sub.Err())
	}
	late := j.Subscribe(0)
	if _, ok := <-late.C(); ok || !errors.Is(late.Err(), ErrClosed) {
		t.Errorf("subscription to a closed journal: open=%v err=%v", ok, late.Err())
	}
}

func TestFollowTailsAnotherWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Follow before the journal exists, as the bridge does for a new folder.
	events, errc := Follow(ctx, path, 1)

	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	mustAppend(t, j, Event{Type: ExperimentCreated})
	mustAppend(t, j, Event{Type: ExperimentStarted})
	if e := <-events; e.Seq != 2 || e.Type != ExperimentStarted {
		t.Fatalf("first followed event = %d %s, want 2 experiment.started (after=1)", e.Seq, e.Type)
	}

	// A writer in another process writes a line in two pieces.
	raw, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	line := `{"seq":3,"time":"2026-01-02T03:04:05Z","type":"cell.output","trial":1,"text":"half and half"}` + "\n"
	if _, err := raw.WriteString(line[:20]); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.WriteString(line[20:]); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Seq != 3 || e.Text != "half and half" {
		t.Fatalf("event written in pieces = %+v", e)
	}
	cancel()
	for e := range events {
		t.Errorf("event after cancel: %+v", e)
	}
	if err := <-errc; err != nil {
		t.Errorf("Follow error after cancel: %v", err)
	}
}

func TestFollowStopsAtABadLine(t *testing.T) {
	path := writeFile(t, twoEvents+"garbage\n")
	events, errc := Follow(context.Background(), path, 0)
	var n int
	for range events {
		n++
	}
	if n != 2 {
		t.Errorf("got %d events before the bad line, want 2", n)
	}
	var le *LineError
	if err := <-errc; !errors.As(err, &le) || le.Line != 3 {
		t.Errorf("err = %v, want a *LineError at line 3", err)
	}
}

func TestFollowNoticesReplacedFile(t *testing.T) {
	path := writeFile(t, twoEvents)
	events, errc := Follow(context.Background(), path, 0)
	<-events
	<-events
	if err := os.WriteFile(path, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	for range events {
	}
	if err := <-errc; !errors.Is(err, ErrReplaced) {
		t.Errorf("err = %v, want ErrReplaced", err)
	}
}

func TestLockExcludesASecondWriter(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	var le *LockError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Lock: err = %v, want ErrLocked held by %d", err, os.Getpid())
	}
	locked, pid, err := Locked(dir)
	if err != nil || !locked || pid != os.Getpid() {
		t.Errorf("Locked = %v, %d, %v; want true, %d", locked, pid, err, os.Getpid())
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if locked, _, _ := Locked(dir); locked {
		t.Error("Locked after unlock")
	}
	unlock2, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestLockedIgnoresADeadHolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Dir(LockPath(dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	// A pid no process has: the maximum is far below this on Linux.
	if err := os.WriteFile(LockPath(dir), []byte("2147483646\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if locked, _, err := Locked(dir); locked || err != nil {
		t.Errorf("Locked = %v, %v; want false for a pid whose process is gone", locked, err)
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock over a dead holder's file: %v", err)
	}
	unlock()
}
