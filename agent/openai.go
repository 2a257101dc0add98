package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// OpenAI is an agent backed by an OpenAI-compatible chat-completions API:
// OpenAI itself, or a local server (Ollama, vLLM, llama.cpp's server) through
// a base URL. Answers come as structured output (response_format
// json_schema, strict).
type OpenAI struct {
	*llm
	client openai.Client
	model  string
	// official is true when talking to api.openai.com, which wants
	// max_completion_tokens; compatible servers know max_tokens.
	official bool
}

var (
	_ Agent    = (*OpenAI)(nil)
	_ Proposer = (*OpenAI)(nil)
)

// NewOpenAI makes an OpenAI-compatible agent. The key comes from
// OPENAI_API_KEY; the base URL from cfg.BaseURL, else OPENAI_BASE_URL, else
// OpenAI's. A local server needs no key.
func NewOpenAI(cfg LLMConfig) (*OpenAI, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	key := os.Getenv("OPENAI_API_KEY")
	base := cfg.BaseURL
	if base == "" {
		base = os.Getenv("OPENAI_BASE_URL")
	}
	if key == "" && base == "" {
		return nil, errors.New("openai agent: OPENAI_API_KEY is not set; export it, or point agent.baseURL (or OPENAI_BASE_URL) at a local OpenAI-compatible server such as Ollama (http://localhost:11434/v1)")
	}
	official := base == ""
	if base == "" {
		// Always explicit: an empty OPENAI_BASE_URL would otherwise win.
		base = "https://api.openai.com/v1/"
	}
	u, err := checkBaseURL(base)
	if err != nil {
		return nil, fmt.Errorf("openai agent: %w", err)
	}
	official = official || u.Host == "api.openai.com"
	opts := []option.RequestOption{option.WithMaxRetries(0), option.WithBaseURL(base)}
	model := cfg.Model
	if model == "" {
		if !official {
			return nil, fmt.Errorf("openai agent: agent.model is empty; a server at %s needs the name of one of its models (e.g. llama3.1 for Ollama)", base)
		}
		model = DefaultOpenAIModel
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	o := &OpenAI{client: openai.NewClient(opts...), model: model, official: official}
	o.llm = newLLM(cfg, o, key)
	return o, nil
}

// checkBaseURL accepts an absolute http(s) URL.
func checkBaseURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want an absolute http(s) URL such as http://localhost:11434/v1", base)
	}
	return u, nil
}

// Model is the model the agent asks.
func (o *OpenAI) Model() string { return o.model }

// Propose asks the model for the next trial.
func (o *OpenAI) Propose(ctx context.Context, s State) (Trial, error) { return o.propose(ctx, s) }

// Fix asks the model for a replacement of the failing cell.
func (o *OpenAI) Fix(ctx context.Context, f FixRequest) (Fix, error) { return o.fix(ctx, f) }

// RunTrial runs one trial through a session: by tool calling, cell by cell
// (the default), or written whole and fixed in place with Fix (agent.mode
// 'whole').
func (o *OpenAI) RunTrial(ctx context.Context, s State, l Lab) error {
	return o.runTrial(ctx, o, s, l)
}

func (o *OpenAI) name() string { return "openai" }

func (o *OpenAI) price() Price {
	if o.cfg.Price != nil {
		return *o.cfg.Price
	}
	return priceOf(o.model)
}

func (o *OpenAI) ask(ctx context.Context, x exchange, maxTokens int, retry *complaint) (answer, error) {
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(x.system),
		openai.UserMessage(x.user),
	}
	if retry != nil {
		said := retry.bad.text
		if strings.TrimSpace(said) == "" {
			said = cmp.Or(retry.bad.refusal, "(no answer)")
		}
		msgs = append(msgs,
			openai.AssistantMessage(said),
			openai.UserMessage(againPrompt(retry.reason)))
	}
	params := openai.ChatCompletionNewParams{
		Model:    shared.ChatModel(o.model),
		Messages: msgs,
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:        x.tool.name,
					Description: openai.String(x.tool.description),
					Schema:      x.tool.schema,
					Strict:      openai.Bool(true),
				},
			},
		},
	}
	if o.cfg.Temperature > 0 {
		params.Temperature = openai.Float(o.cfg.Temperature)
	}
	if o.official {
		params.MaxCompletionTokens = openai.Int(int64(maxTokens))
	} else {
		params.MaxTokens = openai.Int(int64(maxTokens))
	}
	resp, err := o.client.Chat.Completions.New(ctx, params)
	if err != nil {
		return answer{}, err
	}
	in, out := int(resp.Usage.PromptTokens), int(resp.Usage.CompletionTokens)
	a := answer{usage: Usage{InputTokens: in, OutputTokens: out, CostUSD: o.price().Cost(in, out)}}
	if len(resp.Choices) == 0 {
		return a, nil // judged as an answer with no structured output
	}
	c := resp.Choices[0]
	a.text = c.Message.Content
	a.refusal = c.Message.Refusal
	a.truncated = c.FinishReason == "length"
	return a, nil
}

