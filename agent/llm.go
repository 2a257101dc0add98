package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"trialbook/specs"
)

// ErrBudget is returned by an LLM-backed agent when the experiment's token
// budget (specs.Agent.MaxTokens) is spent. lab stops the experiment cleanly on
// it: no more trials are proposed, finished trials are kept.
var ErrBudget = errors.New("the experiment's token budget is spent")

// ErrTrialBudget is returned when one trial's token budget
// (specs.Agent.MaxTokensPerTrial) is spent, typically by fix attempts. Only
// that trial fails.
var ErrTrialBudget = errors.New("the trial's token budget is spent")

// LLMConfig configures an LLM-backed agent. Keys are never part of it: each
// SDK reads its own environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY).
type LLMConfig struct {
	// Model names the provider's model. Empty picks DefaultOpenAIModel or
	// DefaultAnthropicModel; a custom base URL (Ollama, vLLM) needs one.
	Model string
	// BaseURL overrides OPENAI_BASE_URL / ANTHROPIC_BASE_URL and the SDK's
	// default, e.g. http://localhost:11434/v1 for Ollama.
	BaseURL string
	// Temperature is sent only when > 0; some models accept no other value
	// than their default.
	Temperature float64
	// MaxTokensPerTrial caps the tokens (input and output) one trial may
	// spend over its proposal and its fixes; 0 means no cap.
	MaxTokensPerTrial int
	// MaxTokens caps the tokens the whole experiment may spend; 0 means no cap.
	MaxTokens int
	// MaxOutputTokens caps one answer; 0 means 8192.
	MaxOutputTokens int
	// MaxCostPerTrial and MaxCost cap the estimated cost in US dollars of
	// one trial and of the whole experiment; 0 means no cap.
	MaxCostPerTrial float64
	MaxCost         float64
	// Mode is ModeInteractive (tool calling, cell by cell; "" too) or
	// ModeWhole (the whole trial written ahead, for small local models
	// that do not call tools well).
	Mode string
	// MaxToolCalls bounds the tool calls of one interactive trial; 0 takes
	// DefaultMaxToolCalls. Cells are bounded by the problem's
	// budget.cellsPerTrial.
	MaxToolCalls int
	// TrialWall bounds the time one interactive trial may take, the
	// model's thinking included; 0 takes the problem's budget.trialTime.
	TrialWall time.Duration
	// Images sends a cell's image outputs to the model with its results
	// (for models that accept images); otherwise they are named in a line.
	Images bool
	// Price overrides the built-in price table for cost estimates.
	Price *Price
	// Retry bounds how provider faults are retried; zero fields take the
	// defaults of DefaultRetry.
	Retry RetryPolicy
	// HTTPClient sends the requests; nil uses a plain http.Client (each
	// attempt is bounded by Retry.AttemptTimeout through its context).
	HTTPClient *http.Client
	// Log receives debug lines about retries; the zero Logger is silent.
	Log zerolog.Logger
}

// Default models when a problem file names none.
const (
	DefaultOpenAIModel    = "gpt-4.1"
	DefaultAnthropicModel = "claude-sonnet-4-5"
)

const defaultMaxOutputTokens = 8192

// ConfigFromProblem fills an LLMConfig from a problem's agent section.
// Command-line flags are applied by the caller afterwards.
func ConfigFromProblem(a specs.Agent) LLMConfig {
	return LLMConfig{
		Model:             a.Model,
		BaseURL:           a.BaseURL,
		Temperature:       a.Temperature,
		MaxTokensPerTrial: a.MaxTokensPerTrial,
		MaxTokens:         a.MaxTokens,
		MaxCostPerTrial:   a.MaxCostPerTrial,
		MaxCost:           a.MaxCost,
		Mode:              a.Mode,
		MaxToolCalls:      a.MaxToolCalls,
		Images:            a.Images,
		Retry: RetryPolicy{
			Total: a.Retry.Total, Attempt: a.Retry.Attempt, Base: a.Retry.Base, Max: a.Retry.Max,
		},
	}
}

// LLMAgent is an LLM-backed agent: it runs trials through sessions, by
// tool calling cell by cell (ModeInteractive), or proposing and fixing them
// one model call at a time (ModeWhole).
type LLMAgent interface {
	Agent
	Proposer
}

// NewLLMAgent makes the LLM-backed agent of a kind: "openai" (and
// OpenAI-compatible servers) or "anthropic".
func NewLLMAgent(kind string, cfg LLMConfig) (LLMAgent, error) {
	switch kind {
	case "openai":
		return NewOpenAI(cfg)
	case "anthropic":
		return NewAnthropic(cfg)
	}
	return nil, fmt.Errorf("agent %q is not an LLM agent: want openai or anthropic", kind)
}

