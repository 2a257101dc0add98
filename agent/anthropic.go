package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// Anthropic is an agent backed by Anthropic's Messages API. Answers come as
// the input of the one tool the model is made to call (tool_choice).
type Anthropic struct {
	*llm
	client anthropic.Client
	model  string
}

var (
	_ Agent    = (*Anthropic)(nil)
	_ Proposer = (*Anthropic)(nil)
)

// NewAnthropic makes an Anthropic agent. The key comes from ANTHROPIC_API_KEY
// (or ANTHROPIC_AUTH_TOKEN); the base URL from cfg.BaseURL, else
// ANTHROPIC_BASE_URL, else Anthropic's.
func NewAnthropic(cfg LLMConfig) (*Anthropic, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	key := os.Getenv("ANTHROPIC_API_KEY")
	if key == "" {
		key = os.Getenv("ANTHROPIC_AUTH_TOKEN")
	}
	if key == "" {
		return nil, errors.New("anthropic agent: ANTHROPIC_API_KEY is not set; export it (an API key from the Anthropic console)")
	}
	// An explicit request timeout (the same bound as the retry policy's
	// attempt) also keeps the SDK from refusing large max_tokens without
	// streaming on its own estimate.
	opts := []option.RequestOption{option.WithMaxRetries(0), option.WithRequestTimeout(cfg.Retry.withDefaults().Attempt)}
	if cfg.BaseURL != "" {
		if _, err := checkBaseURL(cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("anthropic agent: %w", err)
		}
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	model := cfg.Model
	if model == "" {
		model = DefaultAnthropicModel
	}
	a := &Anthropic{client: anthropic.NewClient(opts...), model: model}
	a.llm = newLLM(cfg, a, key)
	return a, nil
}

// Model is the model the agent asks.
func (a *Anthropic) Model() string { return a.model }

// Propose asks the model for the next trial.
func (a *Anthropic) Propose(ctx context.Context, s State) (Trial, error) { return a.propose(ctx, s) }

// Fix asks the model for a replacement of the failing cell.
func (a *Anthropic) Fix(ctx context.Context, f FixRequest) (Fix, error) { return a.fix(ctx, f) }

// RunTrial runs one trial through a session: by tool calling, cell by cell
// (the default), or written whole and fixed in place with Fix (agent.mode
// 'whole').
func (a *Anthropic) RunTrial(ctx context.Context, s State, l Lab) error {
	return a.runTrial(ctx, a, s, l)
}

func (a *Anthropic) name() string { return "anthropic" }

func (a *Anthropic) price() Price {
	if a.cfg.Price != nil {
		return *a.cfg.Price
	}
	return priceOf(a.model)
}

func (a *Anthropic) ask(ctx context.Context, x exchange, maxTokens int, retry *complaint) (answer, error) {
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(x.user))}
	if retry != nil {
		if retry.bad.toolUseID != "" {
			// A tool_use must be answered by its tool_result; an is_error
			// result is how the API says the input was not acceptable.
			msgs = append(msgs,
				anthropic.NewAssistantMessage(anthropic.NewToolUseBlock(retry.bad.toolUseID, json.RawMessage(retry.bad.text), x.tool.name)),
				anthropic.NewUserMessage(
					anthropic.NewToolResultBlock(retry.bad.toolUseID, retry.reason, true),
					anthropic.NewTextBlock(againPrompt(retry.reason))))
		} else {
			said := strings.TrimSpace(retry.bad.text + " " + retry.bad.refusal)
			if said == "" {
				said = "(no answer)"
			}
			msgs = append(msgs,
				anthropic.NewAssistantMessage(anthropic.NewTextBlock(said)),
				anthropic.NewUserMessage(anthropic.NewTextBlock(againPrompt(retry.reason))))
		}
	}
	tool := anthropicTool(x.tool)
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(a.model),
		MaxTokens: int64(maxTokens),
		// The system prompt (instructions and AGENTS.md) is the same for
		// every call of an experiment: cache it. Prompts under the model's
		// minimum cacheable length are simply not cached.
		System:     []anthropic.TextBlockParam{{Text: x.system, CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:   msgs,
		Tools:      []anthropic.ToolUnionParam{tool},
		ToolChoice: anthropic.ToolChoiceParamOfTool(x.tool.name),
	}
	// No temperature: the Messages API of SDK v2 no longer takes one, so
	// agent.temperature applies to OpenAI-compatible agents only.
	resp, err := a.client.Messages.New(ctx, params)
	if err != nil {
		return answer{}, err
	}
	ans := answer{usage: a.usageOf(resp.Usage)}
	var text []string
	for _, b := range resp.Content {
		switch b.Type {
		case "tool_use":
			if b.Name == x.tool.name && ans.toolUseID == "" {
				ans.text, ans.toolUseID = string(b.Input), b.ID
			}
		case "text":
			text = append(text, b.Text)
		}
	}
	switch resp.StopReason {
	case anthropic.StopReasonMaxTokens:
		ans.truncated = true
	case anthropic.StopReasonRefusal:
		ans.refusal = cmpOrText(strings.Join(text, " "), "stop_reason refusal")
	}
	if ans.toolUseID == "" && ans.refusal == "" && len(text) > 0 {
		// Text instead of the tool call: keep it so that the retry shows
		// the model what it said.
		ans.text = strings.Join(text, "\n")
	}
	return ans, nil
}

