package bridge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

// checkAgainstFold asks for the snapshot and trial n of experiment id and
// compares them with a fold of its journal read afresh.
func (e *env) checkAgainstFold(id string, trials ...int) journal.Snapshot {
	e.t.Helper()
	events, err := journal.ReadFile(filepath.Join(e.root, filepath.FromSlash(id), journalName))
	if err != nil {
		e.t.Fatal(err)
	}
	fresh := journal.Fold(events)
	var v View
	e.getJSON("/api/experiments/"+strings.ReplaceAll(id, "/", "%2F"), &v)
	got, _ := json.Marshal(v.Snapshot)
	want, _ := json.Marshal(fresh)
	if string(got) != string(want) {
		e.t.Fatalf("cached snapshot of %s differs from a fresh fold:\n got %s\nwant %s", id, got, want)
	}
	for _, n := range trials {
		row, ok := fresh.Trial(n)
		if !ok {
			if r := e.do("GET", fmt.Sprintf("/api/experiments/%s/trials/%d", strings.ReplaceAll(id, "/", "%2F"), n), "", nil); r.status != 404 {
				e.t.Fatalf("trial %d of %s is not in its journal, yet: %d %s", n, id, r.status, r.body)
			}
			continue
		}
		var tv TrialView
		e.getJSON(fmt.Sprintf("/api/experiments/%s/trials/%d", strings.ReplaceAll(id, "/", "%2F"), n), &tv)
		var wantEvents []journal.Event
		for _, ev := range events {
			if ev.Trial == n {
				wantEvents = append(wantEvents, ev)
			}
		}
		gotJSON, _ := json.Marshal(tv.Events)
		wantJSON, _ := json.Marshal(wantEvents)
		if string(gotJSON) != string(wantJSON) || tv.Status != row.Status || tv.Trial != n {
			e.t.Fatalf("trial %d of %s: row %+v, events\n got %s\nwant %s", n, id, tv.TrialRow, gotJSON, wantJSON)
		}
	}
	return fresh
}

func TestCachedSnapshotIsTheFoldOfTheJournalAfterAppends(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "running")
	e.checkAgainstFold("hp", 1, 2)

	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cell := 3
	steps := [][]journal.Event{
		{{Type: journal.CellStarted, Trial: 2, Cell: &cell, Source: "fit()"}},
		{{Type: journal.CellOutput, Trial: 2, Cell: &cell, Text: "fold 1"}, {Type: journal.CellOutput, Trial: 2, Cell: &cell, Text: "fold 1\nfold 2"}},
		{{Type: journal.TrialFinished, Trial: 2, Score: &journal.Score{Metric: "rmse", Direction: "minimize", CV: 0.11}}},
		{{Type: journal.TrialKept, Trial: 2, Best: 2}, {Type: journal.TrialProposed, Trial: 3, Title: "GBM", Plan: "boost"}},
		{{Type: journal.TrialStarted, Trial: 3}, {Type: journal.CellStarted, Trial: 3, Cell: &cell}},
	}
	for _, batch := range steps {
		if _, err := j.AppendAll(batch); err != nil {
			t.Fatal(err)
		}
		e.checkAgainstFold("hp", 1, 2, 3)
	}

	// A line another process wrote by hand, without the journal package.
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `{"seq":%d,"time":"2026-11-25T15:00:00Z","type":"trial.failed","trial":3,"reason":"oom"}`+"\n", j.LastSeq()+1)
	f.Close()
	if snap := e.checkAgainstFold("hp", 3); snap.Counts.Failed != 1 {
		t.Errorf("after a hand-written trial.failed: counts %+v", snap.Counts)
	}
}

