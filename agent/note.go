package agent

import (
	"context"
	"time"
)

// Note is what an agent records beside a trial's own events, so that a
// reviewer can follow it: a step of an LLM agent (agent.step) or a provider
// retry (agent.retry). It never holds a prompt in full.
type Note struct {
	Trial int  // the trial, 0 before one is open
	Cell  *int // agent.step: the agent's cell the step ran, as CellResult.Index
	// Text is an agent.step's compact summary: what the model said and
	// called and what it got back.
	Text  string
	Retry *RetryNote // set on a retry
}

// RetryNote is one provider retry.
type RetryNote struct {
	Provider string
	Status   int // the HTTP status, 0 when there was none (a timeout, a cut connection)
	Reason   string
	Attempt  int // the attempt that failed, from 1
	Wait     time.Duration
}

// Recorder journals an agent's notes. The agent.Lab that lab lends an agent
// implements it; an agent finds it by a type assertion on the Lab.
type Recorder interface {
	Record(n Note) error
}

type recorderKey struct{}

// noter is the recorder a context carries and the trial its notes are for.
type noter struct {
	rec   Recorder
	trial int
}

// withRecorder returns a context whose notes go to l when l records them.
func withRecorder(ctx context.Context, l Lab) (context.Context, *noter) {
	rec, _ := l.(Recorder)
	n := &noter{rec: rec}
	return context.WithValue(ctx, recorderKey{}, n), n
}

// record sends a note to the context's recorder, for its trial; a context
// without one drops it.
func record(ctx context.Context, n Note) error {
	r, _ := ctx.Value(recorderKey{}).(*noter)
	if r == nil || r.rec == nil {
		return nil
	}
	if n.Trial == 0 {
		n.Trial = r.trial
	}
	return r.rec.Record(n)
}