func (c LLMConfig) check() error {
	switch {
	case c.Temperature < 0 || c.Temperature > 2:
		return fmt.Errorf("agent.temperature is %g: want a value in [0, 2]", c.Temperature)
	case c.MaxTokensPerTrial < 0:
		return fmt.Errorf("agent.maxTokensPerTrial is %d: want 0 (no cap) or more", c.MaxTokensPerTrial)
	case c.MaxTokens < 0:
		return fmt.Errorf("agent.maxTokens is %d: want 0 (no cap) or more", c.MaxTokens)
	case c.MaxOutputTokens < 0:
		return fmt.Errorf("max output tokens is %d: want 0 (default) or more", c.MaxOutputTokens)
	case c.Mode != "" && c.Mode != ModeInteractive && c.Mode != ModeWhole:
		return fmt.Errorf("agent.mode is %q: want %q (tool calling, cell by cell) or %q (the whole trial at once)", c.Mode, ModeInteractive, ModeWhole)
	case c.MaxToolCalls < 0:
		return fmt.Errorf("agent.maxToolCalls is %d: want 0 (default) or more", c.MaxToolCalls)
	case c.MaxCost < 0 || c.MaxCostPerTrial < 0:
		return fmt.Errorf("agent.maxCost %g and agent.maxCostPerTrial %g: want 0 (no cap) or more", c.MaxCost, c.MaxCostPerTrial)
	}
	return nil
}

// llmError is what an LLM agent returns when a call failed after it had
// already spent tokens, so that lab can still account for them.
type llmError struct {
	usage Usage
	err   error
}

func (e *llmError) Error() string { return e.err.Error() }
func (e *llmError) Unwrap() error { return e.err }

// SpentOn returns the tokens an LLM agent spent on a call that ended in err
// (a malformed answer retried and still malformed costs tokens too); zero
// for any other error.
func SpentOn(err error) Usage {
	var le *llmError
	if errors.As(err, &le) {
		return le.usage
	}
	return Usage{}
}

// exchange is one structured question to a model and its answer.
type exchange struct {
	system string
	user   string
	tool   toolSpec
}

// toolSpec is the shape the answer must have: a JSON schema sent as the
// OpenAI response_format or as the one Anthropic tool the model must call.
type toolSpec struct {
	name        string
	description string
	schema      map[string]any
}

// answer is a model's reply to an exchange, before validation.
type answer struct {
	text      string // the JSON the model produced ("" when it produced none)
	toolUseID string // Anthropic: the tool_use block's id, for the tool_result
	refusal   string // why the model produced no JSON, when it said so
	truncated bool   // the answer hit the output token limit
	usage     Usage
}

// complaint is an answer that failed validation, sent back once.
type complaint struct {
	bad    answer
	reason string
}

// provider is one API: it asks and classifies its own errors.
type provider interface {
	name() string
	ask(ctx context.Context, x exchange, maxTokens int, retry *complaint) (answer, error)
	// turn asks for the next step of a tool-calling conversation; images
	// says whether tool results carry their images.
	turn(ctx context.Context, c *chat, maxTokens int, images bool) (reply, error)
	// fault says whether an error from ask is worth retrying, and why it happened.
	fault(err error) fault
	price() Price
}

// llm is what both LLM agents share: prompts, validation, retries and budgets.
type llm struct {
	cfg    LLMConfig
	p      provider
	secret string // the key, for scrubbing from error messages

	mu       sync.Mutex
	spent    Usage
	perTrial map[int]Usage // by trial number
}

func newLLM(cfg LLMConfig, p provider, secret string) *llm {
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = defaultMaxOutputTokens
	}
	if cfg.MaxToolCalls == 0 {
		cfg.MaxToolCalls = DefaultMaxToolCalls
	}
	return &llm{cfg: cfg, p: p, secret: secret, perTrial: map[int]Usage{}}
}

// Spent returns what the agent has spent in this process, all trials together.
func (l *llm) Spent() Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spent
}

func (l *llm) propose(ctx context.Context, s State) (Trial, error) {
	x := exchange{system: systemPrompt(s), user: proposePrompt(s), tool: trialTool()}
	var t Trial
	usage, err := l.converse(ctx, s, s.Next, x, func(text string) error {
		var err error
		t, err = parseTrial(text)
		return err
	})
	if err != nil {
		return Trial{}, &llmError{usage: usage, err: fmt.Errorf("%s agent: propose trial %d: %w", l.p.name(), s.Next, err)}
	}
	t.Usage = usage
	return t, nil
}

func (l *llm) fix(ctx context.Context, f FixRequest) (Fix, error) {
	if f.Number == 0 {
		f.Number = f.State.Next // a caller that does not say: the trial being proposed
	}
	x := exchange{system: systemPrompt(f.State), user: fixPrompt(f), tool: fixTool()}
	var fx Fix
	usage, err := l.converse(ctx, f.State, f.Number, x, func(text string) error {
		var err error
		fx, err = parseFix(text, f.Source)
		return err
	})
	if err != nil {
		return Fix{}, &llmError{usage: usage, err: fmt.Errorf("%s agent: fix cell %d of trial %d (attempt %d): %w", l.p.name(), f.Cell+1, f.Number, f.Attempt, err)}
	}
	fx.Usage = usage
	return fx, nil
}