func TestAReplacedJournalIsFoldedAgain(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "three-trials")
	e.checkAgainstFold("hp", 1)
	// Replaced by a shorter journal through a rename, as an editor saves.
	b, err := os.ReadFile(filepath.Join("..", "journal", "testdata", "running.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "new.jsonl"), string(b))
	if err := os.Rename(filepath.Join(dir, "new.jsonl"), filepath.Join(dir, journalName)); err != nil {
		t.Fatal(err)
	}
	if snap := e.checkAgainstFold("hp", 2); snap.Status != journal.StatusRunning {
		t.Errorf("status %q after the replacement, want running", snap.Status)
	}
	// Cut in place, the same file shorter.
	if err := os.WriteFile(filepath.Join(dir, journalName), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	e.checkAgainstFold("hp", 1)
}

func TestABrokenJournalFixedByReplacingItIsServedAgain(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "three-trials")
	good, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not json\n")
	f.Close()
	for range 2 { // and again from the cache
		if r := e.do("GET", "/api/experiments/hp", "", nil); r.status != 422 {
			t.Fatalf("broken journal: %d %s", r.status, r.body)
		}
	}
	writeFile(t, filepath.Join(dir, "fixed.jsonl"), string(good))
	if err := os.Rename(filepath.Join(dir, "fixed.jsonl"), filepath.Join(dir, journalName)); err != nil {
		t.Fatal(err)
	}
	e.checkAgainstFold("hp", 1)
	if l := e.list(); l["hp"].Error != "" || l["hp"].Seq != 39 {
		t.Errorf("list row after the fix: %+v", l["hp"])
	}
}

type listed struct {
	Experiments []Summary `json:"experiments"`
}

func (e *env) list() map[string]Summary {
	e.t.Helper()
	var l listed
	e.getJSON("/api/experiments", &l)
	m := map[string]Summary{}
	for _, s := range l.Experiments {
		m[s.ID] = s
	}
	return m
}

func TestListNoticesNewGrownAndDeletedExperiments(t *testing.T) {
	t.Run("watched", func(t *testing.T) { testListNotices(t, true) })
	// Where the OS gives no notifications: every refresh looks at every
	// experiment, and walks again while a folder changed lately.
	t.Run("unwatched", func(t *testing.T) { testListNotices(t, false) })
}

func testListNotices(t *testing.T, watched bool) {
	e := newEnv(t, Options{})
	if !watched {
		e.srv.store.watching = true // as if none could be had
	}
	e.experiment("a", "three-trials")
	if l := e.list(); len(l) != 1 || l["a"].Seq != 39 {
		t.Fatalf("list = %+v", l)
	}

	// A new experiment written through the journal package (with its
	// summary file) and one written by hand (without).
	dir := filepath.Join(e.root, "team", "b")
	os.MkdirAll(dir, 0o755)
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Append(journal.Event{Type: journal.ExperimentCreated, Problem: &journal.ProblemSummary{Name: "bee", Trials: 4}})
	j.Append(journal.Event{Type: journal.ExperimentStarted})
	e.experiment("c", "running")
	l := e.list()
	if len(l) != 3 || l["team/b"].Status != journal.StatusRunning || l["team/b"].Name != "bee" || l["team/b"].Counts.Total != 4 || l["c"].Seq != 25 {
		t.Fatalf("after two new experiments: %+v", l)
	}

	// It grows: once through the journal package, once by hand (the
	// summary file is then stale and must not be believed).
	j.Append(journal.Event{Type: journal.TrialProposed, Trial: 1})
	if l := e.list(); l["team/b"].Seq != 3 || l["team/b"].Counts.Running != 0 {
		t.Errorf("after an append: %+v", l["team/b"])
	}
	f, _ := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, `{"seq":4,"time":"2026-11-25T15:00:00Z","type":"experiment.paused"}`+"\n")
	f.Close()
	if l := e.list(); l["team/b"].Seq != 4 || l["team/b"].Status != journal.StatusPaused {
		t.Errorf("after a hand-written append: %+v", l["team/b"])
	}

	if err := os.RemoveAll(filepath.Join(e.root, "a")); err != nil {
		t.Fatal(err)
	}
	if l := e.list(); len(l) != 2 || l["a"].ID != "" {
		t.Errorf("after deleting a: %+v", l)
	}
	if got := e.srv.store.watch != nil; got != watched {
		t.Errorf("watching %v, want %v", got, watched)
	}
	if r := e.do("GET", "/api/experiments/a", "", nil); r.status != 404 {
		t.Errorf("snapshot of a deleted experiment: %d %s", r.status, r.body)
	}
	e.srv.store.mu.Lock()
	n := len(e.srv.store.entries)
	e.srv.store.mu.Unlock()
	if n != 2 {
		t.Errorf("the cache holds %d experiments, want 2", n)
	}
}

