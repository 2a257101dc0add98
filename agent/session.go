package agent

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lab is what the harness lends an agent for one trial: the door to a trial
// session. lab implements it; agent cannot import lab.
type Lab interface {
	// Open starts a trial: the notebook is written with the plan and the
	// harness's setup cell, a warm kernel is taken and the setup cell runs.
	// An agent opens at most one session per call of Agent.RunTrial.
	Open(ctx context.Context, p TrialPlan) (Session, error)
}

// TrialPlan is what a trial is opened with.
type TrialPlan struct {
	Title string // short, e.g. "LightGBM on log target"
	Plan  string // markdown: what is tried and why, citing earlier results
	// Tags describe the trial for later trials and the report, e.g.
	// {"family": "lightgbm", "features": "missing-indicators,ratios"}.
	Tags map[string]string
	// Cells, when the agent wrote the whole trial ahead, are the cells it
	// means to run, recorded on trial.proposed; an interactive agent leaves
	// it empty.
	Cells []string
	// Usage is what writing the plan cost (an LLM's tokens).
	Usage Usage
}

// Session is one trial in one live kernel, from its plan to its score. Every
// call is journaled. A session is driven by one caller at a time.
type Session interface {
	// Number is the trial's number; Notebook its path, relative to the
	// experiment folder.
	Number() int
	Notebook() string
	// RunCell appends a code cell, executes it in the live kernel, saves the
	// notebook and returns the cell's outputs. A cell that raises is not an
	// error: its exception is in CellResult.Error. The error is an
	// *EndedError when the trial ended (a time or cell budget, the kernel
	// died, the experiment stopped), and other errors refuse the call
	// (a budget that leaves the trial open).
	RunCell(ctx context.Context, code string) (CellResult, error)
	// ReplaceCell replaces the code of the agent's cell index (0-based, as
	// CellResult.Index) and executes it in the same kernel; the cells before
	// it are not re-run. The replaced attempt is recorded in the notebook
	// (the cell's metadata and a note after it) and journaled as cell.fixed
	// with note.
	ReplaceCell(ctx context.Context, index int, code, note string) (CellResult, error)
	// Spend charges what the agent spent on this trial (an LLM's tokens);
	// past the trial's token budget the trial ends and the error is an
	// *EndedError wrapping ErrTrialBudget.
	Spend(u Usage) error
	// Finish scores the predictions the cells handed back, in the harness,
	// and keeps or discards the trial. When there is nothing to score (no
	// predictions handed back, or the wrong shape) it returns an error
	// wrapping ErrNotScored and the session stays open, so the agent can
	// hand back again and finish, or abandon.
	Finish(ctx context.Context) (Outcome, error)
	// Abandon ends the trial as failed with the reason.
	Abandon(ctx context.Context, reason string) error
}

// CellResult is one executed cell as the agent may see it.
type CellResult struct {
	Index    int // the cell's index among the agent's cells, from 0
	Outputs  []CellOutput
	Error    *CellError // the exception, when the cell raised; nil when it ran to its end
	Duration time.Duration
}

// CellError is an exception a cell raised.
type CellError struct {
	Ename     string
	Evalue    string
	Traceback string // ANSI escapes removed
}

// CellOutput is one output of a cell.
type CellOutput struct {
	// Type is the notebook's output_type: stream, execute_result,
	// display_data or error.
	Type string
	Name string // stream: stdout or stderr
	// Text is a stream's text, or the text/plain of a result or display.
	Text string
	// Images are the image outputs (image/png, image/jpeg, ...), base64
	// encoded as in the notebook.
	Images []Image
	// Ename and Evalue are an error output's exception.
	Ename, Evalue string
}

// Image is one image output.
type Image struct {
	MIME   string
	Base64 string
}

// Outcome is a finished trial as the agent may see it: CV only, never the
// holdout.
type Outcome struct {
	Number int
	Status string // kept or discarded
	Reason string
	Metric string
	CV     float64
	CVStd  float64
	Folds  []float64
	Best   int // the best trial after this decision
}

// Errors a session's caller branches on.
var (
	// ErrNotScored: Finish found nothing it could score; the session is
	// still open.
	ErrNotScored = errors.New("the trial cannot be scored")
	// ErrTrialEnded: the session has ended; see EndedError.
	ErrTrialEnded = errors.New("the trial has ended")
)

// EndedError says the trial ended without the agent finishing it: it
// failed (a budget, a dead kernel, a setup cell that raised) or was
// interrupted (the experiment stopped). The session takes no more calls.
type EndedError struct {
	Number int
	Status string // failed or interrupted
	Reason string
	Err    error // what ended it, when there is one to branch on
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("trial %d %s: %s", e.Number, e.Status, e.Reason)
}

// Is makes errors.Is(err, ErrTrialEnded) hold.
func (e *EndedError) Is(target error) bool { return target == ErrTrialEnded }

func (e *EndedError) Unwrap() error { return e.Err }
