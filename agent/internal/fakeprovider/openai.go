package fakeprovider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// openAIRequest is the part of a chat completions request the server checks.
type openAIRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice     json.RawMessage `json:"tool_choice"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Strict *bool          `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
	Stream              bool     `json:"stream"`
}

// openAI serves POST /v1/chat/completions.
func (s *Server) openAI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{API: "openai", Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var problems []string
	if r.Method != http.MethodPost {
		problems = append(problems, "method "+r.Method+", want POST")
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+s.cfg.Key; s.cfg.Key != "" && got != want {
		// Like the real API: a wrong key is a 401, before anything else.
		s.record(req)
		s.problem("openai: Authorization header does not carry the configured key")
		openAIError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: "+strings.TrimPrefix(got, "Bearer ")+".")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problems = append(problems, "Content-Type "+ct+", want application/json")
	}
	var in openAIRequest
	if err := json.Unmarshal(body, &in); err != nil {
		problems = append(problems, "body is not JSON: "+err.Error())
	}
	req.Model = in.Model
	problems = append(problems, readOpenAITools(&req, in)...)
	var pending []string // tool_call ids awaiting their tool message
	for i, m := range in.Messages {
		text, err := openAIText(m.Content)
		if err != nil && !(m.Role == "assistant" && len(m.ToolCalls) > 0 && len(m.Content) == 0) {
			problems = append(problems, fmt.Sprintf("messages[%d].content: %v", i, err))
		}
		if len(pending) > 0 && m.Role != "tool" {
			problems = append(problems, fmt.Sprintf("messages[%d]: an assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id' (%v did not have response messages)", i, pending))
			pending = nil
		}
		switch m.Role {
		case "system", "developer":
			req.System += text
		case "user":
			req.Messages = append(req.Messages, Message{Role: m.Role, Text: text})
		case "assistant":
			for _, c := range m.ToolCalls {
				if c.ID == "" || c.Type != "function" || c.Function.Name == "" {
					problems = append(problems, fmt.Sprintf("messages[%d].tool_calls: each needs an id, type function and a function name", i))
				}
				pending = append(pending, c.ID)
				text += "\n" + c.Function.Name + " " + c.Function.Arguments
			}
			req.Messages = append(req.Messages, Message{Role: m.Role, Text: text})
		case "tool":
			if len(pending) == 0 || pending[0] != m.ToolCallID {
				problems = append(problems, fmt.Sprintf("messages[%d]: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (tool_call_id %q)", i, m.ToolCallID))
			} else {
				pending = pending[1:]
			}
			req.Messages = append(req.Messages, Message{Role: m.Role, Text: text})
		default:
			problems = append(problems, fmt.Sprintf("messages[%d].role %q", i, m.Role))
		}
	}
	if len(pending) > 0 {
		problems = append(problems, fmt.Sprintf("tool_call ids %v did not have response messages", pending))
	}
	switch {
	case in.Model == "":
		problems = append(problems, "model is missing")
	case s.cfg.Model != "" && in.Model != s.cfg.Model:
		problems = append(problems, fmt.Sprintf("model %q, want %q", in.Model, s.cfg.Model))
	}
	last := ""
	if len(req.Messages) > 0 {
		last = req.Messages[len(req.Messages)-1].Role
	}
	if len(req.Messages) == 0 {
		problems = append(problems, "messages hold no user message")
	} else if req.Messages[0].Role != "user" || (last != "user" && !(last == "tool" && len(req.Tools) > 0)) {
		problems = append(problems, "messages must start and end with a user message (or a tool result, when tools are offered)")
	}
	if in.Stream {
		problems = append(problems, "stream is true; the agents read whole answers")
	}
	rf := in.ResponseFormat
	switch {
	case len(in.Tools) > 0 && rf == nil:
		// Tool calling: the answer is a function call, not a JSON document.
	case rf == nil || rf.Type != "json_schema" || rf.JSONSchema == nil:
		problems = append(problems, "response_format is not a json_schema")
	case rf.JSONSchema.Name == "" || rf.JSONSchema.Schema["type"] != "object":
		problems = append(problems, "response_format.json_schema needs a name and an object schema")
	case rf.JSONSchema.Strict == nil || !*rf.JSONSchema.Strict:
		problems = append(problems, "response_format.json_schema.strict is not true")
	case rf.JSONSchema.Schema["additionalProperties"] != false:
		problems = append(problems, "strict schemas need additionalProperties: false")
	default:
		req.Schema = rf.JSONSchema.Name
	}
	for _, n := range []*int{in.MaxTokens, in.MaxCompletionTokens} {
		if n != nil {
			req.MaxTokens = *n
			if *n <= 0 {
				problems = append(problems, fmt.Sprintf("max tokens %d", *n))
			}
		}
	}
	if t := in.Temperature; t != nil && (*t < 0 || *t > 2) {
		problems = append(problems, fmt.Sprintf("temperature %g out of [0, 2]", *t))
	}
	problems = append(problems, s.checkMentions(req)...)
	st, ok := s.next(req)
	if len(problems) > 0 {
		msg := "openai: " + strings.Join(problems, "; ")
		s.problem("%s", msg)
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", msg)
		return
	}
	if !ok {
		openAIError(w, http.StatusInternalServerError, "server_error", "", "fake provider: no scripted answer left")
		return
	}
	s.playOpenAI(w, r, req, st)
}

func (s *Server) playOpenAI(w http.ResponseWriter, r *http.Request, req Request, st Step) {
	switch st.kind {
	case "hang":
		s.hold(r)
		return
	case "cut":
		cut(w)
		return
	case "status":
		if st.retryAfter != "" {
			w.Header().Set("Retry-After", st.retryAfter)
		}
		typ, code, msg := "server_error", "", "The server had an error while processing your request."
		if st.status == http.StatusTooManyRequests {
			typ, code, msg = "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
		}
		openAIError(w, st.status, typ, code, msg)
		return
	}
	if st.kind == "call" {
		s.openAICalls(w, req, st)
		return
	}
	content := st.text
	if st.kind == "answer" {
		b, _ := json.Marshal(st.answer)
		content = string(b)
	}
	in, out := tokens(req.Prompt()), tokens(content)
	w.Header().Set("X-Request-Id", s.id("req_"))
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      s.id("chatcmpl-"),
		"object":  "chat.completion",
		"created": now(),
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": map[string]any{
			"prompt_tokens":     in,
			"completion_tokens": out,
			"total_tokens":      in + out,
		},
		"system_fingerprint": "fp_fake",
	})
}

