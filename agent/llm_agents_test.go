package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/agent/internal/fakeprovider"
	"trialbook/specs"
)

// testKey is the API key the tests export; no output may ever contain it.
const testKey = "sk-test-7f3a9c1e5b2d4f6a8c0e"

const agentsMarker = "AGENTS-MD-MARKER: predict the house price"

// provider is one API under test.
type provider struct {
	name    string
	keyEnv  string
	baseEnv string
	baseURL func(*fakeprovider.Server) string
	newAgt  func(agent.LLMConfig) (llmAgent, error)
}

// llmAgent is what both LLM agents offer.
type llmAgent interface {
	agent.Agent
	agent.Proposer
	Spent() agent.Usage
	Model() string
}

func providers() []provider {
	return []provider{
		{
			name: "openai", keyEnv: "OPENAI_API_KEY", baseEnv: "OPENAI_BASE_URL",
			baseURL: (*fakeprovider.Server).OpenAIURL,
			newAgt:  func(c agent.LLMConfig) (llmAgent, error) { return agent.NewOpenAI(c) },
		},
		{
			name: "anthropic", keyEnv: "ANTHROPIC_API_KEY", baseEnv: "ANTHROPIC_BASE_URL",
			baseURL: (*fakeprovider.Server).AnthropicURL,
			newAgt:  func(c agent.LLMConfig) (llmAgent, error) { return agent.NewAnthropic(c) },
		},
	}
}

// fastRetry keeps fault tests short; the bounds are the same code as in use.
func fastRetry() agent.RetryPolicy {
	return agent.RetryPolicy{Total: 8 * time.Second, Attempt: time.Second, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
}

var testPrice = agent.Price{InputPerMTok: 3, OutputPerMTok: 15}

// setup starts a fake provider and an agent pointed at it through the
// environment variables a user would set.
func setup(t *testing.T, p provider, edit func(*agent.LLMConfig)) (*fakeprovider.Server, llmAgent) {
	t.Helper()
	srv := fakeprovider.Start(fakeprovider.Config{Key: testKey, Model: "test-model", Mention: []string{agentsMarker}})
	t.Cleanup(func() {
		srv.Close()
		for _, pr := range srv.Problems() {
			t.Errorf("fake %s provider: %s", p.name, pr)
		}
	})
	t.Setenv(p.keyEnv, testKey)
	t.Setenv(p.baseEnv, p.baseURL(srv))
	price := testPrice
	cfg := agent.LLMConfig{Model: "test-model", Retry: fastRetry(), Price: &price}
	if edit != nil {
		edit(&cfg)
	}
	a, err := p.newAgt(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, a
}

func state() agent.State {
	return agent.State{
		Problem: &specs.Problem{
			Name: "house-prices", Task: specs.Regression, Target: "SalePrice",
			Metric: specs.Metric{Name: "rmse", Direction: specs.Minimize},
		},
		AgentsMD: "# house-prices\n\n" + agentsMarker + "\n",
		Profile:  "| column | dtype |\n|---|---|\n| LotArea | int64 |",
		Next:     3,
		Best:     1,
		Trials: []agent.TrialSummary{
			{Number: 1, Title: "Ridge baseline", Plan: "Scale and fit ridge.", Status: "kept", Reason: "first trial", CV: 0.142, CVStd: 0.01, Folds: []float64{0.13, 0.15, 0.146}, Tags: map[string]string{"family": "ridge"}},
			{Number: 2, Title: "LightGBM raw", Plan: "Gradient boosting on raw columns.", Status: "failed", Error: "KeyError: 'Alley'"},
		},
	}
}

func goodTrial() fakeprovider.Trial {
	return fakeprovider.Trial{
		Title: "Ridge on log features",
		Plan:  "Builds on trial 1 (ridge, kept): log-transform skewed columns.",
		Cells: []string{
			"import numpy as np\nfrom sklearn.linear_model import Ridge",
			"oof = np.zeros(len(X))\nfor tr, va in folds:\n    m = Ridge().fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va])",
			"hand_back(oof, Ridge().fit(X, y).predict(X_holdout))",
		},
		Family:   "ridge",
		Features: "log",
	}
}

func TestProposeGoodTrial(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			srv, a := setup(t, p, nil)
			srv.Play(fakeprovider.Answer(goodTrial()))
			got, err := a.Propose(context.Background(), state())
			if err != nil {
				t.Fatal(err)
			}
			want := goodTrial()
			if got.Title != want.Title || got.Plan != want.Plan || strings.Join(got.Cells, "|") != strings.Join(want.Cells, "|") {
				t.Errorf("trial = %+v, want %+v", got, want)
			}
			if got.Tags["family"] != "ridge" || got.Tags["features"] != "log" {
				t.Errorf("tags = %v", got.Tags)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Schema != "propose_trial" {
				t.Errorf("schema = %q", r.Schema)
			}
			for _, s := range []string{agentsMarker, "LotArea", "Ridge baseline", "kept", "KeyError: 'Alley'", "first trial", "Propose trial 3", "hand_back("} {
				if !strings.Contains(r.Prompt(), s) {
					t.Errorf("prompt lacks %q", s)
				}
			}
			if got.Usage.InputTokens <= 0 || got.Usage.OutputTokens <= 0 {
				t.Errorf("usage = %+v, want tokens counted", got.Usage)
			}
			wantCost := testPrice.Cost(got.Usage.InputTokens, got.Usage.OutputTokens)
			if p.name == "anthropic" {
				wantCost = cachedCost(r, got.Usage, 1.25) // a first call writes the cache
			}
			if math.Abs(got.Usage.CostUSD-wantCost) > 1e-12 {
				t.Errorf("cost = %g, want %g", got.Usage.CostUSD, wantCost)
			}
			if a.Spent() != got.Usage {
				t.Errorf("spent = %+v, want %+v", a.Spent(), got.Usage)
			}
		})
	}
}