func (e *env) folded(id string) bool {
	e.t.Helper()
	x := e.srv.store
	x.mu.Lock()
	en := x.entries[filepath.Join(e.root, filepath.FromSlash(id))]
	x.mu.Unlock()
	if en == nil {
		e.t.Fatalf("no cache entry for %s", id)
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.fold != nil
}

func TestFoldsBeyondTheLimitAreDroppedAndRefolded(t *testing.T) {
	e := newEnv(t, Options{MaxFolds: 2})
	for _, id := range []string{"a", "b", "c"} {
		e.experiment(id, "three-trials")
	}
	e.checkAgainstFold("a", 1)
	e.checkAgainstFold("b", 1)
	e.checkAgainstFold("c", 1)
	if e.folded("a") || !e.folded("b") || !e.folded("c") || e.srv.store.folds.Load() != 2 {
		t.Fatalf("folded a %v b %v c %v (%d in all): want the least recently asked (a) dropped", e.folded("a"), e.folded("b"), e.folded("c"), e.srv.store.folds.Load())
	}
	// a changes while dropped; asked again, it is folded again from its journal.
	j, err := journal.Open(filepath.Join(e.root, "a", journalName))
	if err != nil {
		t.Fatal(err)
	}
	j.Append(journal.Event{Type: journal.ExperimentResumed})
	j.Close()
	if l := e.list(); l["a"].Seq != 40 || l["a"].Status != journal.StatusRunning {
		t.Errorf("list row of the dropped experiment: %+v", l["a"])
	}
	e.checkAgainstFold("a", 1, 2)
	if !e.folded("a") || e.folded("b") || e.srv.store.folds.Load() != 2 {
		t.Errorf("after asking for a again: a %v b %v, %d folds", e.folded("a"), e.folded("b"), e.srv.store.folds.Load())
	}
}

func TestIdleFoldsAreDropped(t *testing.T) {
	e := newEnv(t, Options{FoldIdle: 1}) // 1ns: idle as soon as asked
	e.experiment("a", "three-trials")
	e.checkAgainstFold("a")
	e.list()
	if e.folded("a") || e.srv.store.folds.Load() != 0 {
		t.Fatal("an idle fold was kept")
	}
	e.checkAgainstFold("a", 2)
}

// Many websockets on one experiment share one reader; each gets every event
// once, in order, however far behind it is.
func TestWebsocketsShareOneFeed(t *testing.T) {
	// Clients that read late are not to be dropped here, however slow the machine.
	e := newEnv(t, Options{WriteTimeout: 2 * time.Minute})
	dir := e.experiment("hp", "running")
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const clients = 5
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = e.mustWS("experiment=hp")
		if m := next(t, conns[i]); m.Kind != "snapshot" || m.Snapshot.Seq != 25 {
			t.Fatalf("client %d: first message %+v", i, m)
		}
	}
	e.srv.store.mu.Lock()
	en := e.srv.store.entries[dir]
	e.srv.store.mu.Unlock()
	en.mu.Lock()
	subs := en.feed.subs
	en.mu.Unlock()
	if subs != clients {
		t.Fatalf("%d websockets on the feed, want %d", subs, clients)
	}
	// More events than the shared ring holds, in batches, before anyone reads.
	const n = 3*feedRing + 17
	for done := 0; done < n; {
		batch := make([]journal.Event, min(500, n-done))
		for i := range batch {
			batch[i] = journal.Event{Type: journal.CellOutput, Trial: 2, Text: fmt.Sprint(done + i)}
		}
		if _, err := j.AppendAll(batch); err != nil {
			t.Fatal(err)
		}
		done += len(batch)
	}
	errc := make(chan error, clients)
	for i, c := range conns {
		go func() {
			for want := int64(26); want <= 25+n; want++ {
				var m Message
				_ = c.SetReadDeadline(time.Now().Add(time.Minute))
				if err := c.ReadJSON(&m); err != nil {
					errc <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if m.Kind == "live" {
					want--
					continue
				}
				if m.Kind != "event" || m.Event.Seq != want {
					errc <- fmt.Errorf("client %d: %s seq %v, want event %d", i, m.Kind, m.Event, want)
					return
				}
			}
			errc <- nil
		}()
	}
	for range clients {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	e.checkAgainstFold("hp", 2)
}
