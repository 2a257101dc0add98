package specs

import "time"

// Task is the kind of prediction a problem asks for.
type Task string

const (
	Regression Task = "regression"
	Binary     Task = "binary"
	Multiclass Task = "multiclass"
)

// Direction says whether a metric is better when larger or smaller.
type Direction string

const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// Problem is a validated problem file: everything an experiment needs to know
// about what to optimise and under which rules. Paths are absolute.
type Problem struct {
	Name string `json:"name"` // from the problem file's name or its folder
	File string `json:"file"` // the problem file it came from

	Task   Task   `json:"task"`
	Data   string `json:"data"` // the dataset, CSV or Parquet
	Target string `json:"target"`
	Metric Metric `json:"metric"`

	Validation Validation `json:"validation"`
	Holdout    float64    `json:"holdout"` // share of rows sealed away, in [0, 0.5)
	Seed       int64      `json:"seed"`

	Budget   Budget   `json:"budget"`
	Features Features `json:"features"`
	Kernel   Kernel   `json:"kernel"`
	Agent    Agent    `json:"agent"`

	FeatureResearch bool   `json:"featureResearch"`
	Explain         bool   `json:"explain"`
	Context         string `json:"context"`

	// Recipes are extra Jsonnet recipe files for the built-in strategist.
	Recipes []string `json:"recipes,omitempty"`

	// AgentsMD changes the rendered AGENTS.md: sections overridden, added,
	// dropped or reordered, or a whole team template.
	AgentsMD AgentsMD `json:"agentsMd"`

	// Classes are a classification target's class labels as the data spells
	// them, sorted the way pandas sorts them (numbers numerically); nil for
	// regression.
	Classes []string `json:"classes,omitempty"`
}

// AgentsMD is what a problem file says about its AGENTS.md. Section ids are
// those of DefaultSections plus any the problem adds.
type AgentsMD struct {
	Title    string             `json:"title,omitempty"`    // replaces the first heading
	Preamble string             `json:"preamble,omitempty"` // replaces the text under it
	Sections map[string]Section `json:"sections,omitempty"`
	Order    []string           `json:"order,omitempty"` // section ids first in this order, the rest after
	// Template, when set, is a Go text/template that replaces the whole
	// document; see docs/problems.md for what it can use.
	Template string `json:"template,omitempty"`
}

// Section overrides one section of AGENTS.md, or adds one when its id is new.
type Section struct {
	Omit    bool   `json:"omit,omitempty"` // drop the section (null in Jsonnet)
	Title   string `json:"title,omitempty"`
	Body    string `json:"body,omitempty"` // replaces the body
	Prepend string `json:"prepend,omitempty"`
	Append  string `json:"append,omitempty"`
	After   string `json:"after,omitempty"` // place after this section id
}

// Metric names a metric and its direction.
type Metric struct {
	Name      string    `json:"name"` // rmse, rmsle, mae, r2, mape, logloss, auc, accuracy, f1
	Direction Direction `json:"direction"`
}

// Validation is the cross-validation protocol; the harness makes the folds.
type Validation struct {
	Kind   string `json:"kind"` // kfold, stratified_kfold, group_kfold, time_series
	Folds  int    `json:"folds"`
	Group  string `json:"group,omitempty"` // group_kfold: the column that groups rows
	Time   string `json:"time,omitempty"`  // time_series: the column that orders rows
	Repeat int    `json:"repeat,omitempty"`
}

// Budget bounds an experiment. Zero durations mean no limit.
type Budget struct {
	Trials    int           `json:"trials"`
	Time      time.Duration `json:"time"`
	TrialTime time.Duration `json:"trialTime"`
	CellTime  time.Duration `json:"cellTime"`
	// CellsPerTrial bounds the cells one trial may run (its session
	// refuses more).
	CellsPerTrial int `json:"cellsPerTrial"`
}

// Features says which columns trials may use.
type Features struct {
	Include []string `json:"include,omitempty"` // empty: all but target, ids and excluded
	Exclude []string `json:"exclude,omitempty"`
	IDs     []string `json:"ids,omitempty"` // row identifiers, never features
}

// Kernel says where trials run.
type Kernel struct {
	Name string `json:"name"` // kernelspec name; "" means the project's python3
	GPU  bool   `json:"gpu"`
	// Sandbox is SandboxAuto (the default), SandboxRequired or SandboxOff.
	Sandbox string `json:"sandbox"`
	// Transport is "ipc" (the default) or "tcp".
	Transport string `json:"transport"`
	// Memory caps each trial kernel, in bytes: -1 is the default (3/4 of
	// the machine's memory), 0 no cap.
	Memory int64 `json:"memory"`
	// Processes caps each trial kernel's processes and threads: -1 is the
	// default (1024), 0 no cap.
	Processes int `json:"processes"`
	// InForce is what the host actually enforces, found when a run starts
	// (not part of the problem file); AGENTS.md tells agents about it. Nil
	// until then: AGENTS.md then promises no confinement.
	InForce *Confinement `json:"-"`
}

// The values of Kernel.Sandbox.
const (
	SandboxAuto     = "auto"
	SandboxRequired = "required"
	SandboxOff      = "off"
)

// Confinement is what confines trial kernels on this run.
type Confinement struct {
	Sandboxed bool
	// Why says why trials are not sandboxed when Sandboxed is false: off in
	// the problem, or what the host lacks.
	Why string
	// Writable are the paths a trial may write, as a trial names them.
	Writable []string
	// Memory and Processes are the caps in force (0: none).
	Memory    int64
	Processes int
}

// Agent configures who proposes trials.
type Agent struct {
	Kind              string  `json:"kind"` // builtin, openai, anthropic
	Model             string  `json:"model,omitempty"`
	BaseURL           string  `json:"baseURL,omitempty"`
	Temperature       float64 `json:"temperature,omitempty"`
	MaxTokensPerTrial int     `json:"maxTokensPerTrial,omitempty"`
	MaxTokens         int     `json:"maxTokens,omitempty"` // for the whole experiment
	FixAttempts       int     `json:"fixAttempts"`         // default 3
	// LLM agents only (docs/llm-agents.md).
	Mode            string     `json:"mode,omitempty"` // interactive (default) or whole
	MaxToolCalls    int        `json:"maxToolCalls,omitempty"`
	MaxCostPerTrial float64    `json:"maxCostPerTrial,omitempty"` // US dollars, estimated
	MaxCost         float64    `json:"maxCost,omitempty"`
	Images          bool       `json:"images,omitempty"` // send image outputs to the model
	Retry           AgentRetry `json:"retry,omitzero"`
}

// AgentRetry bounds how an LLM agent retries provider faults; zero fields
// take the agent's defaults.
type AgentRetry struct {
	Total   time.Duration `json:"total,omitempty"`   // all attempts of one call, waits included
	Attempt time.Duration `json:"attempt,omitempty"` // one request
	Base    time.Duration `json:"base,omitempty"`    // the first backoff, doubled each retry
	Max     time.Duration `json:"max,omitempty"`     // the longest backoff
}