func TestFixFailingCell(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			srv, a := setup(t, p, nil)
			trial := goodTrial()
			trial.Cells = []string{
				"import numpy as np",
				"features = list(X.columns)",
				"X2 = X[features + ['NoSuchColumn']]",
				"hand_back(np.zeros(len(X)), np.zeros(len(X_holdout)))",
			}
			srv.Play(fakeprovider.Answer(trial), fakeprovider.Answer(fakeprovider.Fix{Source: "X2 = X[features]", Note: "NoSuchColumn does not exist"}))
			s := state()
			tr, err := a.Propose(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			fx, err := a.Fix(context.Background(), agent.FixRequest{
				State: s, Trial: tr, Cell: 2, Source: tr.Cells[2], Attempt: 1,
				Ename: "KeyError", Evalue: "\"['NoSuchColumn'] not in index\"",
				Traceback: "Traceback (most recent call last)\n  Cell In[4], line 1\nKeyError: \"['NoSuchColumn'] not in index\"",
			})
			if err != nil {
				t.Fatal(err)
			}
			if fx.Source != "X2 = X[features]" || fx.Note != "NoSuchColumn does not exist" {
				t.Errorf("fix = %+v", fx)
			}
			if fx.Usage.InputTokens <= 0 {
				t.Errorf("fix usage = %+v", fx.Usage)
			}
			r := srv.Requests()[1]
			if r.Schema != "fix_cell" {
				t.Errorf("schema = %q", r.Schema)
			}
			for _, s := range []string{"features = list(X.columns)", "X2 = X[features + ['NoSuchColumn']]", "not in index", "cell 3, fix attempt 1", "hand_back(np.zeros"} {
				if !strings.Contains(r.Prompt(), s) {
					t.Errorf("fix prompt lacks %q", s)
				}
			}
			if got, want := a.Spent(), tr.Usage.InputTokens+tr.Usage.OutputTokens+fx.Usage.InputTokens+fx.Usage.OutputTokens; got.InputTokens+got.OutputTokens != want {
				t.Errorf("spent %+v, want %d tokens", got, want)
			}
		})
	}
}

