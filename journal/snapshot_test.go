package journal

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/ fixtures and golden snapshots")

func ptr[T any](v T) *T { return &v }

// exampleEvents is a realistic three-trial experiment on House Prices: a
// baseline kept, a gradient-boosting trial whose first cell failed and was
// fixed but that did not beat the best (discarded), and a trial that failed
// for good; then an ensemble and the report. It is written to
// testdata/three-trials.jsonl, which the panel's unit tests read too.
func exampleEvents() []Event {
	rmse := func(cv, std float64, folds []float64, holdout float64) *Score {
		return &Score{Metric: "rmse", Direction: "minimize", CV: cv, CVStd: std, Folds: folds, Holdout: ptr(holdout)}
	}
	return []Event{
		{Type: ExperimentCreated, Agent: "builtin", Problem: &ProblemSummary{Name: "house-prices", Task: "regression", Target: "SalePrice", Metric: "rmse", Direction: "minimize", Validation: "kfold (5 folds)", Trials: 3, TimeBudget: "30m", Agent: "builtin"}},
		{Type: ExperimentStarted},
		{Type: KernelStarted, Kernel: "6f1c0d2e"},

		{Type: TrialProposed, Trial: 1, Title: "Ridge baseline", Notebook: "trials/001-ridge-baseline.ipynb", Agent: "builtin", Plan: "A linear baseline: median-impute numeric columns, one-hot encode categoricals, ridge regression. Every later trial is judged against it."},
		{Type: TrialStarted, Trial: 1, Notebook: "trials/001-ridge-baseline.ipynb", Kernel: "6f1c0d2e"},
		{Type: CellStarted, Trial: 1, Cell: ptr(1), Source: "# harness setup\nfrom trialbook_harness import *"},
		{Type: CellFinished, Trial: 1, Cell: ptr(1), Duration: Duration(800 * time.Millisecond)},
		{Type: CellStarted, Trial: 1, Cell: ptr(2), Source: "pipe = make_pipeline(pre, Ridge(alpha=10))\noof = cross_val_predict(pipe, X, y, cv=folds)"},
		{Type: CellOutput, Trial: 1, Cell: ptr(2), Text: "fold 1 rmse 33120.4\n"},
		{Type: CellOutput, Trial: 1, Cell: ptr(2), Text: "fold 1 rmse 33120.4\nfold 2 rmse 36017.9\n"},
		{Type: CellFinished, Trial: 1, Cell: ptr(2), Duration: Duration(2100 * time.Millisecond)},
		{Type: CellStarted, Trial: 1, Cell: ptr(3), Source: "hand_back(oof=oof, holdout=pipe.fit(X, y).predict(X_holdout))"},
		{Type: CellFinished, Trial: 1, Cell: ptr(3), Duration: Duration(400 * time.Millisecond)},
		{Type: TrialFinished, Trial: 1, Score: rmse(34512.3, 1830.2, []float64{33120.4, 36017.9, 32544.1, 36810.6, 34068.5}, 33987.2), Duration: Duration(3500 * time.Millisecond)},
		{Type: TrialKept, Trial: 1, Best: 1, Reason: "the first scored trial sets the bar"},

		{Type: TrialProposed, Trial: 2, Title: "LightGBM, log target", Notebook: "trials/002-lightgbm-log-target.ipynb", Agent: "builtin", Plan: "SalePrice is right-skewed (skew 1.88); trial 1's ridge scored 34512.3. Gradient boosting on log1p(SalePrice)."},
		{Type: TrialStarted, Trial: 2, Notebook: "trials/002-lightgbm-log-target.ipynb", Kernel: "6f1c0d2e"},
		{Type: CellStarted, Trial: 2, Cell: ptr(1), Source: "# harness setup\nfrom trialbook_harness import *"},
		{Type: CellFinished, Trial: 2, Cell: ptr(1), Duration: Duration(700 * time.Millisecond)},
		{Type: CellStarted, Trial: 2, Cell: ptr(2), Source: "model = lgb.LGBMRegressor(n_estimators=600, learning_rate=0.03, num_leaves=31)"},
		{Type: CellError, Trial: 2, Cell: ptr(2), Ename: "NameError", Evalue: "name 'lgb' is not defined"},
		{Type: CellFixed, Trial: 2, Cell: ptr(2), Source: "import lightgbm as lgb\nmodel = lgb.LGBMRegressor(n_estimators=600, learning_rate=0.03, num_leaves=31)"},
		{Type: CellFinished, Trial: 2, Cell: ptr(2), Duration: Duration(300 * time.Millisecond)},
		{Type: CellStarted, Trial: 2, Cell: ptr(3), Source: "oof = np.expm1(cross_val_predict(model, X, np.log1p(y), cv=folds))"},
		{Type: CellOutput, Trial: 2, Cell: ptr(3), Text: "[LightGBM] [Info] Total Bins 3412\n"},
		{Type: CellFinished, Trial: 2, Cell: ptr(3), Duration: Duration(9400 * time.Millisecond)},
		{Type: TrialFinished, Trial: 2, Score: rmse(34690.8, 2411.7, []float64{31877.2, 38112.5, 33025.9, 37340.0, 33098.4}, 33405.1), Duration: Duration(11 * time.Second)},
		{Type: TrialDiscarded, Trial: 2, Best: 1, Reason: "cv 34690.8 does not beat trial 1's 34512.3"},
		{Type: EnsembleUpdated, Score: rmse(33020.6, 1702.9, []float64{31790.3, 35201.8, 31544.0, 35012.7, 31554.2}, 32511.9), Weights: map[string]float64{"1": 0.55, "2": 0.45}, Notebook: "trials/ensemble.ipynb", Reason: "non-negative blend of out-of-fold predictions"},

		{Type: TrialProposed, Trial: 3, Title: "CatBoost, native categoricals", Notebook: "trials/003-catboost-native-categoricals.ipynb", Agent: "builtin", Plan: "Trial 2's boosting did not beat trial 1; try CatBoost with its own handling of the 43 categorical columns."},
		{Type: TrialStarted, Trial: 3, Notebook: "trials/003-catboost-native-categoricals.ipynb", Kernel: "6f1c0d2e"},
		{Type: CellStarted, Trial: 3, Cell: ptr(1), Source: "# harness setup\nfrom trialbook_harness import *"},
		{Type: CellFinished, Trial: 3, Cell: ptr(1), Duration: Duration(650 * time.Millisecond)},
		{Type: CellStarted, Trial: 3, Cell: ptr(2), Source: "model = CatBoostRegressor(iterations=800, cat_features=cats, verbose=0)\noof = cross_val_predict(model, X, y, cv=folds)"},
		{Type: CellOutput, Trial: 3, Cell: ptr(2), Text: "Learning rate set to 0.0562\n"},
		{Type: CellError, Trial: 3, Cell: ptr(2), Ename: "CatBoostError", Evalue: "Invalid type for cat_feature[obj=1,feat=2]=nan : cat_features must be integer or string"},
		{Type: TrialFailed, Trial: 3, Reason: "cell 2 failed after 3 fix attempts: CatBoostError: Invalid type for cat_feature[obj=1,feat=2]=nan", Duration: Duration(6200 * time.Millisecond)},

		{Type: ReportReady, Notebook: "report.ipynb"},
		{Type: ExperimentFinished, Reason: "trial budget reached (3 of 3)"},
	}
}

