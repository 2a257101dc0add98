package fakeprovider

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The server's checks must catch what a real provider would refuse; each
// case sends one bad request and expects a 400 in the provider's error
// JSON, and a problem recorded.
func TestServerRejectsBadRequests(t *testing.T) {
	const goodOpenAI = `{"model":"m","messages":[{"role":"system","content":"MARK"},{"role":"user","content":"hi"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"propose_trial","strict":true,"schema":{"type":"object","additionalProperties":false}}}}`
	const goodAnthropic = `{"model":"m","max_tokens":100,"system":[{"type":"text","text":"MARK"}],"messages":[{"role":"user","content":"hi"}],
		"tools":[{"name":"propose_trial","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"propose_trial"}}`
	for _, tc := range []struct {
		name, api, body, want string
	}{
		{"openai good", "openai", goodOpenAI, ""},
		{"openai wrong model", "openai", strings.Replace(goodOpenAI, `"model":"m"`, `"model":"x"`, 1), `model "x", want "m"`},
		{"openai no schema", "openai", `{"model":"m","messages":[{"role":"system","content":"MARK"},{"role":"user","content":"hi"}]}`, "response_format is not a json_schema"},
		{"openai not strict", "openai", strings.Replace(goodOpenAI, `"strict":true`, `"strict":false`, 1), "strict is not true"},
		{"openai prompt lacks", "openai", strings.Replace(goodOpenAI, "MARK", "other", 1), `prompt lacks "MARK"`},
		{"openai ends with assistant", "openai", strings.Replace(goodOpenAI, `{"role":"user","content":"hi"}`, `{"role":"user","content":"hi"},{"role":"assistant","content":"x"}`, 1), "end with a user message"},
		{"anthropic good", "anthropic", goodAnthropic, ""},
		{"anthropic no max_tokens", "anthropic", strings.Replace(goodAnthropic, `"max_tokens":100,`, "", 1), "max_tokens"},
		{"anthropic tool not forced", "anthropic", strings.Replace(goodAnthropic, `"type":"tool","name"`, `"type":"auto","name"`, 1), "tool_choice does not force a tool"},
		{"anthropic roles", "anthropic", strings.Replace(goodAnthropic, `"role":"user"`, `"role":"assistant"`, 1), "roles must alternate"},
		{"anthropic tool_use unanswered", "anthropic", strings.Replace(goodAnthropic, `{"role":"user","content":"hi"}`,
			`{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"propose_trial","input":{}}]},{"role":"user","content":"again"}`, 1), "no tool_result"},
		{"anthropic tool_result answered", "anthropic", strings.Replace(goodAnthropic, `{"role":"user","content":"hi"}`,
			`{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"propose_trial","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"bad","is_error":true},{"type":"text","text":"again"}]}`, 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(Config{Key: "k", Model: "m", Mention: []string{"MARK"}})
			defer s.Close()
			s.Play(Answer(map[string]any{"title": "t"}))
			url := s.OpenAIURL() + "/chat/completions"
			if tc.api == "anthropic" {
				url = s.AnthropicURL() + "/v1/messages"
			}
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Anthropic-Version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if tc.want == "" {
				if resp.StatusCode != 200 || len(s.Problems()) > 0 {
					t.Fatalf("status %d, problems %v: %s", resp.StatusCode, s.Problems(), body)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("error body %s, want an invalid_request_error saying %q", body, tc.want)
			}
			if tc.api == "anthropic" && e.Type != "error" {
				t.Errorf("anthropic errors have type error: %s", body)
			}
			if p := s.Problems(); len(p) != 1 || !strings.Contains(p[0], tc.want) {
				t.Errorf("problems %v, want one saying %q", p, tc.want)
			}
		})
	}
}

func TestServerWrongKey(t *testing.T) {
	s := Start(Config{Key: "k"})
	defer s.Close()
	for _, url := range []string{s.OpenAIURL() + "/chat/completions", s.AnthropicURL() + "/v1/messages"} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer nope")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", url, resp.StatusCode)
		}
	}
	if n := len(s.Problems()); n != 2 {
		t.Errorf("%d problems, want 2", n)
	}
}
