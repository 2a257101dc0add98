package bridge

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"trialbook/journal"
	"trialbook/lab"
)

// labInspector is what cmd/trialbook wires: lab's own functions.
type labInspector struct{}

func (labInspector) TrialCells(_ context.Context, dir string, events []journal.Event, n int) (any, error) {
	return lab.ReadTrialCells(dir, events, n)
}

func (labInspector) Compare(_ context.Context, dir string, events []journal.Event, a, b int) (any, error) {
	return lab.Compare(dir, events, a, b)
}

func TestCompareAndTrialCells(t *testing.T) {
	e := newEnv(t, Options{Inspector: labInspector{}})
	dir := e.experiment("team/houses", "three-trials")
	events, err := journal.ReadFile(dir + "/" + journalName)
	if err != nil {
		t.Fatal(err)
	}

	// The endpoint serves lab.Compare's answer as it is.
	var got map[string]any
	e.getJSON("/api/experiments/team%2Fhouses/compare?a=2&b=1", &got)
	c, err := lab.Compare(dir, events, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &want)
	if gb, wb := mustJSON(got), mustJSON(want); gb != wb {
		t.Errorf("compare:\n got %s\nwant %s", gb, wb)
	}
	if c.Test == nil || len(c.Folds) != 5 || c.Keep == nil {
		t.Errorf("trials 2 and 1 of three-trials are scored on 5 folds: %+v", c)
	}

	var cells lab.TrialCells
	e.getJSON("/api/experiments/team%2Fhouses/trials/1/cells", &cells)
	if cells.Trial != 1 || cells.Notebook != "trials/001-ridge-baseline.ipynb" || cells.Written {
		t.Errorf("cells of a trial whose notebook is not there: %+v", cells)
	}

	for path, status := range map[string]int{
		"/api/experiments/team%2Fhouses/compare?a=2&b=9": http.StatusNotFound,
		"/api/experiments/team%2Fhouses/compare?a=2":     http.StatusBadRequest,
		"/api/experiments/team%2Fhouses/compare?a=x&b=1": http.StatusBadRequest,
		"/api/experiments/team%2Fhouses/trials/9/cells":  http.StatusNotFound,
		"/api/experiments/team%2Fhouses/trials/0/cells":  http.StatusBadRequest,
		"/api/experiments/nope/compare?a=1&b=2":          http.StatusNotFound,
		"/api/experiments/..%2F..%2Fetc/trials/1/cells":  http.StatusForbidden,
	} {
		if r := e.do("GET", path, "", nil); r.status != status {
			t.Errorf("GET %s: %d %s, want %d", path, r.status, r.body, status)
		}
	}
	if r := e.do("GET", "/api/experiments/team%2Fhouses/compare?a=2&b=1", "", map[string]string{"Authorization": ""}); r.status != http.StatusUnauthorized {
		t.Errorf("without the token: %d", r.status)
	}

	bare := newEnv(t, Options{})
	bare.experiment("houses", "three-trials")
	if r := bare.do("GET", "/api/experiments/houses/compare?a=2&b=1", "", nil); r.status != http.StatusNotImplemented {
		t.Errorf("a server without an Inspector: %d", r.status)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
