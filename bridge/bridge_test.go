package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

// env is a bridge on a loopback port over a temporary root.
type env struct {
	t    *testing.T
	root string
	srv  *Server
	http *httptest.Server
}

// smallSendBuffers makes accepted connections' send buffers small, so that a
// client that stops reading blocks the server's writes after little data.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.(*net.TCPConn).SetWriteBuffer(4096)
	}
	return c, err
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.ListPoll == 0 {
		opts.ListPoll = 20 * time.Millisecond
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener = smallSendBuffers{hs.Listener}
	hs.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(hs.Close)
	return &env{t: t, root: srv.Root(), srv: srv, http: hs}
}

// experiment makes root/id an experiment whose journal holds a copy of the
// example journal named (or none, for "").
func (e *env) experiment(id, example string) string {
	e.t.Helper()
	dir := filepath.Join(e.root, filepath.FromSlash(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if example == "" {
		writeFile(e.t, filepath.Join(dir, problemFile), "{}\n")
		return dir
	}
	b, err := os.ReadFile(filepath.Join("..", "journal", "testdata", example+".jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	writeFile(e.t, filepath.Join(dir, journalName), string(b))
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the token unless headers say otherwise; a header
// set to "" is removed.
func (e *env) do(method, path, body string, headers map[string]string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+e.srv.Token())
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
		e.t.Errorf("%s %s set a cookie: %v", method, path, c)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func (e *env) getJSON(path string, v any) {
	e.t.Helper()
	r := e.do("GET", path, "", nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
}

// ws dials the event websocket; query is appended to /api/events?.
func (e *env) ws(query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + eventsPath + "?" + query
	return websocket.DefaultDialer.Dial(url, header)
}

func (e *env) mustWS(query string) *websocket.Conn {
	e.t.Helper()
	c, resp, err := e.ws(query+"&token="+e.srv.Token(), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// next reads one message; the deadline only stops a broken test from hanging.
func next(t *testing.T, c *websocket.Conn) Message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var m Message
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read message: %v", err)
	}
	return m
}

// nextEvent skips "live" messages and returns the next event.
func nextEvent(t *testing.T, c *websocket.Conn) journal.Event {
	t.Helper()
	for {
		m := next(t, c)
		switch m.Kind {
		case "live":
			continue
		case "event":
			return *m.Event
		default:
			t.Fatalf("got a %q message, want an event: %+v", m.Kind, m)
		}
	}
}

func TestListSnapshotTrialAndAgentsMD(t *testing.T) {
	e := newEnv(t, Options{})
	e.experiment("house-prices", "three-trials")
	e.experiment("team/churn", "running")
	e.experiment("team/new-one", "")
	e.experiment("team/churn/trials", "") // inside an experiment: not one
	writeFile(t, filepath.Join(e.root, ".hidden", "x", journalName), "")
	writeFile(t, filepath.Join(e.root, "house-prices", "AGENTS.md"), "# House prices\n")

	var list struct {
		Root        string    `json:"root"`
		Experiments []Summary `json:"experiments"`
	}
	e.getJSON("/api/experiments", &list)
	var ids []string
	for _, s := range list.Experiments {
		ids = append(ids, s.ID+":"+s.Status)
	}
	if got, want := strings.Join(ids, " "), "house-prices:finished team/churn:running team/new-one:created"; got != want {
		t.Errorf("experiments = %s, want %s", got, want)
	}
	if list.Experiments[0].Best == nil || list.Experiments[0].Best.Trial != 1 || list.Experiments[0].Counts.Done != 3 {
		t.Errorf("house-prices summary = %+v", list.Experiments[0])
	}

	var v View
	e.getJSON("/api/experiments/team%2Fchurn", &v)
	events, err := journal.ReadFile(filepath.Join(e.root, "team", "churn", journalName))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(v.Snapshot)
	want, _ := json.Marshal(journal.Fold(events))
	if string(got) != string(want) || v.ID != "team/churn" || v.Live {
		t.Errorf("snapshot of team/churn (id %q, live %v):\n got %s\nwant %s", v.ID, v.Live, got, want)
	}

	var tv TrialView
	e.getJSON("/api/experiments/house-prices/trials/2", &tv)
	if tv.Trial != 2 || tv.Status != "discarded" || !strings.Contains(tv.Plan, "right-skewed") || len(tv.Events) < 5 {
		t.Errorf("trial 2 = %+v", tv)
	}
	for _, ev := range tv.Events {
		if ev.Trial != 2 {
			t.Errorf("trial 2 view holds an event of trial %d", ev.Trial)
		}
	}
	if r := e.do("GET", "/api/experiments/house-prices/trials/9", "", nil); r.status != http.StatusNotFound {
		t.Errorf("missing trial: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/experiments/house-prices/trials/x", "", nil); r.status != http.StatusBadRequest {
		t.Errorf("trial x: %d %s", r.status, r.body)
	}
	r := e.do("GET", "/api/experiments/house-prices/agents-md", "", nil)
	if r.status != http.StatusOK || string(r.body) != "# House prices\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") {
		t.Errorf("agents-md: %d %q %s", r.status, r.body, r.header.Get("Content-Type"))
	}
	if r := e.do("GET", "/api/experiments/team%2Fchurn/agents-md", "", nil); r.status != http.StatusNotFound {
		t.Errorf("agents-md of a folder without one: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/experiments/nope", "", nil); r.status != http.StatusNotFound || !strings.Contains(string(r.body), `"error"`) {
		t.Errorf("missing experiment: %d %s", r.status, r.body)
	}
}

func TestABrokenJournalIsReportedNotHidden(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("bad", "three-trials")
	f, _ := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not json\n")
	f.Close()
	r := e.do("GET", "/api/experiments/bad", "", nil)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "journal.jsonl:40") {
		t.Errorf("broken journal: %d %s", r.status, r.body)
	}
	var list struct{ Experiments []Summary }
	e.getJSON("/api/experiments", &list)
	if len(list.Experiments) != 1 || !strings.Contains(list.Experiments[0].Error, "journal.jsonl:40") {
		t.Errorf("list = %+v", list)
	}
}

func TestWebsocketSendsSnapshotThenLiveEvents(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "running")
	c := e.mustWS("experiment=hp")
	m := next(t, c)
	if m.Kind != "snapshot" || m.Snapshot == nil || m.Snapshot.Seq != 25 || m.Snapshot.Status != "running" || m.Experiment != "hp" {
		t.Fatalf("first message = %+v", m)
	}
	// Another process (here: a journal writer the bridge knows nothing of)
	// appends; the bridge follows the file.
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 3 {
		want, err := j.Append(journal.Event{Type: journal.CellOutput, Trial: 2, Text: fmt.Sprint("line ", i)})
		if err != nil {
			t.Fatal(err)
		}
		got := nextEvent(t, c)
		if got.Seq != want.Seq || got.Text != want.Text {
			t.Fatalf("event %d = seq %d %q, want seq %d %q", i, got.Seq, got.Text, want.Seq, want.Text)
		}
	}
}

func TestReconnectWithLastSeqMissesNothingAndRepeatsNothing(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "running")
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	c := e.mustWS("experiment=hp")
	last := next(t, c).Snapshot.Seq
	for i := range 3 {
		j.Append(journal.Event{Type: journal.CellOutput, Trial: 2, Text: fmt.Sprint(i)})
	}
	for range 2 { // read two of the three, then drop the connection
		ev := nextEvent(t, c)
		if ev.Seq != last+1 {
			t.Fatalf("got seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
	c.Close()
	// Appended while the client is away.
	for i := 3; i < 6; i++ {
		j.Append(journal.Event{Type: journal.CellOutput, Trial: 2, Text: fmt.Sprint(i)})
	}
	c2 := e.mustWS(fmt.Sprintf("experiment=hp&after=%d", last))
	if m := next(t, c2); m.Kind != "live" {
		t.Fatalf("a client that passes its seq gets %q first, want live (no snapshot)", m.Kind)
	}
	j.Append(journal.Event{Type: journal.CellOutput, Trial: 2, Text: "6"})
	for want := last + 1; want <= j.LastSeq(); want++ {
		if ev := nextEvent(t, c2); ev.Seq != want {
			t.Fatalf("after reconnect got seq %d, want %d", ev.Seq, want)
		}
	}

	// A seq beyond the journal (it was replaced) starts over from a snapshot.
	c3 := e.mustWS("experiment=hp&after=999")
	if m := next(t, c3); m.Kind != "snapshot" || m.Snapshot.Seq != j.LastSeq() {
		t.Errorf("after=999: first message %q at seq %v", m.Kind, m.Snapshot)
	}
}

func TestSlowClientIsDroppedAndResumes(t *testing.T) {
	e := newEnv(t, Options{WriteTimeout: 300 * time.Millisecond})
	e.srv.dropped = make(chan string, 1)
	dir := e.experiment("hp", "running")

	// The client dials with a small receive buffer and then stops reading.
	// (set before connecting, so TCP sizes its window for it).
	small := &net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	dialer := websocket.Dialer{ReadBufferSize: 1024, NetDialContext: small.DialContext}
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + eventsPath + "?experiment=hp&token=" + e.srv.Token()
	c, _, err := dialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	snap := next(t, c)

	// Another process writes far more than the socket buffers hold.
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	text := strings.Repeat("x", 4000)
	const n = 1000
	for i := range n {
		b, _ := json.Marshal(journal.Event{Seq: snap.Snapshot.Seq + int64(i) + 1, Time: time.Now().UTC(), Type: journal.CellOutput, Trial: 2, Text: text})
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := f.WriteString(buf.String()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	last := snap.Snapshot.Seq

	// Wait until the server has given up on the client: its connection
	// ends while the client still has events unread.
	if id := <-e.srv.dropped; id != "hp" {
		t.Fatalf("dropped a client of %q", id)
	}
	// Now read: a gapless prefix of the events, then the end.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var closeErr error
	for {
		var m Message
		if err := c.ReadJSON(&m); err != nil {
			closeErr = err
			t.Logf("read up to seq %d, then %v", last, err)
			break
		}
		if m.Kind != "event" {
			continue
		}
		if m.Event.Seq != last+1 {
			t.Fatalf("gap: seq %d after %d", m.Event.Seq, last)
		}
		last = m.Event.Seq
	}
	if !websocket.IsUnexpectedCloseError(closeErr) {
		t.Errorf("slow client ended with %v, want its connection cut", closeErr)
	}
	end := snap.Snapshot.Seq + n
	if last >= end {
		t.Fatalf("slow client got all %d events: never dropped", n)
	}
	// It reconnects from its last seq, as the panel does, and gets exactly
	// the rest (reconnecting again should a busy machine make it slow too).
	for tries := 0; last < end; tries++ {
		if tries == 20 {
			t.Fatalf("still at seq %d of %d after %d reconnects", last, end, tries)
		}
		c2 := e.mustWS(fmt.Sprintf("experiment=hp&after=%d", last))
		for last < end {
			_ = c2.SetReadDeadline(time.Now().Add(20 * time.Second))
			var m Message
			if err := c2.ReadJSON(&m); err != nil {
				if !websocket.IsUnexpectedCloseError(err) {
					t.Fatalf("after reconnect: %v", err)
				}
				break
			}
			if m.Kind != "event" {
				continue
			}
			if m.Event.Seq != last+1 {
				t.Fatalf("after reconnect: seq %d after %d", m.Event.Seq, last)
			}
			last = m.Event.Seq
		}
		c2.Close()
	}
}

func TestListWebsocketShowsExperimentsStartedElsewhere(t *testing.T) {
	e := newEnv(t, Options{})
	e.experiment("a", "three-trials")
	c := e.mustWS("")
	readList := func() []Summary {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var m ListMessage
		if err := c.ReadJSON(&m); err != nil || m.Kind != "experiments" {
			t.Fatalf("list message: %+v, %v", m, err)
		}
		return m.Experiments
	}
	if l := readList(); len(l) != 1 || l[0].ID != "a" {
		t.Fatalf("first list = %+v", l)
	}
	// `trialbook run` in a terminal creates a folder and writes its journal.
	dir := filepath.Join(e.root, "b")
	os.MkdirAll(dir, 0o755)
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Append(journal.Event{Type: journal.ExperimentStarted})
	for {
		l := readList()
		if len(l) == 2 && l[1].ID == "b" && l[1].Status == journal.StatusRunning {
			break
		}
	}
}

func TestWebsocketOnABrokenJournalSaysWhy(t *testing.T) {
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "running")
	c := e.mustWS("experiment=hp")
	next(t, c)
	f, _ := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{oops\n")
	f.Close()
	m := next(t, c)
	if m.Kind != "error" || !strings.Contains(m.Error, "journal.jsonl:26") {
		t.Errorf("message = %+v, want an error naming line 26", m)
	}
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, CloseBadJournal) {
		t.Errorf("close = %v, want %d", err, CloseBadJournal)
	}
}

func TestUnstartedExperimentsAreDescribedFromTheirProblemFile(t *testing.T) {
	calls := 0
	describe := func(_ context.Context, dir string) (*journal.ProblemSummary, error) {
		calls++
		b, err := os.ReadFile(filepath.Join(dir, problemFile))
		if err != nil {
			return nil, err
		}
		if strings.Contains(string(b), "broken") {
			return nil, fmt.Errorf("%s:1:1: broken on purpose", filepath.Join(dir, problemFile))
		}
		return &journal.ProblemSummary{Name: filepath.Base(dir), Target: strings.TrimSpace(string(b)), Trials: 7}, nil
	}
	e := newEnv(t, Options{Describe: describe})
	dir := e.experiment("new", "")
	writeFile(t, filepath.Join(dir, problemFile), "price\n")
	e.experiment("started", "three-trials")

	var v View
	e.getJSON("/api/experiments/new", &v)
	if v.Problem == nil || v.Problem.Target != "price" || v.Counts.Total != 7 || v.Status != journal.StatusCreated {
		t.Fatalf("view of an unstarted experiment: problem %+v, counts %+v", v.Problem, v.Counts)
	}
	var list struct{ Experiments []Summary }
	e.getJSON("/api/experiments", &list)
	e.getJSON("/api/experiments", &list)
	if calls != 1 {
		t.Errorf("Describe called %d times for an unchanged file, want 1 (cached)", calls)
	}
	if list.Experiments[0].Problem == nil || list.Experiments[0].Problem.Target != "price" {
		t.Errorf("list row = %+v", list.Experiments[0])
	}
	if list.Experiments[1].Problem.Name != "house-prices" {
		t.Errorf("a started experiment's problem comes from its journal: %+v", list.Experiments[1].Problem)
	}

	writeFile(t, filepath.Join(dir, problemFile), "broken, and longer\n")
	e.getJSON("/api/experiments/new", &v)
	if v.Problem != nil || !strings.Contains(v.ProblemError, "problem.jsonnet:1:1: broken") {
		t.Errorf("after an edit that breaks it: problem %+v, error %q", v.Problem, v.ProblemError)
	}
	e.getJSON("/api/experiments", &list)
	if !strings.Contains(list.Experiments[0].Error, "broken on purpose") {
		t.Errorf("list row error = %q", list.Experiments[0].Error)
	}
}

// TestEventLatency measures journal append → websocket message, the bridge's
// share of the panel's event-to-screen latency, and keeps it well inside the
// 200 ms the panel has in all.
func TestEventLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing; skipped under -short")
	}
	e := newEnv(t, Options{})
	dir := e.experiment("hp", "running")
	j, err := journal.Open(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := e.mustWS("experiment=hp")
	next(t, c)
	const n = 100
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		want, err := j.Append(journal.Event{Type: journal.CellOutput, Trial: 2, Text: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		if got := nextEvent(t, c); got.Seq != want.Seq {
			t.Fatalf("seq %d, want %d", got.Seq, want.Seq)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	t.Logf("append (with fsync) → websocket message over %d events: p50 %v, p99 %v, max %v", n, p50, p99, lat[n-1])
	// The median catches a bridge that polls (FollowPoll is 250 ms) instead
	// of being woken by the journal's writes; tails depend on the machine.
	if p50 > 50*time.Millisecond {
		t.Errorf("p50 %v: the bridge is not woken by appends", p50)
	}
}