// killedEvents is a run with --trials 3 killed (-9) while trial 2's cell
// ran, then resumed under the same budget: trial 2 is interrupted (counted
// apart from done), trials 3 and 4 use the rest of the budget. It is written
// to testdata/killed-resumed.jsonl, which the panel's unit tests read too.
func killedEvents() []Event {
	rmse := func(cv float64) *Score {
		return &Score{Metric: "rmse", Direction: "minimize", CV: cv, CVStd: 0.01, Folds: []float64{cv - 0.01, cv + 0.01}, Holdout: ptr(cv)}
	}
	budget := &Budget{Trials: 3, Time: Duration(30 * time.Minute), Flags: []string{"trials"}}
	problem := &ProblemSummary{Name: "homes", Task: "regression", Target: "price", Metric: "rmse", Direction: "minimize", Validation: "kfold, 2 folds", Trials: 3, TimeBudget: "30m", Agent: "builtin"}
	return []Event{
		{Type: ExperimentCreated, Agent: "builtin", Problem: problem},
		{Type: ExperimentStarted, Agent: "builtin", Problem: problem, Budget: budget, Reason: "starting with --trials 3, time 30m0s"},
		{Type: TrialProposed, Trial: 1, Title: "ridge", Notebook: "trials/001-ridge.ipynb", Agent: "builtin"},
		{Type: TrialStarted, Trial: 1, Title: "ridge", Notebook: "trials/001-ridge.ipynb", Kernel: "k1"},
		{Type: TrialFinished, Trial: 1, Score: rmse(0.30), Duration: Duration(3 * time.Second)},
		{Type: TrialKept, Trial: 1, Best: 1, Score: rmse(0.30), Reason: "the first scored trial sets the bar"},
		{Type: TrialProposed, Trial: 2, Title: "lightgbm", Notebook: "trials/002-lightgbm.ipynb", Agent: "builtin"},
		{Type: TrialStarted, Trial: 2, Title: "lightgbm", Notebook: "trials/002-lightgbm.ipynb", Kernel: "k2"},
		{Type: CellStarted, Trial: 2, Cell: ptr(2), Source: "model.fit(X, y)"},
		// kill -9 here: no trial.interrupted, no experiment.paused.
		{Type: ExperimentResumed, Agent: "builtin", Problem: problem, Budget: budget, Reason: "resuming under the budget it was started with: --trials 3, time 30m0s"},
		{Type: TrialProposed, Trial: 3, Title: "lightgbm", Notebook: "trials/003-lightgbm.ipynb", Agent: "builtin"},
		{Type: TrialStarted, Trial: 3, Title: "lightgbm", Notebook: "trials/003-lightgbm.ipynb", Kernel: "k3"},
		{Type: TrialFinished, Trial: 3, Score: rmse(0.31), Duration: Duration(3 * time.Second)},
		{Type: TrialDiscarded, Trial: 3, Best: 1, Score: rmse(0.31), Reason: "no better than trial 1"},
		{Type: TrialProposed, Trial: 4, Title: "catboost", Notebook: "trials/004-catboost.ipynb", Agent: "builtin"},
		{Type: TrialFailed, Trial: 4, Reason: "no kernel"},
		{Type: ExperimentFinished, Reason: "3 trials done"},
	}
}

