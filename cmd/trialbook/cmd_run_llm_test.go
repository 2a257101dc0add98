package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRunProviderDown runs `trialbook run --agent openai` against a provider
// that answers 500 to every request: each retry is a line on the progress,
// the experiment ends with the provider's reason within the problem's
// agent.retry bounds, and the command exits non-zero.
func TestRunProviderDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	repoRoot(t)
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`))
	}))
	defer srv.Close()
	dir := smallExperiment(t)
	problem := filepath.Join(dir, "problem.jsonnet")
	b, _ := os.ReadFile(problem)
	src := strings.Replace(string(b), "  trials: 4,", "  trials: 4,\n  agent: tb.agents.openai('test-model', retry={ total: '1s', base: '50ms', max: '100ms' }),", 1)
	os.WriteFile(problem, []byte(src), 0o644)
	t.Setenv("OPENAI_API_KEY", "sk-test")
	var out, errb bytes.Buffer
	code := mainCode([]string{"run", dir, "--base-url", srv.URL + "/v1", "--no-report"}, &out, &errb)
	if code == 0 {
		t.Fatalf("trialbook run exited 0 with the provider down\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "HTTP 500") {
		t.Errorf("stderr does not name the provider's reason:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "agent retry: openai: attempt 1 failed (HTTP 500") {
		t.Errorf("no retry line on the progress:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "experiment failed") {
		t.Errorf("the progress does not say the experiment failed:\n%s", out.String())
	}
	if calls.Load() < 3 {
		t.Errorf("%d requests; want the retries", calls.Load())
	}
}
