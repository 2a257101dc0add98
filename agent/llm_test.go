package agent

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"trialbook/specs"
)

func TestParseTrial(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // an error substring; "" for a good trial
	}{
		{"good", `{"title":"Ridge","plan":"p","cells":["a = 1","hand_back(oof, hold)"],"family":"ridge","features":"none"}`, ""},
		{"fenced JSON", "```json\n{\"title\":\"Ridge\",\"plan\":\"p\",\"cells\":[\"hand_back(o, h)\"],\"family\":\"\",\"features\":\"\"}\n```", ""},
		{"not JSON", `Sure, here it is`, "not the JSON object"},
		{"empty title", `{"title":" ","plan":"p","cells":["hand_back(o, h)"]}`, "title is empty"},
		{"missing plan", `{"title":"t","cells":["hand_back(o, h)"]}`, "plan is empty"},
		{"no cells", `{"title":"t","plan":"p","cells":[]}`, "cells is empty"},
		{"blank cell", `{"title":"t","plan":"p","cells":["  ","hand_back(o, h)"]}`, "cell 1 is empty"},
		{"no hand_back", `{"title":"t","plan":"p","cells":["x = 1"]}`, "no cell calls hand_back"},
		{"long title", `{"title":"` + strings.Repeat("x", 200) + `","plan":"p","cells":["hand_back(o, h)"]}`, "title has 200 characters"},
		{"cells not strings", `{"title":"t","plan":"p","cells":[1,2]}`, "not the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTrial(tc.in)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Title != "Ridge" || len(got.Cells) == 0 {
					t.Errorf("trial = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseTrialTagsAndFences(t *testing.T) {
	got, err := parseTrial(`{"title":"Ridge","plan":"p","cells":["` + "```python\\nimport numpy as np\\n```" + `","hand_back(o, h)"],"family":"ridge","features":""}`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cells[0] != "import numpy as np" {
		t.Errorf("cell 1 = %q, want the fence removed", got.Cells[0])
	}
	if len(got.Tags) != 1 || got.Tags["family"] != "ridge" {
		t.Errorf("tags = %v, want only family", got.Tags)
	}
}

func TestParseFix(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"good", `{"source":"x = 2","note":"typo"}`, ""},
		{"empty", `{"source":"","note":"n"}`, "source is empty"},
		{"unchanged", `{"source":"x = 1\n","note":"n"}`, "unchanged"},
		{"not JSON", `x = 2`, "not the JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFix(tc.in, "x = 1")
			if tc.want == "" {
				if err != nil || got.Source != "x = 2" || got.Note != "typo" {
					t.Errorf("fix = %+v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		h        http.Header
		min, max time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second, 3 * time.Second},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"3"}}, 250 * time.Millisecond, 250 * time.Millisecond},
		{http.Header{"Retry-After": {date}}, 80 * time.Second, 91 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0, 0},
		{http.Header{}, 0, 0},
	} {
		if got := retryAfter(tc.h); got < tc.min || got > tc.max {
			t.Errorf("retryAfter(%v) = %s, want in [%s, %s]", tc.h, got, tc.min, tc.max)
		}
	}
}

func TestHTTPFault(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {422, false},
		{408, true}, {409, true}, {429, true}, {500, true}, {502, true}, {503, true}, {529, true},
	} {
		f := httpFault(tc.status, http.Header{"Retry-After": {"2"}}, "msg")
		if f.retry != tc.retry {
			t.Errorf("status %d: retry = %v, want %v", tc.status, f.retry, tc.retry)
		}
		if tc.retry && f.after != 2*time.Second {
			t.Errorf("status %d: after = %s, want 2s", tc.status, f.after)
		}
		if !strings.Contains(f.reason, "msg") {
			t.Errorf("status %d: reason %q lacks the provider's message", tc.status, f.reason)
		}
	}
}

func TestBackoff(t *testing.T) {
	p := RetryPolicy{Base: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			if got := p.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, got, want/2, want)
			}
		}
	}
	if got := p.backoff(100); got > time.Second {
		t.Errorf("backoff(100) = %s, past Max", got)
	}
}

func TestPriceOf(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  Price
	}{
		{"gpt-4o", Price{2.5, 10}},
		{"gpt-4o-mini-2024-07-18", Price{0.15, 0.6}},
		{"claude-sonnet-4-5-20250929", Price{3, 15}},
		{"claude-opus-4-1", Price{15, 75}},
		{"claude-opus-4-5", Price{5, 25}},
		{"llama3.1", Price{}},
	} {
		if got := priceOf(tc.model); got != tc.want {
			t.Errorf("priceOf(%q) = %+v, want %+v", tc.model, got, tc.want)
		}
	}
	if got := (Price{3, 15}).Cost(1_000_000, 100_000); math.Abs(got-4.5) > 1e-9 {
		t.Errorf("cost = %g, want 4.5", got)
	}
}

func TestLeaderboardOrder(t *testing.T) {
	trials := []TrialSummary{
		{Number: 1, Title: "a", Status: "discarded", CV: 0.3},
		{Number: 2, Title: "b|c", Status: "kept", CV: 0.1},
		{Number: 3, Title: "d", Status: "failed"},
		{Number: 4, Title: "e", Status: "discarded", CV: 0.2},
	}
	rows := func(dir specs.Direction) []string {
		var out []string
		for _, l := range strings.Split(leaderboard(trials, dir, 2), "\n")[2:] {
			if f := strings.Split(l, "|"); len(f) > 2 {
				out = append(out, strings.TrimSpace(f[1]))
			}
		}
		return out
	}
	if got, want := strings.Join(rows(specs.Minimize), ","), "2,4,1,3"; got != want {
		t.Errorf("minimize order %s, want %s", got, want)
	}
	if got, want := strings.Join(rows(specs.Maximize), ","), "1,4,2,3"; got != want {
		t.Errorf("maximize order %s, want %s", got, want)
	}
	if !strings.Contains(leaderboard(trials, specs.Minimize, 2), "kept (best)") {
		t.Error("the best trial is not marked")
	}
}

func TestProposePromptKeepsToTheLatest(t *testing.T) {
	var s State
	for i := 1; i <= 30; i++ {
		s.Trials = append(s.Trials, TrialSummary{Number: i, Title: "trial", Status: "discarded", Plan: strings.Repeat("plan ", 500)})
	}
	s.Next = 31
	p := proposePrompt(s)
	if !strings.Contains(p, "18 earlier trials are on the leaderboard only") {
		t.Error("older trials are not summarised as leaderboard-only")
	}
	if len(p) > 20000 {
		t.Errorf("prompt is %d bytes; plans should be clipped", len(p))
	}
}