// converse asks, validates, and asks once more with the validation error
// when the first answer is malformed.
func (l *llm) converse(ctx context.Context, s State, trial int, x exchange, accept func(text string) error) (Usage, error) {
	var total Usage
	var retry *complaint
	for round := 0; ; round++ {
		maxOut, err := l.allowance(s, trial, len(x.system)+len(x.user))
		if err != nil {
			return total, err
		}
		a, err := l.askWithRetry(ctx, x, maxOut, retry)
		if err != nil {
			return total, err
		}
		l.charge(trial, a.usage)
		total = total.add(a.usage)
		reason := judge(a, accept)
		if reason == "" {
			return total, nil
		}
		if round == 1 {
			return total, fmt.Errorf("malformed answer twice; last: %s", l.scrub(reason))
		}
		l.cfg.Log.Debug().Str("provider", l.p.name()).Str("reason", l.scrub(reason)).Msg("malformed answer, asking again")
		retry = &complaint{bad: a, reason: reason}
	}
}

// judge returns why an answer is unusable, or "" when accept took it.
func judge(a answer, accept func(string) error) string {
	switch {
	case a.refusal != "":
		return "the model refused: " + clip(a.refusal, 300)
	case a.truncated:
		return "the answer was cut off at the output token limit; answer more briefly"
	case strings.TrimSpace(a.text) == "":
		return "the answer held no structured output"
	}
	if err := accept(a.text); err != nil {
		return err.Error()
	}
	return ""
}

// allowance checks the budgets before a call whose prompt is about
// promptChars long and returns how many output tokens it may spend.
func (l *llm) allowance(s State, trial int, promptChars int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	maxOut := l.cfg.MaxOutputTokens
	// A rough count of the prompt: about four characters a token.
	prompt := promptChars / 4
	spent := max(l.spent.total(), s.Spent.total())
	if c := l.cfg.MaxTokens; c > 0 {
		left := c - spent - prompt
		if left <= 0 {
			return 0, fmt.Errorf("%w: %d of %d tokens used (agent.maxTokens)", ErrBudget, spent, c)
		}
		maxOut = min(maxOut, left)
	}
	used := l.perTrial[trial]
	if c := l.cfg.MaxTokensPerTrial; c > 0 {
		left := c - used.total() - prompt
		if left <= 0 {
			return 0, fmt.Errorf("%w: trial %d used %d of %d tokens (agent.maxTokensPerTrial)", ErrTrialBudget, trial, used.total(), c)
		}
		maxOut = min(maxOut, left)
	}
	if c, cost := l.cfg.MaxCost, max(l.spent.CostUSD, s.Spent.CostUSD); c > 0 && cost >= c {
		return 0, fmt.Errorf("%w: $%.4f of $%.4f spent (agent.maxCost)", ErrBudget, cost, c)
	}
	if c := l.cfg.MaxCostPerTrial; c > 0 && used.CostUSD >= c {
		return 0, fmt.Errorf("%w: trial %d spent $%.4f of $%.4f (agent.maxCostPerTrial)", ErrCostBudget, trial, used.CostUSD, c)
	}
	return maxOut, nil
}

// ErrCostBudget is returned when one trial's cost bound
// (agent.maxCostPerTrial) is spent; only that trial ends.
var ErrCostBudget = errors.New("the trial's cost budget is spent")

func (l *llm) charge(trial int, u Usage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spent = l.spent.add(u)
	l.perTrial[trial] = l.perTrial[trial].add(u)
}

func (l *llm) scrub(s string) string {
	if l.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, l.secret, "[redacted]")
}

func (u Usage) total() int { return u.InputTokens + u.OutputTokens }

func (u Usage) add(v Usage) Usage {
	return Usage{
		InputTokens:  u.InputTokens + v.InputTokens,
		OutputTokens: u.OutputTokens + v.OutputTokens,
		CostUSD:      u.CostUSD + v.CostUSD,
	}
}

// clip shortens s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + " …"
}

// clipTail keeps the last n bytes of s: a traceback's end says the most.
func clipTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "… " + s[len(s)-n:]
}

// seconds formats a duration for error messages.
func seconds(d time.Duration) string {
	return d.Round(10 * time.Millisecond).String()
}

// runTrial runs one trial in the agent's mode; p is the agent itself.
func (l *llm) runTrial(ctx context.Context, p Proposer, s State, lab Lab) error {
	if l.cfg.Mode == ModeWhole {
		ctx, _ = withRecorder(ctx, lab)
		return RunWhole(ctx, p, s, lab)
	}
	return l.interactive(ctx, s, lab)
}
