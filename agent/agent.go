// Package agent holds who proposes trials: the Agent interface, the built-in
// offline strategist, LLM-backed agents and a scripted agent for tests.
package agent

import (
	"context"
	"errors"

	"trialbook/specs"
)

// Agent runs trials. lab calls RunTrial once per trial with the experiment
// so far; the agent opens one session through l, drives it cell by cell and
// finishes or abandons it. An implementation never scores its own trials.
//
// An error before a session is opened is a proposal that failed (ErrNoIdeas
// and ErrBudget end the experiment cleanly); once a session is open, the
// session's own end is what counts, and a session still open when RunTrial
// returns is ended by lab.
type Agent interface {
	RunTrial(ctx context.Context, s State, l Lab) error
}

// Proposer writes a whole trial ahead and repairs a failing cell: the
// whole-trial mode. RunWhole runs its trials through a session.
type Proposer interface {
	// Propose returns the next trial to run given the experiment so far.
	Propose(ctx context.Context, s State) (Trial, error)
	// Fix returns a replacement for one failing cell. It runs in the same live
	// kernel, so earlier cells' state is still there.
	Fix(ctx context.Context, f FixRequest) (Fix, error)
}

// ErrNoIdeas is returned by Propose when an agent has nothing left to try;
// the experiment then finishes early.
var ErrNoIdeas = errors.New("agent has no more trials to propose")

// Trial is an agent's proposal: a plan and the code cells that carry it out.
// The harness adds its own setup cell before the agent's cells and checks
// that predictions were handed back after them.
type Trial struct {
	Title string   `json:"title"` // short, e.g. "LightGBM on log target"
	Plan  string   `json:"plan"`  // markdown: what is tried and why, citing earlier results
	Cells []string `json:"cells"` // Python code cells, in order
	// Tags describe the trial for later trials and the report, e.g.
	// {"family": "lightgbm", "features": "missing-indicators,ratios"}.
	Tags  map[string]string `json:"tags,omitempty"`
	Usage Usage             `json:"usage"`
}

// Usage counts what an LLM-backed agent spent.
type Usage struct {
	InputTokens  int     `json:"inputTokens"`
	OutputTokens int     `json:"outputTokens"`
	CostUSD      float64 `json:"costUSD"`
}

// State is what an agent sees of the experiment: the problem, the rendered
// instructions, and every earlier trial's outcome, derived from the journal.
type State struct {
	Problem  *specs.Problem
	AgentsMD string
	Profile  string // the data profile as markdown, as AGENTS.md shows it
	Next     int    // the number the proposed trial will get
	Trials   []TrialSummary
	Best     int // number of the best trial so far; 0 when none
	// Train is what the harness measured on the data view's training part
	// (never the holdout); nil when it could not. It is evidence for
	// feature steps, so that no agent needs to read the folder.
	Train *TrainFacts
	// Spent is what LLM agents have spent in this experiment so far, summed
	// from the journal, so that a resumed experiment keeps its token budget.
	// Zero for a fresh experiment.
	Spent Usage
}

// TrialSummary is one earlier trial as the journal tells it, as an agent may
// see it: CV only. It has no holdout score, by design: no agent is shown
// anything derived from the holdout labels during the experiment.
type TrialSummary struct {
	Number   int               `json:"number"`
	Title    string            `json:"title"`
	Plan     string            `json:"plan"`
	Tags     map[string]string `json:"tags,omitempty"`
	Status   string            `json:"status"` // kept, discarded, failed, interrupted
	Reason   string            `json:"reason"`
	CV       float64           `json:"cv"`
	CVStd    float64           `json:"cvStd"`
	Folds    []float64         `json:"folds,omitempty"`
	Error    string            `json:"error,omitempty"`
	Notebook string            `json:"notebook"`
	// Importance is the feature ranking the trial handed back
	// (trials/NNN/importance.json), nil when it handed back none.
	Importance []FeatureImportance `json:"importance,omitempty"`
}

// FeatureImportance is one feature's share of a trial's model importance.
type FeatureImportance struct {
	Feature    string  `json:"feature"`
	Importance float64 `json:"importance"`
	Numeric    bool    `json:"numeric"`
}

// TrainFacts describe the training part of the data view.
type TrainFacts struct {
	TargetNumeric bool
	TargetSkew    float64 // sample skewness (Fisher-Pearson, as pandas' skew)
	TargetMin     float64
	// Missing counts the rows missing each feature column (only columns
	// with some missing).
	Missing map[string]int
	// HighCardinality are the non-numeric feature columns with more than
	// 10 levels, in the file's order.
	HighCardinality []string
}

// FixRequest is a failing cell with what the agent needs to repair it.
type FixRequest struct {
	State     State
	Number    int    // the trial's number; State.Next is the next proposal's
	Trial     Trial  // the trial as proposed
	Cell      int    // index into Trial.Cells of the failing cell
	Source    string // the failing cell's current code
	Ename     string
	Evalue    string
	Traceback string // ANSI escapes removed
	Attempt   int    // 1 for the first fix of this cell
}

// Fix is the replacement for the failing cell.
type Fix struct {
	Source string `json:"source"`
	Note   string `json:"note,omitempty"` // what was wrong, one line
	Usage  Usage  `json:"usage"`
}
