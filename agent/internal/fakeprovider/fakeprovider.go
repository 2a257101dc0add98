// Package fakeprovider is a local HTTP server that speaks the request and
// response shapes of OpenAI's chat completions API and Anthropic's Messages
// API, checks every request it receives the way the real services would
// (path, auth header, model, schema or tool, message order, that the prompt
// carries what it must), and plays a script of answers and faults.
//
// Language models cannot be reached from trialbook's test machines; this is
// how the LLM agents are tested against the real SDKs end to end.
package fakeprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Config says what every request must carry.
type Config struct {
	Key     string   // the API key: Authorization: Bearer (OpenAI) or x-api-key (Anthropic)
	Model   string   // the model every request must name
	Mention []string // texts the prompt (system and messages together) must contain
}

// Server is a running fake provider. Close it when done.
type Server struct {
	cfg  Config
	srv  *httptest.Server
	done chan struct{}

	mu       sync.Mutex
	script   []Step
	requests []Request
	problems []string
	seq      int
	cache    map[string]bool // Anthropic: system prompts in the prompt cache
	down     int             // FailAll's status: every request is answered with it
}

// Request is what the server understood of one request.
type Request struct {
	API      string // "openai" or "anthropic"
	Path     string
	Model    string
	System   string
	Messages []Message
	Schema   string // the json_schema name (OpenAI) or the forced tool's name (Anthropic)
	// Tools are the function tools the request offers, by name, and
	// ToolChoice how it asks for them: "required" (OpenAI) or "any"
	// (Anthropic) for some tool, "auto", or the one tool's name it forces.
	Tools      []string
	ToolChoice string
	MaxTokens  int
	// CacheSystem is set when an Anthropic request marks its system prompt
	// for prompt caching.
	CacheSystem bool
	Header      http.Header
	Body        []byte
}

// Prompt is all the text of a request, system first.
func (r Request) Prompt() string {
	var b strings.Builder
	b.WriteString(r.System)
	for _, m := range r.Messages {
		b.WriteString("\n")
		b.WriteString(m.Text)
	}
	return b.String()
}

// Message is one message of a request, its text blocks joined. Anthropic's
// tool_use and tool_result blocks are kept as their JSON.
type Message struct {
	Role string
	Text string
}

// Step is one scripted reply.
type Step struct {
	kind       string // answer, call, text, status, hang, cut
	answer     any
	calls      []ToolCall
	text       string
	status     int
	retryAfter string
	message    string
}

// Answer replies with v as the structured answer: OpenAI's message content
// holds its JSON, Anthropic's reply is a tool_use of the forced tool with v
// as input.
func Answer(v any) Step { return Step{kind: "answer", answer: v} }

// ToolCall is one function call a scripted reply makes.
type ToolCall struct {
	Name string
	Args any // marshalled to the call's arguments (OpenAI) or input (Anthropic)
}

// Call replies with one call of the tool name with args, the way a model
// that does tool calling answers: OpenAI's message.tool_calls (finish_reason
// tool_calls), Anthropic's tool_use block (stop_reason tool_use). The tool
// need not be one the request offers: models do call tools that do not exist.
func Call(name string, args any) Step {
	return Step{kind: "call", calls: []ToolCall{{Name: name, Args: args}}}
}

// Calls replies with several tool calls at once, text said before them
// (may be empty).
func Calls(text string, calls ...ToolCall) Step {
	return Step{kind: "call", text: text, calls: calls}
}

// Text replies with plain text instead of a structured answer: a malformed
// answer when it is not the JSON that was asked for.
func Text(s string) Step { return Step{kind: "text", text: s} }

// Status replies with an HTTP error in the provider's own error JSON; a
// non-empty retryAfter is sent as the Retry-After header (seconds).
func Status(code int, retryAfter string) Step {
	return Step{kind: "status", status: code, retryAfter: retryAfter}
}

// Hang holds the request without answering until the client gives up.
func Hang() Step { return Step{kind: "hang"} }

// Cut closes the connection without answering.
func Cut() Step { return Step{kind: "cut"} }

// Trial is a structured proposal, as the agents' schema asks for it.
type Trial struct {
	Title    string   `json:"title"`
	Plan     string   `json:"plan"`
	Cells    []string `json:"cells"`
	Family   string   `json:"family"`
	Features string   `json:"features"`
}

// Fix is a structured replacement cell.
type Fix struct {
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Start starts a server on the loopback interface.
func Start(cfg Config) *Server {
	s := &Server{cfg: cfg, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.openAI)
	mux.HandleFunc("/v1/messages", s.anthropic)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// OpenAIURL is the base URL for OpenAI clients (OPENAI_BASE_URL).
func (s *Server) OpenAIURL() string { return s.srv.URL + "/v1" }

// AnthropicURL is the base URL for Anthropic clients (ANTHROPIC_BASE_URL).
func (s *Server) AnthropicURL() string { return s.srv.URL }

// Close releases held requests and stops the server.
func (s *Server) Close() {
	close(s.done)
	s.srv.Close()
}

// Play appends steps to the script.
func (s *Server) Play(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, steps...)
}

// FailAll answers every request from now on with the HTTP status, as a
// provider that is down (5xx) or refuses the key (401) does; the script is
// not played.
func (s *Server) FailAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = status
}

// Left is how many scripted steps have not been played.
func (s *Server) Left() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.script)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Problems returns what was wrong with the requests received, if anything.
func (s *Server) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Server) problem(format string, args ...any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := fmt.Sprintf(format, args...)
	s.problems = append(s.problems, p)
	return p
}

// record keeps a request that no step answers (it was refused first).
func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.seq++
}

// next records a request and pops the step that answers it.
func (s *Server) next(req Request) (Step, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.seq++
	if s.down != 0 {
		return Status(s.down, ""), true
	}
	if len(s.script) == 0 {
		s.problems = append(s.problems, fmt.Sprintf("request %d (%s): no scripted answer left", len(s.requests), req.API))
		return Step{}, false
	}
	st := s.script[0]
	s.script = s.script[1:]
	return st, true
}

func (s *Server) id(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

// checkMentions reports texts the prompt lacks.
func (s *Server) checkMentions(req Request) []string {
	var out []string
	prompt := req.Prompt()
	for _, m := range s.cfg.Mention {
		if !strings.Contains(prompt, m) {
			out = append(out, fmt.Sprintf("prompt lacks %q", m))
		}
	}
	return out
}

// hold blocks a hung request until the client or the server gives up.
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

func cut(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fakeprovider: the response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client sees a cut body
}

// tokens is a stand-in token count: about four characters a token.
func tokens(s string) int { return len(s)/4 + 1 }

func now() int64 { return time.Now().Unix() }