func TestMalformedAnswerIsRetriedOnce(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name+"/then good", func(t *testing.T) {
			srv, a := setup(t, p, nil)
			bad := goodTrial()
			bad.Title = ""
			bad.Cells = bad.Cells[:2] // no hand_back
			srv.Play(fakeprovider.Answer(bad), fakeprovider.Answer(goodTrial()))
			got, err := a.Propose(context.Background(), state())
			if err != nil {
				t.Fatal(err)
			}
			if got.Title != goodTrial().Title {
				t.Errorf("title = %q", got.Title)
			}
			reqs := srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("%d requests, want 2", len(reqs))
			}
			retry := reqs[1].Prompt()
			for _, s := range []string{"title is empty", "no cell calls hand_back"} {
				if !strings.Contains(retry, s) {
					t.Errorf("retry prompt lacks the validation error %q", s)
				}
			}
			if got.Usage.InputTokens < (len(reqs[0].Prompt())+len(reqs[1].Prompt()))/4 || got.Usage != a.Spent() {
				t.Errorf("usage %+v should count both answers (spent %+v)", got.Usage, a.Spent())
			}
		})
		t.Run(p.name+"/not json", func(t *testing.T) {
			srv, a := setup(t, p, nil)
			srv.Play(fakeprovider.Text("Sure! Here is my trial: train a ridge."), fakeprovider.Answer(goodTrial()))
			if _, err := a.Propose(context.Background(), state()); err != nil {
				t.Fatal(err)
			}
			if got := srv.Requests()[1].Prompt(); !strings.Contains(got, "Here is my trial") || !strings.Contains(got, "could not be used") {
				t.Errorf("retry does not show the model its answer and the complaint:\n%s", got)
			}
		})
		t.Run(p.name+"/twice", func(t *testing.T) {
			srv, a := setup(t, p, nil)
			bad := goodTrial()
			bad.Cells = nil
			srv.Play(fakeprovider.Answer(bad), fakeprovider.Answer(bad))
			_, err := a.Propose(context.Background(), state())
			if err == nil || !strings.Contains(err.Error(), "malformed answer twice") || !strings.Contains(err.Error(), "cells is empty") {
				t.Fatalf("err = %v, want the reason", err)
			}
			if u := agent.SpentOn(err); u.InputTokens == 0 || u != a.Spent() {
				t.Errorf("SpentOn(err) = %+v, want what both answers cost (%+v)", u, a.Spent())
			}
			if n := len(srv.Requests()); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
		})
	}
}

func TestProviderFaultsAreRetried(t *testing.T) {
	for _, p := range providers() {
		for _, tc := range []struct {
			name    string
			faults  []fakeprovider.Step
			minWait time.Duration
		}{
			{"429 with Retry-After", []fakeprovider.Step{fakeprovider.Status(http.StatusTooManyRequests, "1")}, time.Second},
			{"5xx", []fakeprovider.Step{fakeprovider.Status(http.StatusInternalServerError, ""), fakeprovider.Status(http.StatusServiceUnavailable, ""), fakeprovider.Status(529, "")}, 0},
			{"timeout", []fakeprovider.Step{fakeprovider.Hang()}, fastRetry().Attempt},
			{"cut connection", []fakeprovider.Step{fakeprovider.Cut()}, 0},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				srv, a := setup(t, p, nil)
				srv.Play(tc.faults...)
				srv.Play(fakeprovider.Answer(goodTrial()))
				start := time.Now()
				got, err := a.Propose(context.Background(), state())
				if err != nil {
					t.Fatal(err)
				}
				if got.Title != goodTrial().Title {
					t.Errorf("title = %q", got.Title)
				}
				if n, want := len(srv.Requests()), len(tc.faults)+1; n != want {
					t.Errorf("%d requests, want %d", n, want)
				}
				if d := time.Since(start); d < tc.minWait {
					t.Errorf("answered after %s; the retry should have waited at least %s", d, tc.minWait)
				}
			})
		}
	}
}