func (o *OpenAI) fault(err error) fault {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return httpFault(apiErr.StatusCode, responseHeader(apiErr.Response), apiErr.Message)
	}
	return transportFault(err)
}

// againPrompt asks once more after a malformed answer.
func againPrompt(reason string) string {
	return "Your answer could not be used: " + reason + ". Answer again with the complete, corrected answer in the same structured form."
}

// turn sends the conversation with the tools as function tools. A tool
// message carries text only, so images follow the tool messages in a user
// message.
func (o *OpenAI) turn(ctx context.Context, c *chat, maxTokens int, images bool) (reply, error) {
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(c.system)}
	for _, m := range c.msgs {
		if m.assistant {
			var p openai.ChatCompletionAssistantMessageParam
			if m.text != "" || len(m.calls) == 0 {
				p.Content.OfString = openai.String(cmp.Or(m.text, "(no answer)"))
			}
			for _, tc := range m.calls {
				p.ToolCalls = append(p.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       tc.id,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.name, Arguments: string(tc.args)},
					}})
			}
			msgs = append(msgs, openai.ChatCompletionMessageParamUnion{OfAssistant: &p})
			continue
		}
		var parts []openai.ChatCompletionContentPartUnionParam
		for _, r := range m.results {
			text := r.text
			if r.isError {
				text = "Error: " + text
			}
			msgs = append(msgs, openai.ToolMessage(text, r.id))
			for _, im := range r.images {
				if images {
					parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:" + im.MIME + ";base64," + im.Base64}))
				}
			}
		}
		if len(parts) > 0 {
			parts = append([]openai.ChatCompletionContentPartUnionParam{openai.TextContentPart("The image outputs of the cell above:")}, parts...)
			msgs = append(msgs, openai.UserMessage(parts))
		}
		if m.text != "" {
			msgs = append(msgs, openai.UserMessage(m.text))
		}
	}
	params := openai.ChatCompletionNewParams{Model: shared.ChatModel(o.model), Messages: msgs}
	for _, t := range c.tools {
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: t.name, Description: openai.String(t.description), Parameters: shared.FunctionParameters(t.schema),
		}))
	}
	if c.force != "" {
		params.ToolChoice = openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: c.force})
	} else {
		params.ToolChoice.OfAuto = openai.String("required")
	}
	if o.cfg.Temperature > 0 {
		params.Temperature = openai.Float(o.cfg.Temperature)
	}
	if o.official {
		params.MaxCompletionTokens = openai.Int(int64(maxTokens))
	} else {
		params.MaxTokens = openai.Int(int64(maxTokens))
	}
	resp, err := o.client.Chat.Completions.New(ctx, params)
	if err != nil {
		return reply{}, err
	}
	in, out := int(resp.Usage.PromptTokens), int(resp.Usage.CompletionTokens)
	r := reply{usage: Usage{InputTokens: in, OutputTokens: out, CostUSD: o.price().Cost(in, out)}}
	if len(resp.Choices) == 0 {
		return r, nil
	}
	ch := resp.Choices[0]
	r.text, r.refusal, r.truncated = ch.Message.Content, ch.Message.Refusal, ch.FinishReason == "length"
	for _, tc := range ch.Message.ToolCalls {
		if tc.Type != "function" {
			continue
		}
		r.calls = append(r.calls, toolCall{id: tc.ID, name: tc.Function.Name, args: json.RawMessage(tc.Function.Arguments)})
	}
	return r, nil
}
