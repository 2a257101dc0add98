package fakeprovider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// anthropicRequest is the part of a Messages API request the server checks.
type anthropicRequest struct {
	Model     string          `json:"model"`
	MaxTokens *int            `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name        string         `json:"name"`
		InputSchema map[string]any `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Stream bool `json:"stream"`
}

// anthropicBlock is one content block of a message.
type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	// CacheControl marks a prompt-caching breakpoint.
	CacheControl *struct {
		Type string `json:"type"`
	} `json:"cache_control"`
}

// anthropic serves POST /v1/messages.
func (s *Server) anthropic(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{API: "anthropic", Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var problems []string
	if r.Method != http.MethodPost {
		problems = append(problems, "method "+r.Method+", want POST")
	}
	// The key travels as x-api-key, or (SDK v2) as a bearer token.
	got := r.Header.Get("X-Api-Key")
	if got == "" {
		got = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if s.cfg.Key != "" && got != s.cfg.Key {
		s.record(req)
		s.problem("anthropic: neither x-api-key nor Authorization carries the configured key")
		anthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key "+got)
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		problems = append(problems, "anthropic-version header is missing")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problems = append(problems, "Content-Type "+ct+", want application/json")
	}
	var in anthropicRequest
	if err := json.Unmarshal(body, &in); err != nil {
		problems = append(problems, "body is not JSON: "+err.Error())
	}
	req.Model = in.Model
	switch {
	case in.Model == "":
		problems = append(problems, "model: Field required")
	case s.cfg.Model != "" && in.Model != s.cfg.Model:
		problems = append(problems, fmt.Sprintf("model %q, want %q", in.Model, s.cfg.Model))
	}
	if in.MaxTokens == nil || *in.MaxTokens <= 0 {
		problems = append(problems, "max_tokens: Field required, a positive integer")
	} else {
		req.MaxTokens = *in.MaxTokens
	}
	if len(in.System) > 0 {
		text, cached, err := anthropicSystem(in.System)
		if err != nil {
			problems = append(problems, "system: "+err.Error())
		}
		req.System, req.CacheSystem = text, cached
	}
	if in.Stream {
		problems = append(problems, "stream is true; the agents read whole answers")
	}
	tools := map[string]bool{}
	for i, t := range in.Tools {
		req.Tools = append(req.Tools, t.Name)
		if t.Name == "" || t.InputSchema["type"] != "object" {
			problems = append(problems, fmt.Sprintf("tools.%d: a name and an input_schema of type object are required", i))
		}
		tools[t.Name] = true
	}
	switch tc := in.ToolChoice; {
	case tc != nil && (tc.Type == "any" || tc.Type == "auto") && len(tools) > 1:
		// Tool calling: the model picks among several tools.
		req.ToolChoice = tc.Type
	case tc == nil || tc.Type != "tool":
		problems = append(problems, "tool_choice does not force a tool")
	case !tools[tc.Name]:
		problems = append(problems, fmt.Sprintf("tool_choice names %q, which is not in tools", tc.Name))
	default:
		req.Schema, req.ToolChoice = tc.Name, tc.Name
	}
	problems = append(problems, s.readAnthropicMessages(&req, in)...)
	problems = append(problems, s.checkMentions(req)...)
	st, ok := s.next(req)
	if len(problems) > 0 {
		msg := "anthropic: " + strings.Join(problems, "; ")
		s.problem("%s", msg)
		anthropicError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return
	}
	if !ok {
		anthropicError(w, http.StatusInternalServerError, "api_error", "fake provider: no scripted answer left")
		return
	}
	s.playAnthropic(w, r, req, st)
}

// readAnthropicMessages checks the message rules the API enforces: user
// first, roles alternating, and every tool_use answered by a tool_result at
// the start of the next user message.
func (s *Server) readAnthropicMessages(req *Request, in anthropicRequest) []string {
	var problems []string
	if len(in.Messages) == 0 {
		return []string{"messages: at least one message is required"}
	}
	var pending []string // tool_use ids awaiting their tool_result
	for i, m := range in.Messages {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if m.Role != want {
			problems = append(problems, fmt.Sprintf("messages.%d.role %q: roles must alternate, starting with user", i, m.Role))
		}
		var blocks []anthropicBlock
		var s string
		if err := json.Unmarshal(m.Content, &s); err == nil {
			blocks = []anthropicBlock{{Type: "text", Text: s}}
		} else if err := json.Unmarshal(m.Content, &blocks); err != nil {
			problems = append(problems, fmt.Sprintf("messages.%d.content: neither a string nor content blocks", i))
		}
		var text []string
		for j, b := range blocks {
			switch b.Type {
			case "text":
				if strings.TrimSpace(b.Text) == "" {
					problems = append(problems, fmt.Sprintf("messages.%d.content.%d: text content blocks must be non-empty", i, j))
				}
				text = append(text, b.Text)
			case "tool_use":
				pending = append(pending, b.ID)
				text = append(text, string(b.Input))
			case "tool_result":
				if len(pending) == 0 || pending[0] != b.ToolUseID {
					problems = append(problems, fmt.Sprintf("messages.%d.content.%d: tool_result for %q answers no tool_use", i, j, b.ToolUseID))
				} else {
					pending = pending[1:]
				}
				c, err := anthropicResult(b.Content)
				if err != nil {
					problems = append(problems, fmt.Sprintf("messages.%d.content.%d.content: %v", i, j, err))
				}
				text = append(text, c)
			default:
				problems = append(problems, fmt.Sprintf("messages.%d.content.%d: unexpected block type %q", i, j, b.Type))
			}
		}
		if m.Role == "user" && len(pending) > 0 && i > 0 {
			problems = append(problems, fmt.Sprintf("messages.%d: tool_use ids %v have no tool_result blocks immediately after", i, pending))
			pending = nil
		}
		req.Messages = append(req.Messages, Message{Role: m.Role, Text: strings.Join(text, "\n")})
	}
	if in.Messages[len(in.Messages)-1].Role != "user" {
		problems = append(problems, "the last message must be the user's")
	}
	return problems
}

func (s *Server) playAnthropic(w http.ResponseWriter, r *http.Request, req Request, st Step) {
	w.Header().Set("Request-Id", s.id("req_"))
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
		typ, msg := "api_error", "Internal server error"
		switch st.status {
		case http.StatusTooManyRequests:
			typ, msg = "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
			w.Header().Set("Anthropic-Ratelimit-Requests-Remaining", "0")
		case 529:
			typ, msg = "overloaded_error", "Overloaded"
		}
		anthropicError(w, st.status, typ, msg)
		return
	}
	var content []map[string]any
	var out int
	stop := "end_turn"
	if st.kind == "call" {
		if st.text != "" {
			content = append(content, map[string]any{"type": "text", "text": st.text})
			out += tokens(st.text)
		}
		for i, c := range st.calls {
			b, _ := json.Marshal(c.Args)
			out += tokens(string(b))
			content = append(content, map[string]any{"type": "tool_use", "id": s.id("toolu_") + fmt.Sprint(i), "name": c.Name, "input": json.RawMessage(b)})
		}
		stop = "tool_use"
	} else if st.kind == "answer" {
		b, _ := json.Marshal(st.answer)
		out = tokens(string(b))
		content = []map[string]any{{"type": "tool_use", "id": s.id("toolu_"), "name": req.Schema, "input": json.RawMessage(b)}}
		stop = "tool_use"
	} else {
		out = tokens(st.text)
		content = []map[string]any{{"type": "text", "text": st.text}}
	}
	// Like the API: a system prompt marked for caching is written to the
	// cache the first time and read from it after.
	in, written, read := tokens(req.Prompt()), 0, 0
	if req.CacheSystem {
		sys := tokens(req.System)
		if s.cached(req.System) {
			read = sys
		} else {
			written = sys
		}
		in -= sys
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            s.id("msg_"),
		"type":          "message",
		"role":          "assistant",
		"model":         req.Model,
		"content":       content,
		"stop_reason":   stop,
		"stop_sequence": nil,
		"usage": map[string]any{
			"input_tokens":                in,
			"output_tokens":               out,
			"cache_creation_input_tokens": written,
			"cache_read_input_tokens":     read,
		},
	})
}

