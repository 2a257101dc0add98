package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

// fakeRunEnv makes this test binary act as `trialbook run [--resume] DIR`
// when it is started as a child: it takes the folder's lock, appends what a
// run appends, and on SIGINT interrupts its trial and pauses, as lab does.
// The bridge's process handling (groups, signals, locks, pids) is real; only
// the experiment inside is scripted, so the test needs no kernel.
const fakeRunEnv = "TRIALBOOK_BRIDGE_FAKE_RUN"

func TestMain(m *testing.M) {
	if os.Getenv(fakeRunEnv) == "1" {
		os.Exit(fakeRun(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeRun(args []string) int {
	if len(args) < 2 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "fake run: want run [--resume] DIR")
		return 2
	}
	dir := args[len(args)-1]
	resume := len(args) == 3 && args[1] == "--resume"
	if _, err := os.Stat(filepath.Join(dir, "fail")); err == nil {
		fmt.Fprintln(os.Stderr, "trialbook run: kernel: no such kernel \"python3\"")
		return 4
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	unlock, err := journal.Lock(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake run:", err)
		return 3
	}
	defer unlock()
	j, err := journal.Open(filepath.Join(dir, journal.FileName))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake run:", err)
		return 1
	}
	defer j.Close()
	start := journal.ExperimentStarted
	if resume {
		start = journal.ExperimentResumed
	}
	trial := len(j.Events())/4 + 1
	for _, e := range []journal.Event{{Type: start}, {Type: journal.TrialStarted, Trial: trial, Title: "fake"}} {
		if _, err := j.Append(e); err != nil {
			return 1
		}
	}
	<-sig
	j.Append(journal.Event{Type: journal.TrialInterrupted, Trial: trial, Reason: "stopped"})
	j.Append(journal.Event{Type: journal.ExperimentPaused})
	return 0
}

// procs is a Controller whose verbs are the real Processes.
type procs struct{ *Processes }

func (procs) Create(context.Context, string, NewExperiment) (Created, error) {
	return Created{}, errors.New("not in this test")
}

// stream reads an event websocket, remembering the last live state seen.
type stream struct {
	t    *testing.T
	c    *websocket.Conn
	live bool
}

func (s *stream) read() Message {
	s.t.Helper()
	m := next(s.t, s.c)
	switch {
	case m.Kind == "live":
		s.live = *m.Live
	case m.Kind == "snapshot":
		s.live = m.Snapshot.Live
	}
	return m
}

// waitFor reads until an event of type typ and returns it.
func (s *stream) waitFor(typ journal.Type) journal.Event {
	s.t.Helper()
	for {
		if m := s.read(); m.Kind == "event" && m.Event.Type == typ {
			return *m.Event
		}
	}
}

// waitLive reads until the live state is want.
func (s *stream) waitLive(want bool) {
	s.t.Helper()
	for s.live != want {
		s.read()
	}
}

func TestStartStopResumeRunRealProcesses(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeRunEnv, "1")
	p := &Processes{Exe: exe}
	e := newEnv(t, Options{Controller: procs{p}})
	dir := e.experiment("hp", "")
	t.Cleanup(func() {
		for _, d := range p.Running() {
			p.Stop(context.Background(), d)
			p.Wait(context.Background(), d)
		}
	})

	c := &stream{t: t, c: e.mustWS("experiment=hp")}
	if m := c.read(); m.Kind != "snapshot" || m.Snapshot.Status != journal.StatusCreated || m.Snapshot.Live {
		t.Fatalf("first message = %+v", m)
	}
	post := func(verb string, want int) {
		t.Helper()
		if r := e.do("POST", "/api/experiments/hp/"+verb, "", nil); r.status != want {
			t.Fatalf("%s: %d %s, want %d", verb, r.status, r.body, want)
		}
	}
	post("start", 200)
	c.waitFor(journal.ExperimentStarted)
	c.waitFor(journal.TrialStarted)
	c.waitLive(true)
	post("start", 409)
	post("resume", 409)
	var v View
	e.getJSON("/api/experiments/hp", &v)
	if !v.Live || v.Status != journal.StatusRunning || v.Counts.Running != 1 {
		t.Errorf("while running: live %v, status %s, counts %+v", v.Live, v.Status, v.Counts)
	}

	post("stop", 200)
	if ev := c.waitFor(journal.TrialInterrupted); ev.Reason != "stopped" {
		t.Errorf("interrupted = %+v", ev)
	}
	c.waitFor(journal.ExperimentPaused)
	c.waitLive(false)
	if err := p.Wait(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	post("stop", 409)

	post("resume", 200)
	c.waitFor(journal.ExperimentResumed)
	c.waitLive(true)
	post("stop", 200)
	c.waitFor(journal.ExperimentPaused)
	p.Wait(context.Background(), dir)
	if ex, ok := p.LastExit(dir); !ok || ex.Code != 0 {
		t.Errorf("last exit after a clean stop = %+v, %v", ex, ok)
	}
	log, _ := os.ReadFile(runLog(dir))
	if strings.Contains(string(log), "fake run:") {
		t.Errorf("run.log: %s", log)
	}

	for _, verb := range []string{"start", "stop", "resume"} {
		if r := e.do("POST", "/api/experiments/nope/"+verb, "", nil); r.status != 404 {
			t.Errorf("%s on a missing experiment: %d", verb, r.status)
		}
	}
	if r := e.do("POST", "/api/experiments/hp/explode", "", nil); r.status != 404 {
		t.Errorf("unknown verb: %d", r.status)
	}
}

func TestARunThatFailsBeforeItsJournalIsReported(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeRunEnv, "1")
	p := &Processes{Exe: exe}
	e := newEnv(t, Options{Controller: procs{p}})
	dir := e.experiment("hp", "")
	writeFile(t, filepath.Join(dir, "fail"), "")
	c := &stream{t: t, c: e.mustWS("experiment=hp")}
	c.read()
	if r := e.do("POST", "/api/experiments/hp/start", "", nil); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	var m Message
	for m.Kind != "run" {
		m = c.read()
	}
	if m.Run.Code != 4 || !strings.Contains(m.Run.Log, `no such kernel "python3"`) {
		t.Errorf("run message = %+v", m.Run)
	}
	var v View
	e.getJSON("/api/experiments/hp", &v)
	if v.LastRun == nil || v.LastRun.Code != 4 || v.Live {
		t.Errorf("view after the failed run: lastRun %+v, live %v", v.LastRun, v.Live)
	}
	// A second failure is reported again, with only its own output.
	if r := e.do("POST", "/api/experiments/hp/start", "", nil); r.status != 200 {
		t.Fatalf("start again: %d %s", r.status, r.body)
	}
	for m = c.read(); m.Kind != "run"; m = c.read() {
	}
	if strings.Count(m.Run.Log, "no such kernel") != 1 {
		t.Errorf("second run's log = %q", m.Run.Log)
	}
}

func TestStopReachesARunStartedInATerminal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{Controller: procs{&Processes{Exe: exe}}})
	dir := e.experiment("hp", "")
	c := &stream{t: t, c: e.mustWS("experiment=hp")}
	c.read()

	term := exec.Command(exe, "run", dir)
	term.Env = append(os.Environ(), fakeRunEnv+"=1")
	term.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := term.Start(); err != nil {
		t.Fatal(err)
	}
	defer term.Process.Kill()
	c.waitFor(journal.TrialStarted)
	c.waitLive(true)
	if r := e.do("POST", "/api/experiments/hp/start", "", nil); r.status != 409 || !strings.Contains(string(r.body), fmt.Sprint(term.Process.Pid)) {
		t.Errorf("start over a terminal run: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/experiments/hp/stop", "", nil); r.status != 200 {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	c.waitFor(journal.ExperimentPaused)
	if err := term.Wait(); err != nil {
		t.Errorf("the terminal run ended with %v", err)
	}
}

// recorder is a Controller that records what it is asked, for the checks
// the bridge makes before any controller runs.
type recorder struct{ calls []string }

func (r *recorder) Create(_ context.Context, dir string, req NewExperiment) (Created, error) {
	r.calls = append(r.calls, "create "+dir+" "+req.Data)
	if req.Target == "missing" {
		return Created{}, &InvalidError{Field: "target", Message: `"missing" is not a column`}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Created{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, problemFile), []byte("{}\n"), 0o644); err != nil {
		return Created{}, err
	}
	return Created{Problem: filepath.Join(dir, problemFile), AgentsMD: "# agents\n"}, nil
}
func (r *recorder) Start(_ context.Context, dir string) error {
	r.calls = append(r.calls, "start")
	return nil
}
func (r *recorder) Stop(_ context.Context, dir string) error {
	r.calls = append(r.calls, "stop")
	return nil
}
func (r *recorder) Resume(_ context.Context, dir string) error {
	r.calls = append(r.calls, "resume")
	return nil
}

func TestCreateResolvesTheFormBeforeTheController(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, Options{Controller: rec})
	writeFile(t, filepath.Join(e.root, "data", "train.csv"), "a,b\n1,2\n")
	e.experiment("taken", "")

	r := e.do("POST", "/api/experiments", `{"name":"team/new","data":"data/train.csv","target":"b","trials":3,"timeBudget":"30m"}`, nil)
	var created Created
	json.Unmarshal(r.body, &created)
	if r.status != 201 || created.ID != "team/new" || created.Problem != "team/new/problem.jsonnet" || created.AgentsMD != "# agents\n" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	want := "create " + filepath.Join(e.root, "team", "new") + " " + filepath.Join(e.root, "data", "train.csv")
	if len(rec.calls) != 1 || rec.calls[0] != want {
		t.Errorf("controller got %v, want [%s]", rec.calls, want)
	}
	var list struct{ Experiments []Summary }
	e.getJSON("/api/experiments", &list)
	if len(list.Experiments) != 2 || list.Experiments[1].ID != "team/new" {
		t.Errorf("the new experiment is not listed: %+v", list.Experiments)
	}

	tests := []struct {
		body   string
		status int
		field  string
	}{
		{`{"name":"taken","data":"data/train.csv","target":"b"}`, 409, ""},
		{`{"data":"data/train.csv","target":"b"}`, 400, "name"},
		{`{"name":"x","target":"b"}`, 400, "data"},
		{`{"name":"x","data":"data/train.csv"}`, 400, "target"},
		{`{"name":"x","data":"data/nope.csv","target":"b"}`, 400, "data"},
		{`{"name":"x","data":"data","target":"b"}`, 400, "data"},
		{`{"name":"x","data":"data/train.csv","target":"b","timeBudget":"soon"}`, 400, "timeBudget"},
		{`{"name":"x","data":"data/train.csv","target":"b","trials":-1}`, 400, "trials"},
		{`{"name":"x","data":"data/train.csv","target":"missing"}`, 400, "target"},
		{`{"name":"x","data":"data/train.csv","target":"b","colour":"red"}`, 400, ""},
		{`not json`, 400, ""},
	}
	for _, tt := range tests {
		r := e.do("POST", "/api/experiments", tt.body, nil)
		var body apiError
		json.Unmarshal(r.body, &body)
		if r.status != tt.status || body.Field != tt.field || body.Error == "" {
			t.Errorf("%s: %d %s, want %d on %q", tt.body, r.status, r.body, tt.status, tt.field)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, "x")); err == nil {
		t.Error("a refused form left a folder behind")
	}
}

func TestServerWithoutControllerSaysSo(t *testing.T) {
	e := newEnv(t, Options{})
	e.experiment("hp", "")
	if r := e.do("POST", "/api/experiments/hp/start", "", nil); r.status != 501 {
		t.Errorf("start: %d", r.status)
	}
	if r := e.do("POST", "/api/experiments", `{}`, nil); r.status != 501 {
		t.Errorf("create: %d", r.status)
	}
}
