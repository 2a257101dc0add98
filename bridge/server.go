// Package bridge serves experiments to the JupyterLab panel: an HTTP API and
// an event websocket over every experiment folder under a root (docs/api.md),
// behind a token, an Origin allow-list and a Host check. It only reads
// journals (following those that other processes write) and leaves the
// verbs (create, start, stop, resume) to a Controller.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"trialbook/journal"
)

const (
	journalName = journal.FileName
	eventsPath  = "/api/events"
	maxBody     = 1 << 20
)

// Options configure a Server. Root is required; the rest have defaults.
type Options struct {
	Root string // the folder whose experiments are served
	// Token every request must carry; empty makes a random one (Token()).
	Token string
	// AllowOrigins may call the API from a browser and open the websocket;
	// nil means DefaultAllowOrigins().
	AllowOrigins []string
	// Hosts are extra names accepted in the Host header besides localhost,
	// 127.0.0.1 and ::1, e.g. the address the server is bound to.
	Hosts []string
	// Controller carries out create, start, stop and resume; nil answers
	// those with 501.
	Controller Controller
	// Describe summarises the problem of an experiment whose journal has no
	// experiment.created yet (one just created, not started), so the panel
	// can show it; nil leaves such a snapshot's problem null.
	Describe func(ctx context.Context, dir string) (*journal.ProblemSummary, error)
	// Inspector reads trial notebooks and compares trials for the
	// dashboard (dashboard.go); nil answers those with 501.
	Inspector Inspector

	// WriteTimeout bounds one write to a websocket client (default 10s): a
	// client that stops reading for that long is dropped. ListPoll is how
	// often list websockets look for changes, and event websockets for a
	// change in Live (default 1s).
	WriteTimeout time.Duration
	ListPoll     time.Duration

	// MaxFolds is how many experiments' snapshots are kept folded in memory
	// at most (default DefaultMaxFolds); FoldIdle is how long one nobody asks
	// about is kept (default DefaultFoldIdle). Either way it is folded again
	// when asked for.
	MaxFolds int
	FoldIdle time.Duration

	Log *zerolog.Logger // nil: silent
}

// Server is the bridge. Create it with New.
type Server struct {
	root  string
	opts  Options
	guard *guard
	log   zerolog.Logger
	mux   *http.ServeMux

	store *store // every experiment's summary and fold, shared (store.go)

	mu        sync.Mutex
	described map[string]describedProblem // by folder

	// dropped, when set (by tests), is told the experiment of every event
	// client dropped for not reading.
	dropped chan string
}

// New checks opts and makes a Server.
func New(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("bridge: no root folder")
	}
	abs, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("bridge: root %s: %w", opts.Root, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bridge: root %s: no such folder", opts.Root)
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: root %s: %w", opts.Root, err)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("bridge: root %s is not a folder", opts.Root)
	}
	if opts.Token == "" {
		if opts.Token, err = NewToken(); err != nil {
			return nil, err
		}
	}
	if opts.AllowOrigins == nil {
		opts.AllowOrigins = DefaultAllowOrigins()
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.ListPoll <= 0 {
		opts.ListPoll = time.Second
	}
	if opts.MaxFolds <= 0 {
		opts.MaxFolds = DefaultMaxFolds
	}
	if opts.FoldIdle <= 0 {
		opts.FoldIdle = DefaultFoldIdle
	}
	g, err := newGuard(opts.Token, opts.AllowOrigins, opts.Hosts)
	if err != nil {
		return nil, fmt.Errorf("bridge: --allow-origin: %w", err)
	}
	s := &Server{root: root, opts: opts, guard: g, log: zerolog.Nop(), store: newStore(root, opts.MaxFolds, opts.FoldIdle), described: map[string]describedProblem{}}
	if opts.Log != nil {
		s.log = *opts.Log
	}
	s.routes()
	return s, nil
}

// Token is the token clients must send.
func (s *Server) Token() string { return s.opts.Token }

// Root is the served folder, absolute with symlinks resolved.
func (s *Server) Root() string { return s.root }

// AllowOrigins is the origin allow-list in force.
func (s *Server) AllowOrigins() []string { return append([]string(nil), s.opts.AllowOrigins...) }

// Handler is the whole API behind its security checks.
func (s *Server) Handler() http.Handler { return s.guard.wrap(s.mux) }