// openAIText reads a message's content: a string or an array of text parts.
func openAIText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("neither a string nor an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "image_url":
			if p.ImageURL == nil || !strings.HasPrefix(p.ImageURL.URL, "data:image/") {
				return "", fmt.Errorf("an image_url part needs a data:image/... URL")
			}
			b.WriteString("[image]")
		default:
			return "", fmt.Errorf("part type %q", p.Type)
		}
	}
	return b.String(), nil
}

// openAIError writes OpenAI's error JSON.
func openAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": c,
	}})
}

// readOpenAITools checks the function tools a request offers and its
// tool_choice, as the API does.
func readOpenAITools(req *Request, in openAIRequest) []string {
	var problems []string
	names := map[string]bool{}
	for i, t := range in.Tools {
		if t.Type != "function" || t.Function.Name == "" || t.Function.Parameters["type"] != "object" {
			problems = append(problems, fmt.Sprintf("tools[%d]: want type function with a name and object parameters", i))
		}
		names[t.Function.Name] = true
		req.Tools = append(req.Tools, t.Function.Name)
	}
	if len(in.ToolChoice) == 0 {
		return problems
	}
	var mode string
	var forced struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	switch {
	case json.Unmarshal(in.ToolChoice, &mode) == nil:
		if mode != "none" && mode != "auto" && mode != "required" {
			problems = append(problems, fmt.Sprintf("tool_choice %q: want none, auto or required", mode))
		}
		req.ToolChoice = mode
	case json.Unmarshal(in.ToolChoice, &forced) == nil && forced.Type == "function":
		if !names[forced.Function.Name] {
			problems = append(problems, fmt.Sprintf("tool_choice names %q, which is not in tools", forced.Function.Name))
		}
		req.ToolChoice = forced.Function.Name
	default:
		problems = append(problems, "tool_choice is neither a mode nor a function")
	}
	if len(in.Tools) == 0 {
		problems = append(problems, "tool_choice is only allowed when tools are specified")
	}
	return problems
}

// openAICalls answers with the step's tool calls.
func (s *Server) openAICalls(w http.ResponseWriter, req Request, st Step) {
	var calls []map[string]any
	out := tokens(st.text)
	for _, c := range st.calls {
		args, _ := json.Marshal(c.Args)
		out += tokens(string(args))
		calls = append(calls, map[string]any{
			"id": s.id("call_") + fmt.Sprint(len(calls)), "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": string(args)},
		})
	}
	var content any
	if st.text != "" {
		content = st.text
	}
	in := tokens(req.Prompt())
	w.Header().Set("X-Request-Id", s.id("req_"))
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      s.id("chatcmpl-"),
		"object":  "chat.completion",
		"created": now(),
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil, "tool_calls": calls},
			"logprobs":      nil,
			"finish_reason": "tool_calls",
		}},
		"usage": map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out},
	})
}