func TestProviderFaultsGiveUp(t *testing.T) {
	for _, p := range providers() {
		for _, tc := range []struct {
			name     string
			steps    []fakeprovider.Step
			retry    agent.RetryPolicy
			requests int // how many requests are sent before giving up; 0: at least 2
			want     string
		}{
			{"bad request is not retried", []fakeprovider.Step{fakeprovider.Status(http.StatusBadRequest, "")}, fastRetry(), 1, "HTTP 400"},
			{"Retry-After beyond the bound", []fakeprovider.Step{fakeprovider.Status(http.StatusTooManyRequests, "120")}, fastRetry(), 1, "retry after 2m0s"},
			{"timeouts until the bound", []fakeprovider.Step{fakeprovider.Hang(), fakeprovider.Hang(), fakeprovider.Hang(), fakeprovider.Hang(), fakeprovider.Hang()},
				agent.RetryPolicy{Total: 700 * time.Millisecond, Attempt: 200 * time.Millisecond, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}, 0, "no answer within"},
			{"5xx until the bound", []fakeprovider.Step{fakeprovider.Status(502, ""), fakeprovider.Status(502, ""), fakeprovider.Status(502, ""), fakeprovider.Status(502, ""), fakeprovider.Status(502, ""), fakeprovider.Status(502, ""), fakeprovider.Status(502, "")},
				agent.RetryPolicy{Total: 300 * time.Millisecond, Attempt: 200 * time.Millisecond, Base: 100 * time.Millisecond, Max: 100 * time.Millisecond}, 0, "HTTP 502"},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				srv, a := setup(t, p, func(c *agent.LLMConfig) { c.Retry = tc.retry })
				srv.Play(tc.steps...)
				start := time.Now()
				_, err := a.Propose(context.Background(), state())
				took := time.Since(start)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to say %q", err, tc.want)
				}
				if errors.Is(err, agent.ErrBudget) {
					t.Errorf("a provider fault must not read as the experiment's budget: %v", err)
				}
				if took > tc.retry.Total+time.Second {
					t.Errorf("gave up after %s, past the bound of %s", took, tc.retry.Total)
				}
				n := len(srv.Requests())
				if tc.requests > 0 && n != tc.requests || tc.requests == 0 && n < 2 {
					t.Errorf("%d requests sent", n)
				}
			})
		}
	}
}

func TestCancelStopsRetrying(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			srv, a := setup(t, p, func(c *agent.LLMConfig) { c.Retry.Attempt = time.Minute; c.Retry.Total = time.Minute })
			srv.Play(fakeprovider.Hang())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := a.Propose(ctx, state())
				done <- err
			}()
			waitFor(t, func() bool { return len(srv.Requests()) == 1 })
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
}

// waitFor polls a condition that another goroutine makes true; the fake
// server has no event for "a request arrived" other than its records.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within 10s")
		}
	}
}