// Serve answers on ln until ctx ends, then closes every connection (open
// websockets included) and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdown) // websockets end with ctx (BaseContext); this waits for them
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handleHome)
	m.HandleFunc("GET /api/experiments", s.handleList)
	m.HandleFunc("POST /api/experiments", s.handleCreate)
	m.HandleFunc("GET /api/experiments/{id}", s.handleSnapshot)
	m.HandleFunc("GET /api/experiments/{id}/trials/{n}", s.handleTrial)
	m.HandleFunc("GET /api/experiments/{id}/agents-md", s.handleAgentsMD)
	m.HandleFunc("POST /api/experiments/{id}/{verb}", s.handleVerb)
	m.HandleFunc("GET "+eventsPath, s.handleEvents)
	s.dashboardRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such API: %s %s (see docs/api.md)", r.Method, r.URL.Path))
	})
	s.mux = m
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"` // the form field at fault, for InvalidError
}

func writeError(w http.ResponseWriter, status int, err error) {
	body := apiError{Error: err.Error()}
	var inv *InvalidError
	if errors.As(err, &inv) {
		body.Field = inv.Field
	}
	writeJSON(w, status, body)
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	var inv *InvalidError
	var le *journal.LineError
	switch {
	case errors.Is(err, ErrOutsideRoot):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrRunning), errors.Is(err, ErrNotRunning), errors.Is(err, ErrExists):
		return http.StatusConflict
	case errors.As(err, &inv):
		return http.StatusBadRequest
	case errors.As(err, &le):
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("request failed")
	}
	writeError(w, status, err)
}

// experimentDir resolves an experiment id from the client to its folder,
// confined to the root, and checks that it is an experiment.
func (s *Server) experimentDir(id string) (string, error) {
	dir, err := within(s.root, id, true)
	if err != nil {
		return "", err
	}
	if !isExperiment(dir) {
		return "", fmt.Errorf("experiment %q: %w (no %s or %s there)", id, ErrNotFound, journalName, problemFile)
	}
	// The files read from it must not lead out of the root either.
	for _, name := range []string{journalName, problemFile} {
		rel := filepath.ToSlash(mustRel(s.root, filepath.Join(dir, name)))
		if _, err := within(s.root, rel, true); err != nil && !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	return dir, nil
}

// View is a snapshot as the API answers it: the fold of the journal plus what
// only the bridge knows.
type View struct {
	ID string `json:"id"`
	// Live is true while a process holds the folder's lock (trialbook run,
	// from this bridge or a terminal). A "running" status without Live means
	// the run died; the panel offers Resume.
	Live bool `json:"live"`
	// ProblemError says why problem.jsonnet of a not yet started experiment
	// does not load (it would not run either).
	ProblemError string `json:"problemError,omitempty"`
	// LastRun is how the last run this bridge started here ended, when the
	// Controller knows (Processes does).
	LastRun *RunExit `json:"lastRun,omitempty"`
	journal.Snapshot
}

// view makes the View of snap; lastRun is the zero RunExit when there is none.
func (s *Server) view(ctx context.Context, id, dir string, snap journal.Snapshot, live bool, lastRun RunExit) View {
	v := View{ID: id, Live: live, Snapshot: snap}
	if !lastRun.At.IsZero() {
		v.LastRun = &lastRun
	}
	if v.Problem == nil {
		v.Problem, v.ProblemError = s.describe(ctx, dir)
		if v.Problem != nil && v.Counts.Total == 0 {
			v.Counts.Total = v.Problem.Trials
		}
	}
	return v
}

// exitReporter is a Controller that knows how the runs it started ended.
type exitReporter interface {
	LastExit(dir string) (RunExit, bool)
}

var _ exitReporter = (*Processes)(nil)

func (s *Server) lastExit(dir string) (RunExit, bool) {
	if r, ok := s.opts.Controller.(exitReporter); ok {
		return r.LastExit(dir)
	}
	return RunExit{}, false
}

// describe asks Options.Describe about dir's problem file, remembering the
// answer until the file changes.
func (s *Server) describe(ctx context.Context, dir string) (*journal.ProblemSummary, string) {
	if s.opts.Describe == nil {
		return nil, ""
	}
	st, err := os.Stat(filepath.Join(dir, problemFile))
	if err != nil {
		return nil, ""
	}
	s.mu.Lock()
	c, ok := s.described[dir]
	s.mu.Unlock()
	if ok && c.size == st.Size() && c.modTime.Equal(st.ModTime()) {
		return c.problem, c.err
	}
	c = describedProblem{size: st.Size(), modTime: st.ModTime()}
	if p, err := s.opts.Describe(ctx, dir); err != nil {
		c.err = err.Error()
	} else {
		c.problem = p
	}
	s.mu.Lock()
	s.described[dir] = c
	s.mu.Unlock()
	return c.problem, c.err
}

type describedProblem struct {
	size    int64
	modTime time.Time
	problem *journal.ProblemSummary
	err     string
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "trialbook", "root": s.root, "api": "/api/experiments", "events": eventsPath})
}

