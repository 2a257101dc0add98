package agent

import (
	"context"
	"fmt"
	"sync"
)

// Scripted proposes a fixed list of trials in order and fixes cells with a
// function: a deterministic agent for tests and demos. It runs real code in
// real kernels like any other agent; only the choices are scripted.
type Scripted struct {
	Trials []Trial
	// FixFunc repairs a failing cell; nil means no repair (ErrCannotFix).
	FixFunc func(FixRequest) (Fix, error)

	mu    sync.Mutex
	fixes []FixRequest
}

var (
	_ Agent    = (*Scripted)(nil)
	_ Proposer = (*Scripted)(nil)
)

// RunTrial runs the next scripted trial through a session.
func (s *Scripted) RunTrial(ctx context.Context, st State, l Lab) error {
	return RunWhole(ctx, s, st, l)
}

// Propose returns the trial after those the state already holds (trials
// that were interrupted are proposed again), or ErrNoIdeas.
func (s *Scripted) Propose(ctx context.Context, st State) (Trial, error) {
	if err := ctx.Err(); err != nil {
		return Trial{}, err
	}
	done := 0
	for _, t := range st.Trials {
		if t.Status != "interrupted" {
			done++
		}
	}
	if done >= len(s.Trials) {
		return Trial{}, fmt.Errorf("%w: the script's %d trials are proposed", ErrNoIdeas, len(s.Trials))
	}
	return s.Trials[done], nil
}

// Fix calls FixFunc and records the request.
func (s *Scripted) Fix(ctx context.Context, f FixRequest) (Fix, error) {
	s.mu.Lock()
	s.fixes = append(s.fixes, f)
	s.mu.Unlock()
	if s.FixFunc == nil {
		return Fix{}, fmt.Errorf("%w: the script has no fixes", ErrCannotFix)
	}
	return s.FixFunc(f)
}

// FixRequests returns the fix requests so far.
func (s *Scripted) FixRequests() []FixRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FixRequest(nil), s.fixes...)
}