func cmpOrText(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func (a *Anthropic) fault(err error) fault {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		return httpFault(apiErr.StatusCode, responseHeader(apiErr.Response), apiErr.Message)
	}
	return transportFault(err)
}

// turn sends the conversation with the tools as Anthropic tools; tool
// results carry their images as image blocks when images is set.
func (a *Anthropic) turn(ctx context.Context, c *chat, maxTokens int, images bool) (reply, error) {
	var msgs []anthropic.MessageParam
	for _, m := range c.msgs {
		var blocks []anthropic.ContentBlockParamUnion
		if m.assistant {
			if strings.TrimSpace(m.text) != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.text))
			}
			for _, tc := range m.calls {
				blocks = append(blocks, anthropic.NewToolUseBlock(tc.id, tc.args, tc.name))
			}
			if len(blocks) == 0 {
				blocks = append(blocks, anthropic.NewTextBlock("(no answer)"))
			}
			msgs = append(msgs, anthropic.NewAssistantMessage(blocks...))
			continue
		}
		for _, r := range m.results {
			b := anthropic.NewToolResultBlock(r.id, r.text, r.isError)
			if images {
				for _, im := range r.images {
					b.OfToolResult.Content = append(b.OfToolResult.Content, anthropic.ToolResultBlockParamContentUnion{
						OfImage: &anthropic.ImageBlockParam{Source: anthropic.ImageBlockParamSourceUnion{
							OfBase64: &anthropic.Base64ImageSourceParam{Data: im.Base64, MediaType: anthropic.Base64ImageSourceMediaType(im.MIME)}}}})
				}
			}
			blocks = append(blocks, b)
		}
		if strings.TrimSpace(m.text) != "" {
			blocks = append(blocks, anthropic.NewTextBlock(m.text))
		}
		msgs = append(msgs, anthropic.NewUserMessage(blocks...))
	}
	var tools []anthropic.ToolUnionParam
	for _, t := range c.tools {
		tools = append(tools, anthropicTool(t))
	}
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(a.model),
		MaxTokens: int64(maxTokens),
		System:    []anthropic.TextBlockParam{{Text: c.system, CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:  msgs,
		Tools:     tools,
	}
	if c.force != "" {
		params.ToolChoice = anthropic.ToolChoiceParamOfTool(c.force)
	} else {
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}
	}
	resp, err := a.client.Messages.New(ctx, params)
	if err != nil {
		return reply{}, err
	}
	r := reply{usage: a.usageOf(resp.Usage)}
	var text []string
	for _, b := range resp.Content {
		switch b.Type {
		case "tool_use":
			r.calls = append(r.calls, toolCall{id: b.ID, name: b.Name, args: json.RawMessage(b.Input)})
		case "text":
			text = append(text, b.Text)
		}
	}
	r.text = strings.Join(text, "\n")
	switch resp.StopReason {
	case anthropic.StopReasonMaxTokens:
		r.truncated = true
	case anthropic.StopReasonRefusal:
		r.refusal = cmpOrText(r.text, "stop_reason refusal")
	}
	return r, nil
}

// anthropicTool is a tool as the Messages API takes it.
func anthropicTool(t toolSpec) anthropic.ToolUnionParam {
	props := t.schema["properties"]
	required, _ := t.schema["required"].([]string)
	tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties:  props,
		Required:    required,
		ExtraFields: map[string]any{"additionalProperties": false},
	}, t.name)
	tool.OfTool.Description = anthropic.String(t.description)
	return tool
}

// usageOf counts an answer's tokens and cost: cache writes cost 1.25 times
// the input price, cache reads 0.1 times.
func (a *Anthropic) usageOf(u anthropic.Usage) Usage {
	in := int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
	out := int(u.OutputTokens)
	p := a.price()
	cost := p.Cost(int(u.InputTokens), out) +
		(1.25*float64(u.CacheCreationInputTokens)+0.1*float64(u.CacheReadInputTokens))*p.InputPerMTok/1e6
	return Usage{InputTokens: in, OutputTokens: out, CostUSD: cost}
}