// Summary is one row of the experiment list.
type Summary struct {
	ID        string                  `json:"id"`
	Name      string                  `json:"name"`
	Status    string                  `json:"status"`
	Live      bool                    `json:"live"`
	Seq       int64                   `json:"seq"`
	Problem   *journal.ProblemSummary `json:"problem"`
	Counts    journal.Counts          `json:"counts"`
	Best      *journal.TrialRow       `json:"best"`
	UpdatedAt time.Time               `json:"updatedAt,omitzero"`
	Error     string                  `json:"error,omitempty"` // a journal, or the problem file of an unstarted experiment, that cannot be read
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	l, err := s.list(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, l.body)
}

// writeEncoded answers 200 with JSON encoded already.
func writeEncoded(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	dir, err := s.experimentDir(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.viewJSON(r.Context(), id, dir)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}

// viewJSON is the View of the experiment in dir, encoded. The encoding is
// kept until the fold, Live or the last run changes.
func (s *Server) viewJSON(ctx context.Context, id, dir string) ([]byte, error) {
	live, _, _ := journal.Locked(dir)
	lastRun, _ := s.lastExit(dir)
	e := s.store.entryFor(id, dir)
	var b []byte
	var unstarted *journal.Snapshot
	err := s.store.withFold(e, func(f *fold) error {
		if f.err != nil {
			return f.err
		}
		if f.snap.Problem == nil {
			// Described from its problem file, outside the lock.
			c := f.snap.Clone()
			unstarted = &c
			return nil
		}
		key := viewKey{seq: f.snap.Seq, live: live, lastRun: lastRun.At}
		if e.view.b == nil || e.view.key != key {
			enc, err := json.Marshal(s.view(ctx, id, dir, f.snap, live, lastRun))
			if err != nil {
				return fmt.Errorf("encode the snapshot of %q: %w", id, err)
			}
			e.view = cachedJSON{key: key, b: append(enc, '\n')}
		}
		b = e.view.b
		return nil
	})
	if err != nil || unstarted == nil {
		return b, err
	}
	enc, err := json.Marshal(s.view(ctx, id, dir, *unstarted, live, lastRun))
	return append(enc, '\n'), err
}

// snapshotOf is a copy of the current snapshot of the experiment in dir
// (checked by experimentDir), from the shared fold: what a new endpoint
// should use rather than reading the journal.
func (s *Server) snapshotOf(id, dir string) (journal.Snapshot, error) {
	var snap journal.Snapshot
	err := s.store.withFold(s.store.entryFor(id, dir), func(f *fold) error {
		if f.err != nil {
			return f.err
		}
		snap = f.snap.Clone()
		return nil
	})
	return snap, err
}

// trialEvents is trial n's row and every event about it, in order, read
// from where the shared fold says they lie in the journal rather than by
// reading it all.
func (s *Server) trialEvents(id, dir string, n int) (journal.TrialRow, []journal.Event, error) {
	var row journal.TrialRow
	var spans []journal.Span
	found := false
	e := s.store.entryFor(id, dir)
	err := s.store.withFold(e, func(f *fold) error {
		if f.err != nil {
			return f.err
		}
		row, found = f.snap.Trial(n)
		spans = append(spans, f.trials[n]...)
		return nil
	})
	if err != nil {
		return row, nil, err
	}
	if !found {
		return row, nil, fmt.Errorf("trial %d of %q: %w", n, id, ErrNotFound)
	}
	events, err := readSpans(e.path, n, spans)
	return row, events, err
}

// readSpans reads trial n's events from where they lie in the journal.
func readSpans(path string, n int, spans []journal.Span) ([]journal.Event, error) {
	events := make([]journal.Event, 0, len(spans))
	if len(spans) == 0 {
		return events, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	var buf []byte
	for _, sp := range spans {
		buf = slices.Grow(buf[:0], int(sp.Len))[:sp.Len]
		if _, err := f.ReadAt(buf, sp.Offset); err != nil {
			return nil, fmt.Errorf("read journal %s: %w", path, err)
		}
		var ev journal.Event
		if err := json.Unmarshal(buf, &ev); err != nil || ev.Trial != n {
			// Only a journal replaced since it was folded gets here; the
			// next request folds the new one.
			return nil, fmt.Errorf("%s changed while read: %w", path, journal.ErrReplaced)
		}
		events = append(events, ev)
	}
	return events, nil
}

// TrialView is one trial: its row, its plan and every event about it.
type TrialView struct {
	journal.TrialRow
	Plan   string          `json:"plan,omitempty"`
	Events []journal.Event `json:"events"`
}

func (s *Server) handleTrial(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("trial %q: want a trial number from 1", r.PathValue("n")))
		return
	}
	dir, err := s.experimentDir(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	row, events, err := s.trialEvents(id, dir, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tv := TrialView{TrialRow: row, Events: events}
	for _, e := range events {
		if e.Plan != "" {
			tv.Plan = e.Plan
		}
	}
	writeJSON(w, http.StatusOK, tv)
}

func (s *Server) handleAgentsMD(w http.ResponseWriter, r *http.Request) {
	dir, err := s.experimentDir(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// AGENTS.md is opened through the confinement check too: a symlink to
	// a file outside the root is refused.
	path, err := within(s.root, filepath.ToSlash(mustRel(s.root, filepath.Join(dir, "AGENTS.md"))), true)
	if err != nil {
		s.fail(w, r, fmt.Errorf("AGENTS.md of %q: %w", r.PathValue("id"), err))
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		s.fail(w, r, fmt.Errorf("AGENTS.md: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	if s.opts.Controller == nil {
		writeError(w, http.StatusNotImplemented, errors.New("this server cannot create experiments"))
		return
	}
	var req NewExperiment
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w (want a NewExperiment JSON object, see docs/api.md)", err))
		return
	}
	if err := req.check(); err != nil {
		s.fail(w, r, err)
		return
	}
	dir, err := within(s.root, req.Name, false)
	if err != nil {
		s.fail(w, r, &InvalidError{"name", err.Error()})
		return
	}
	if isExperiment(dir) {
		s.fail(w, r, fmt.Errorf("%q: %w", req.Name, ErrExists))
		return
	}
	data, err := within(s.root, req.Data, true)
	if err != nil {
		s.fail(w, r, &InvalidError{"data", err.Error()})
		return
	}
	if st, err := os.Stat(data); err != nil || !st.Mode().IsRegular() {
		s.fail(w, r, &InvalidError{"data", fmt.Sprintf("%q is not a file", req.Data)})
		return
	}
	req.Data = data
	created, err := s.opts.Controller.Create(r.Context(), dir, req)
	if err != nil {
		if statusOf(err) == http.StatusInternalServerError {
			// Problem-file errors are about the form: show them as such.
			err = &InvalidError{"", err.Error()}
		}
		s.fail(w, r, err)
		return
	}
	created.ID = filepath.ToSlash(mustRel(s.root, dir))
	if created.Problem != "" && filepath.IsAbs(created.Problem) {
		created.Problem = filepath.ToSlash(mustRel(s.root, created.Problem))
	}
	writeJSON(w, http.StatusCreated, created)
}

func (s *Server) handleVerb(w http.ResponseWriter, r *http.Request) {
	if s.opts.Controller == nil {
		writeError(w, http.StatusNotImplemented, errors.New("this server cannot start or stop experiments"))
		return
	}
	verbs := map[string]func(context.Context, string) error{
		"start":  s.opts.Controller.Start,
		"stop":   s.opts.Controller.Stop,
		"resume": s.opts.Controller.Resume,
	}
	verb := r.PathValue("verb")
	do, ok := verbs[verb]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no verb %q: want start, stop or resume", verb))
		return
	}
	dir, err := s.experimentDir(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := do(r.Context(), dir); err != nil {
		s.fail(w, r, fmt.Errorf("%s %q: %w", verb, r.PathValue("id"), err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