// runningUpTo is where testdata/running.jsonl stops: trial 2's long cell is
// executing and printing.
const runningUpTo = 25

// writeExample appends events to a fresh journal at path, 1.5 s apart from a
// fixed start, so the file is exactly what Append writes.
func writeExample(t *testing.T, path string, events []Event) {
	t.Helper()
	os.Remove(path)
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	clock := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	j.now = func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	for _, e := range events {
		if _, err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExampleJournals(t *testing.T) {
	if *update {
		writeExample(t, "testdata/three-trials.jsonl", exampleEvents())
		writeExample(t, "testdata/running.jsonl", exampleEvents()[:runningUpTo])
		writeExample(t, "testdata/killed-resumed.jsonl", killedEvents())
	}
	// Every testdata/*.jsonl, hand-written ones too (llm-usage.jsonl: an LLM
	// agent's token usage, a fixed cell, an ensemble that is used).
	files, err := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	if err != nil || len(files) < 3 {
		t.Fatalf("example journals in testdata: %v %v", files, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			events, err := ReadFile(filepath.Join("testdata", name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			snap := Fold(events)
			got, err := json.MarshalIndent(snap, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".snapshot.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("snapshot of %s.jsonl differs from %s (run go test ./journal -update if the change is meant):\n%s", name, golden, got)
			}
		})
	}
}

func TestFoldOfExample(t *testing.T) {
	events, err := ReadFile("testdata/three-trials.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	s := Fold(events)
	if s.Status != StatusFinished || s.Seq != int64(len(events)) {
		t.Errorf("status %s at seq %d, want finished at %d", s.Status, s.Seq, len(events))
	}
	wantCounts := Counts{Total: 3, Done: 3, Kept: 1, Discarded: 1, Failed: 1}
	if s.Counts != wantCounts {
		t.Errorf("counts = %+v, want %+v", s.Counts, wantCounts)
	}
	if s.Best == nil || s.Best.Trial != 1 || s.Best.Score.CV != 34512.3 {
		t.Errorf("best = %+v, want trial 1 at 34512.3", s.Best)
	}
	var order []int
	for _, r := range s.Leaderboard {
		order = append(order, r.Trial)
	}
	if !reflect.DeepEqual(order, []int{1, 2, 3}) {
		t.Errorf("leaderboard order = %v, want [1 2 3]", order)
	}
	if s.Leaderboard[1].Fixes != 1 || s.Leaderboard[2].Reason == "" {
		t.Errorf("trial 2 fixes = %d, trial 3 reason = %q", s.Leaderboard[1].Fixes, s.Leaderboard[2].Reason)
	}
	if len(s.Running) != 0 || s.Report != "report.ipynb" || s.Ensemble == nil || s.Ensemble.Weights["1"] != 0.55 {
		t.Errorf("running %v, report %q, ensemble %+v", s.Running, s.Report, s.Ensemble)
	}
	wantElapsed := events[len(events)-1].Time.Sub(events[1].Time)
	if time.Duration(s.Elapsed) != wantElapsed {
		t.Errorf("elapsed = %v, want %v", time.Duration(s.Elapsed), wantElapsed)
	}
}

func TestFoldWhileRunning(t *testing.T) {
	events, err := ReadFile("testdata/running.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	s := Fold(events)
	if s.Status != StatusRunning || s.Counts.Running != 1 || s.Counts.Done != 1 {
		t.Fatalf("status %s, counts %+v", s.Status, s.Counts)
	}
	r := s.Running[0]
	if r.Trial != 2 || r.Cell == nil || *r.Cell != 3 || r.Text != "[LightGBM] [Info] Total Bins 3412\n" || r.Title != "LightGBM, log target" {
		t.Errorf("running = %+v", r)
	}
	if row, ok := s.Trial(2); !ok || row.Status != TrialStatusRunning {
		t.Errorf("trial 2 row = %+v", row)
	}
}

// Apply, one event at a time, from a snapshot that went through JSON (as the
// panel's does), must agree with Fold at every step.
func TestApplyAgreesWithFoldAtEveryPrefix(t *testing.T) {
	events, err := ReadFile("testdata/three-trials.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(events) {
		var s Snapshot
		b, _ := json.Marshal(Fold(events[:n]))
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		for _, e := range events[n:] {
			s.Apply(e)
		}
		s.Apply(events[0]) // a replayed event changes nothing
		got, _ := json.Marshal(s)
		want, _ := json.Marshal(Fold(events))
		if !bytes.Equal(got, want) {
			t.Fatalf("continuing from a snapshot at seq %d:\n got %s\nwant %s", n, got, want)
		}
	}
}

func TestLeaderboardOrder(t *testing.T) {
	sc := func(cv float64) *Score { return &Score{Metric: "m", CV: cv} }
	tests := []struct {
		direction string
		want      []int
	}{
		{"minimize", []int{2, 1, 4, 3, 5}},
		{"maximize", []int{1, 2, 4, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.direction, func(t *testing.T) {
			events := []Event{
				{Seq: 1, Type: ExperimentCreated, Problem: &ProblemSummary{Direction: tt.direction, Trials: 5}},
				{Seq: 2, Type: ExperimentStarted},
				{Seq: 3, Type: TrialFinished, Trial: 1, Score: sc(0.9)},
				{Seq: 4, Type: TrialFinished, Trial: 2, Score: sc(0.5)},
				{Seq: 5, Type: TrialFailed, Trial: 3, Reason: "boom"},
				{Seq: 6, Type: TrialStarted, Trial: 4},
				{Seq: 7, Type: TrialStarted, Trial: 5},
				{Seq: 8, Type: TrialInterrupted, Trial: 5},
			}
			var got []int
			for _, r := range Fold(events).Leaderboard {
				got = append(got, r.Trial)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("order = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRestartInterruptsOrphanedTrials(t *testing.T) {
	// A writer killed with -9 mid-trial leaves trial 1 running in the journal.
	events := []Event{
		{Seq: 1, Type: ExperimentStarted},
		{Seq: 2, Type: TrialStarted, Trial: 1},
		{Seq: 3, Type: CellStarted, Trial: 1, Cell: ptr(1)},
		{Seq: 4, Type: ExperimentResumed},
	}
	s := Fold(events)
	if row, _ := s.Trial(1); row.Status != TrialStatusInterrupted || len(s.Running) != 0 || s.Counts.Interrupted != 1 {
		t.Errorf("trial 1 = %+v, running %v", row, s.Running)
	}
}

// TestKilledRunKeepsItsTime: the running time of a run killed with -9
// counts up to its last event, so a time budget is not renewed by a kill;
// the interrupted trial is counted apart from done.
func TestKilledRunKeepsItsTime(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	events := []Event{
		{Seq: 1, Time: at(0), Type: ExperimentCreated, Problem: &ProblemSummary{Trials: 2}},
		{Seq: 2, Time: at(0), Type: ExperimentStarted, Problem: &ProblemSummary{Trials: 2}},
		{Seq: 3, Time: at(time.Second), Type: TrialStarted, Trial: 1},
		{Seq: 4, Time: at(40 * time.Second), Type: TrialFailed, Trial: 1},
		{Seq: 5, Time: at(41 * time.Second), Type: TrialStarted, Trial: 2},
		{Seq: 6, Time: at(70 * time.Second), Type: CellStarted, Trial: 2, Cell: ptr(1)},
		// killed; resumed an hour later, which is not running time.
		{Seq: 7, Time: at(time.Hour), Type: ExperimentResumed, Problem: &ProblemSummary{Trials: 2}},
		{Seq: 8, Time: at(time.Hour + 5*time.Second), Type: ExperimentPaused},
	}
	s := Fold(events)
	if got, want := time.Duration(s.Elapsed), 75*time.Second; got != want {
		t.Errorf("elapsed %s, want %s (70s before the kill, 5s after)", got, want)
	}
	if c := s.Counts; c.Done != 1 || c.Failed != 1 || c.Interrupted != 1 || c.Total != 2 {
		t.Errorf("counts %+v, want 1 done (failed), 1 interrupted apart, of 2", c)
	}
	// The same from a snapshot taken at every seq, as the bridge resumes.
	for k := range events {
		part := Fold(events[:k])
		b, _ := json.Marshal(part)
		var from Snapshot
		if err := json.Unmarshal(b, &from); err != nil {
			t.Fatal(err)
		}
		for _, e := range events[k:] {
			from.Apply(e)
		}
		if from.Elapsed != s.Elapsed {
			t.Errorf("from the snapshot at seq %d: elapsed %s, want %s", k, time.Duration(from.Elapsed), time.Duration(s.Elapsed))
		}
	}
}

func TestOutputTailKeepsWholeRunes(t *testing.T) {
	s := Fold([]Event{{Seq: 1, Type: CellOutput, Trial: 1, Cell: ptr(0), Text: "é" + string(bytes.Repeat([]byte("é"), OutputTail))}})
	text := s.Running[0].Text
	if len(text) > OutputTail || !json.Valid([]byte(`"`+text+`"`)) || text[0] == 0xA9 {
		t.Errorf("tail of %d bytes starts %q", len(text), text[:2])
	}
}
