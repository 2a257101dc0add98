// Package journal owns the experiment journal: event types, the append-only
// journal.jsonl file, and subscriptions that replay from a sequence number.
package journal

import (
	"encoding/json"
	"time"
)

// Type names an event. The set is open: readers keep events of types they do
// not know.
type Type string

const (
	ExperimentCreated  Type = "experiment.created"
	ExperimentStarted  Type = "experiment.started"
	ExperimentPaused   Type = "experiment.paused"
	ExperimentResumed  Type = "experiment.resumed"
	ExperimentFinished Type = "experiment.finished"
	ExperimentFailed   Type = "experiment.failed"

	TrialProposed    Type = "trial.proposed"
	TrialStarted     Type = "trial.started"
	TrialFinished    Type = "trial.finished"
	TrialFailed      Type = "trial.failed"
	TrialInterrupted Type = "trial.interrupted"
	TrialKept        Type = "trial.kept"
	TrialDiscarded   Type = "trial.discarded"

	CellStarted  Type = "cell.started"
	CellOutput   Type = "cell.output"
	CellFinished Type = "cell.finished"
	CellError    Type = "cell.error"
	CellFixed    Type = "cell.fixed"

	KernelStarted   Type = "kernel.started"
	KernelDied      Type = "kernel.died"
	KernelRestarted Type = "kernel.restarted"

	// AgentStep is one step of an LLM agent: Text summarises what the model
	// said and called and what it got back (Cell: the agent's cell index);
	// AgentRetry is a provider retry (Agent: the provider, Reason, Text:
	// one line; Data: provider, status, attempt, waitSeconds).
	AgentStep  Type = "agent.step"
	AgentRetry Type = "agent.retry"

	EnsembleUpdated Type = "ensemble.updated"
	ReportReady     Type = "report.ready"
)

// Event is one line of journal.jsonl. Seq and Time are set by the journal when
// the event is appended. Fields beyond seq, time and type are optional and
// depend on the type; add fields here (always omitempty), never rename them:
// the JupyterLab panel reads the same JSON (extension-assets/src/tokens.ts).
type Event struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Type Type      `json:"type"`

	// Trial is the trial's number, from 1; zero for experiment-wide events.
	Trial    int    `json:"trial,omitempty"`
	Title    string `json:"title,omitempty"`
	Notebook string `json:"notebook,omitempty"` // relative to the experiment folder
	Plan     string `json:"plan,omitempty"`     // markdown, on trial.proposed
	Agent    string `json:"agent,omitempty"`

	// Cell is the cell's index in the trial notebook, on cell.* events.
	Cell   *int   `json:"cell,omitempty"`
	Source string `json:"source,omitempty"` // the cell's code, on cell.started and cell.fixed
	Text   string `json:"text,omitempty"`   // cell.output: the tail of the text the cell printed
	Ename  string `json:"ename,omitempty"`
	Evalue string `json:"evalue,omitempty"`

	Kernel string `json:"kernel,omitempty"` // a kernel's id, on kernel.* and trial.started
	GPU    string `json:"gpu,omitempty"`    // kernel.started: the kernel's CUDA_VISIBLE_DEVICES, when set

	Score    *Score   `json:"score,omitempty"` // trial.finished, trial.kept, ensemble.updated
	Best     int      `json:"best,omitempty"`  // trial.kept/discarded: the best trial after this decision
	Reason   string   `json:"reason,omitempty"`
	Duration Duration `json:"duration,omitempty"`

	Usage   *Usage             `json:"usage,omitempty"`   // tokens an LLM agent spent on this trial
	Weights map[string]float64 `json:"weights,omitempty"` // ensemble.updated: trial number -> weight

	// Problem is set on experiment.created: a summary for dashboards.
	Problem *ProblemSummary `json:"problem,omitempty"`
	// Budget is set on experiment.started and experiment.resumed: the limits
	// the run works under, so that a plain re-run resumes under them.
	Budget *Budget `json:"budget,omitempty"`

	// Data holds anything else a type needs; kept verbatim.
	Data json.RawMessage `json:"data,omitempty"`
}

// Score is what the harness computed from a trial's predictions.
type Score struct {
	Metric    string    `json:"metric"`
	Direction string    `json:"direction"` // minimize or maximize
	CV        float64   `json:"cv"`        // mean over folds
	CVStd     float64   `json:"cvStd"`
	Folds     []float64 `json:"folds"`
	Holdout   *float64  `json:"holdout,omitempty"`
}

// Usage counts an LLM agent's tokens and their estimated cost.
type Usage struct {
	InputTokens  int     `json:"inputTokens"`
	OutputTokens int     `json:"outputTokens"`
	CostUSD      float64 `json:"costUSD"`
}

// ProblemSummary is what a dashboard shows about the problem.
type ProblemSummary struct {
	Name       string `json:"name"`
	Task       string `json:"task"`
	Target     string `json:"target"`
	Metric     string `json:"metric"`
	Direction  string `json:"direction"`
	Validation string `json:"validation"`
	Trials     int    `json:"trials"`
	TimeBudget string `json:"timeBudget,omitempty"`
	Agent      string `json:"agent"`
}

// Budget is what a run of an experiment may spend. Zero means no limit.
type Budget struct {
	Trials            int      `json:"trials,omitempty"` // finished trials: kept, discarded, failed
	Time              Duration `json:"time,omitempty"`   // running time over all runs
	MaxTokens         int      `json:"maxTokens,omitempty"`
	MaxTokensPerTrial int      `json:"maxTokensPerTrial,omitempty"`
	// Flags names the limits given on the command line ("trials", "time");
	// the others came from the problem file. A flag's limit holds on a
	// re-run until another flag replaces it; a problem's follows the file.
	Flags []string `json:"flags,omitempty"`
}

// Duration is a time.Duration written as seconds in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}