// anthropicSystem reads the system prompt: a string or text blocks, and
// whether a block asks to be cached.
func anthropicSystem(raw json.RawMessage) (text string, cached bool, err error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, false, nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", false, fmt.Errorf("neither a string nor text blocks")
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type != "text" {
			return "", false, fmt.Errorf("block type %q, want text", bl.Type)
		}
		if bl.CacheControl != nil {
			if bl.CacheControl.Type != "ephemeral" {
				return "", false, fmt.Errorf("cache_control.type %q, want ephemeral", bl.CacheControl.Type)
			}
			cached = true
		}
		b.WriteString(bl.Text)
	}
	return b.String(), cached, nil
}

// cached says whether text is in the prompt cache, and puts it there.
func (s *Server) cached(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string]bool{}
	}
	hit := s.cache[text]
	s.cache[text] = true
	return hit
}

// anthropicError writes Anthropic's error JSON.
func anthropicError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": typ, "message": msg},
		"request_id": "req_fake",
	})
}

// anthropicResult reads a tool_result's content: a string, or text and
// image blocks (an image must be base64 data of an image type).
func anthropicResult(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var c string
	if json.Unmarshal(raw, &c) == nil {
		return c, nil
	}
	var blocks []struct {
		Type   string `json:"type"`
		Text   string `json:"text"`
		Source *struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		} `json:"source"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("neither a string nor content blocks")
	}
	var b strings.Builder
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			b.WriteString(bl.Text)
		case "image":
			if bl.Source == nil || bl.Source.Type != "base64" || !strings.HasPrefix(bl.Source.MediaType, "image/") || bl.Source.Data == "" {
				return "", fmt.Errorf("an image block needs a base64 source with an image media_type")
			}
			b.WriteString("[image]")
		default:
			return "", fmt.Errorf("block type %q in a tool_result", bl.Type)
		}
	}
	return b.String(), nil
}