func TestBudgets(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name+"/experiment", func(t *testing.T) {
			// Measure what one proposal costs, then allow a little more
			// than its prompt: the first call fits, the second does not.
			srv, a := setup(t, p, nil)
			srv.Play(fakeprovider.Answer(goodTrial()))
			first, err := a.Propose(context.Background(), state())
			if err != nil {
				t.Fatal(err)
			}
			capTokens := first.Usage.InputTokens + 40
			srv, a = setup(t, p, func(c *agent.LLMConfig) { c.MaxTokens = capTokens })
			srv.Play(fakeprovider.Answer(goodTrial()))
			if _, err := a.Propose(context.Background(), state()); err != nil {
				t.Fatal(err)
			}
			if mt := srv.Requests()[0].MaxTokens; mt <= 0 || mt > 60 {
				t.Errorf("max tokens asked = %d, want the little that is left of the budget", mt)
			}
			_, err = a.Propose(context.Background(), state())
			if !errors.Is(err, agent.ErrBudget) {
				t.Fatalf("err = %v, want ErrBudget", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests, want none after the budget is spent", n)
			}
		})
		t.Run(p.name+"/resumed", func(t *testing.T) {
			srv, a := setup(t, p, func(c *agent.LLMConfig) { c.MaxTokens = 10000 })
			s := state()
			s.Spent = agent.Usage{InputTokens: 9000, OutputTokens: 1500}
			if _, err := a.Propose(context.Background(), s); !errors.Is(err, agent.ErrBudget) {
				t.Fatalf("err = %v, want ErrBudget from what the journal says was spent", err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
		t.Run(p.name+"/trial", func(t *testing.T) {
			srv, a := setup(t, p, nil)
			srv.Play(fakeprovider.Answer(goodTrial()))
			first, err := a.Propose(context.Background(), state())
			if err != nil {
				t.Fatal(err)
			}
			perTrial := first.Usage.InputTokens + first.Usage.OutputTokens + 10
			srv, a = setup(t, p, func(c *agent.LLMConfig) { c.MaxTokensPerTrial = perTrial })
			srv.Play(fakeprovider.Answer(goodTrial()), fakeprovider.Answer(goodTrial()))
			s := state()
			tr, err := a.Propose(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Fix(context.Background(), agent.FixRequest{State: s, Trial: tr, Cell: 1, Source: tr.Cells[1], Ename: "ValueError", Evalue: "bad", Attempt: 1})
			if !errors.Is(err, agent.ErrTrialBudget) || errors.Is(err, agent.ErrBudget) {
				t.Fatalf("err = %v, want ErrTrialBudget only", err)
			}
			// The next trial has its own budget.
			s.Next++
			if _, err := a.Propose(context.Background(), s); err != nil {
				t.Errorf("next trial: %v", err)
			}
		})
	}
}

func TestKeyNeverInOutputs(t *testing.T) {
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := zerolog.New(&logs).Level(zerolog.DebugLevel)
			srv, a := setup(t, p, func(c *agent.LLMConfig) { c.Log = log })
			srv.Play(fakeprovider.Status(http.StatusTooManyRequests, ""), fakeprovider.Text("no json"), fakeprovider.Answer(goodTrial()))
			tr, err := a.Propose(context.Background(), state())
			if err != nil {
				t.Fatal(err)
			}
			if logs.Len() == 0 {
				t.Error("no debug log of the retry")
			}
			outputs := logs.String() + fmt.Sprintf("%+v", tr)

			// A wrong key: the provider's 401 message echoes it back.
			wrong := fakeprovider.Start(fakeprovider.Config{Key: "the-right-key", Model: "test-model"})
			defer wrong.Close()
			t.Setenv(p.baseEnv, p.baseURL(wrong))
			b, err := p.newAgt(agent.LLMConfig{Model: "test-model", Retry: fastRetry(), Log: log})
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Propose(context.Background(), state())
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("err = %v, want a 401", err)
			}
			if !strings.Contains(string(wrong.Requests()[0].Body), "house-prices") {
				t.Error("the request did not reach the server")
			}
			outputs += err.Error() + logs.String()
			if strings.Contains(outputs, testKey) {
				t.Errorf("the API key appears in an output:\n%s", outputs)
			}
		})
	}
}

func TestNewAgentConfig(t *testing.T) {
	t.Run("openai needs a key or a base URL", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "")
		t.Setenv("OPENAI_BASE_URL", "")
		_, err := agent.NewOpenAI(agent.LLMConfig{})
		if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
			t.Errorf("err = %v, want it to name OPENAI_API_KEY", err)
		}
	})
	t.Run("anthropic needs a key", func(t *testing.T) {
		t.Setenv("ANTHROPIC_API_KEY", "")
		t.Setenv("ANTHROPIC_AUTH_TOKEN", "")
		_, err := agent.NewAnthropic(agent.LLMConfig{})
		if err == nil || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
			t.Errorf("err = %v, want it to name ANTHROPIC_API_KEY", err)
		}
	})
	t.Run("a local server needs a model", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "")
		_, err := agent.NewOpenAI(agent.LLMConfig{BaseURL: "http://localhost:11434/v1"})
		if err == nil || !strings.Contains(err.Error(), "agent.model") {
			t.Errorf("err = %v, want it to name agent.model", err)
		}
	})
	t.Run("bad base URL", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", testKey)
		_, err := agent.NewOpenAI(agent.LLMConfig{BaseURL: "localhost:11434"})
		if err == nil || !strings.Contains(err.Error(), "localhost:11434") {
			t.Errorf("err = %v, want it to quote the URL", err)
		}
	})
	t.Run("bad temperature", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", testKey)
		_, err := agent.NewOpenAI(agent.ConfigFromProblem(specs.Agent{Kind: "openai", Temperature: 3}))
		if err == nil || !strings.Contains(err.Error(), "agent.temperature") {
			t.Errorf("err = %v, want it to name agent.temperature", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", testKey)
		t.Setenv("OPENAI_BASE_URL", "")
		t.Setenv("ANTHROPIC_API_KEY", testKey)
		o, err := agent.NewOpenAI(agent.LLMConfig{})
		if err != nil || o.Model() != agent.DefaultOpenAIModel {
			t.Errorf("openai: %v, model %q", err, o.Model())
		}
		a, err := agent.NewAnthropic(agent.LLMConfig{})
		if err != nil || a.Model() != agent.DefaultAnthropicModel {
			t.Errorf("anthropic: %v, model %q", err, a.Model())
		}
	})
}

