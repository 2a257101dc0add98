package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"trialbook/journal"
)

// What the JupyterLab dashboard needs beyond the journal (docs/api.md,
// Dashboard): a trial notebook's cells and outputs, and two trials compared
// with the keep rule's paired test. The experiment package computes both;
// the bridge only checks the request and serves the answer.

// Inspector reads trial notebooks and compares trials for the dashboard.
// cmd/trialbook wires lab's ReadTrialCells and Compare; the answers are
// served as JSON as they are. events are the journal's events about the
// trials asked for, in order.
type Inspector interface {
	TrialCells(ctx context.Context, dir string, events []journal.Event, n int) (any, error)
	Compare(ctx context.Context, dir string, events []journal.Event, a, b int) (any, error)
}

func (s *Server) dashboardRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /api/experiments/{id}/trials/{n}/cells", s.handleTrialCells)
	m.HandleFunc("GET /api/experiments/{id}/compare", s.handleCompare)
}

// trialArg parses a trial number from the request.
func trialArg(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &InvalidError{name, fmt.Sprintf("trial %q: want a trial number from 1", v)}
	}
	return n, nil
}

// inspect answers with what ask returns for the experiment's trials, once
// they are checked to exist.
func (s *Server) inspect(w http.ResponseWriter, r *http.Request, trials []int, ask func(ctx context.Context, dir string, events []journal.Event) (any, error)) {
	if s.opts.Inspector == nil {
		writeError(w, http.StatusNotImplemented, errors.New("this server cannot read trial notebooks"))
		return
	}
	id := r.PathValue("id")
	dir, err := s.experimentDir(id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Only the events about these trials, read from where the shared fold
	// says they lie in the journal; an unknown trial is a 404.
	var events []journal.Event
	for _, n := range trials {
		_, evs, err := s.trialEvents(id, dir, n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		events = append(events, evs...)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].Seq < events[j].Seq })
	events = slices.CompactFunc(events, func(a, b journal.Event) bool { return a.Seq == b.Seq })
	v, err := ask(r.Context(), dir, events)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%q: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleTrialCells(w http.ResponseWriter, r *http.Request) {
	n, err := trialArg("n", r.PathValue("n"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inspect(w, r, []int{n}, func(ctx context.Context, dir string, events []journal.Event) (any, error) {
		return s.opts.Inspector.TrialCells(ctx, dir, events, n)
	})
}

func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, err := trialArg("a", q.Get("a"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := trialArg("b", q.Get("b"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inspect(w, r, []int{a, b}, func(ctx context.Context, dir string, events []journal.Event) (any, error) {
		return s.opts.Inspector.Compare(ctx, dir, events, a, b)
	})
}