// A local OpenAI-compatible server (Ollama) takes no key; none is sent.
func TestOpenAILocalServerWithoutKey(t *testing.T) {
	srv := fakeprovider.Start(fakeprovider.Config{Model: "llama3.1", Mention: []string{agentsMarker}})
	defer srv.Close()
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("OPENAI_BASE_URL", "")
	a, err := agent.NewOpenAI(agent.LLMConfig{Model: "llama3.1", BaseURL: srv.OpenAIURL(), Temperature: 0.2, Retry: fastRetry()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Play(fakeprovider.Answer(goodTrial()))
	tr, err := a.Propose(context.Background(), state())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Usage.CostUSD != 0 {
		t.Errorf("a model with no listed price costs %g, want 0", tr.Usage.CostUSD)
	}
	r := srv.Requests()[0]
	if h := r.Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q, want none", h)
	}
	for _, s := range []string{`"max_tokens":`, `"temperature":0.2`} {
		if !strings.Contains(string(r.Body), s) {
			t.Errorf("request body lacks %s: %s", s, r.Body)
		}
	}
	for _, pr := range srv.Problems() {
		t.Error(pr)
	}
}

// cachedCost is what an Anthropic answer costs when its system prompt was
// written to (factor 1.25) or read from (0.1) the prompt cache; the fake
// counts the system prompt as len/4+1 tokens.
func cachedCost(r fakeprovider.Request, u agent.Usage, factor float64) float64 {
	sys := len(r.System)/4 + 1
	return testPrice.Cost(u.InputTokens-sys, u.OutputTokens) + factor*float64(sys)*testPrice.InputPerMTok/1e6
}

// The system prompt, AGENTS.md included, is the same for every call of an
// experiment; Anthropic's prompt cache makes the calls after the first
// cheaper, and the estimate says so.
func TestAnthropicPromptCache(t *testing.T) {
	p := providers()[1]
	srv, a := setup(t, p, nil)
	srv.Play(fakeprovider.Answer(goodTrial()), fakeprovider.Answer(goodTrial()))
	first, err := a.Propose(context.Background(), state())
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Propose(context.Background(), state())
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if !reqs[0].CacheSystem || !reqs[1].CacheSystem {
		t.Fatal("the system prompt is not marked for caching")
	}
	if got, want := first.Usage.CostUSD, cachedCost(reqs[0], first.Usage, 1.25); math.Abs(got-want) > 1e-12 {
		t.Errorf("first cost %g, want %g (cache write)", got, want)
	}
	if got, want := second.Usage.CostUSD, cachedCost(reqs[1], second.Usage, 0.1); math.Abs(got-want) > 1e-12 {
		t.Errorf("second cost %g, want %g (cache read)", got, want)
	}
	if second.Usage.CostUSD >= first.Usage.CostUSD {
		t.Errorf("a cached call costs %g, not less than the first's %g", second.Usage.CostUSD, first.Usage.CostUSD)
	}
}
