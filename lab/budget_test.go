package lab

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"trialbook/journal"
	"trialbook/specs"
)

// TestRunBudget: a plain re-run keeps the budget the experiment was started
// with; a flag replaces it and says so; a problem limit follows the file; a
// trial budget below the trials done is refused.
func TestRunBudget(t *testing.T) {
	problem := func(trials int, d time.Duration, maxTokens int) *specs.Problem {
		p := &specs.Problem{File: "/x/homes/problem.jsonnet"}
		p.Budget.Trials, p.Budget.Time, p.Agent.MaxTokens = trials, d, maxTokens
		return p
	}
	started := func(b journal.Budget) []journal.Event {
		return []journal.Event{{Type: journal.ExperimentCreated}, {Type: journal.ExperimentStarted, Budget: &b}}
	}
	min := func(n int) journal.Duration { return journal.Duration(time.Duration(n) * time.Minute) }
	tests := []struct {
		name     string
		events   []journal.Event
		p        *specs.Problem
		opts     Options
		done     int
		want     journal.Budget
		wantLine string
		wantErr  string
	}{
		{
			name: "fresh, from the problem", p: problem(20, 0, 0),
			want: journal.Budget{Trials: 20}, wantLine: "starting with trials 20, no time limit",
		},
		{
			name: "fresh, from flags", p: problem(20, 0, 5000), opts: Options{Trials: 8, Time: 20 * time.Minute},
			want:     journal.Budget{Trials: 8, Time: min(20), MaxTokens: 5000, Flags: []string{"time", "trials"}},
			wantLine: "starting with --trials 8, --time 20m, agent.maxTokens 5000",
		},
		{
			name:   "plain re-run keeps the flags it was started with",
			events: started(journal.Budget{Trials: 8, Time: min(20), Flags: []string{"time", "trials"}}),
			p:      problem(20, 0, 0), done: 4,
			want:     journal.Budget{Trials: 8, Time: min(20), Flags: []string{"time", "trials"}},
			wantLine: "resuming under the budget it was started with: --trials 8, --time 20m",
		},
		{
			name:   "a new flag replaces the journaled limit and says so",
			events: started(journal.Budget{Trials: 8, Flags: []string{"trials"}}),
			p:      problem(20, 0, 0), opts: Options{Trials: 12}, done: 8,
			want:     journal.Budget{Trials: 12, Flags: []string{"trials"}},
			wantLine: "resuming with --trials 12 instead of 8",
		},
		{
			name:   "a flag over a problem limit",
			events: started(journal.Budget{Trials: 20, Time: min(30)}),
			p:      problem(20, 30*time.Minute, 0), opts: Options{Time: time.Hour},
			want:     journal.Budget{Trials: 20, Time: journal.Duration(time.Hour), Flags: []string{"time"}},
			wantLine: "resuming with --time 1h instead of 30m",
		},
		{
			name:   "an edited problem file changes its own limits, not the flags'",
			events: started(journal.Budget{Trials: 8, Time: min(30), MaxTokens: 1000, Flags: []string{"trials"}}),
			p:      problem(40, 45*time.Minute, 2000),
			want:   journal.Budget{Trials: 8, Time: min(45), MaxTokens: 2000, Flags: []string{"trials"}},
			wantLine: "resuming with time 45m from problem.jsonnet instead of 30m, " +
				"agent.maxTokens 2000 from problem.jsonnet instead of 1000",
		},
		{
			name: "a journal from before budgets were journaled",
			events: []journal.Event{{Type: journal.ExperimentCreated},
				{Type: journal.ExperimentStarted, Problem: &journal.ProblemSummary{Trials: 8, TimeBudget: "30m0s"}}},
			p:        problem(20, 30*time.Minute, 0),
			want:     journal.Budget{Trials: 8, Time: min(30), Flags: []string{"trials"}},
			wantLine: "resuming under the budget it was started with: --trials 8, time 30m",
		},
		{
			name:   "the last start counts",
			events: append(started(journal.Budget{Trials: 8, Flags: []string{"trials"}}), journal.Event{Type: journal.ExperimentResumed, Budget: &journal.Budget{Trials: 12, Flags: []string{"trials"}}}),
			p:      problem(20, 0, 0),
			want:   journal.Budget{Trials: 12, Flags: []string{"trials"}}, wantLine: "resuming under the budget it was started with: --trials 12, no time limit",
		},
		{
			name:   "fewer trials than done",
			events: started(journal.Budget{Trials: 8, Flags: []string{"trials"}}),
			p:      problem(20, 0, 0), opts: Options{Trials: 3}, done: 5,
			wantErr: "--trials 3: this experiment has already done 5 trials; give --trials 5 or more",
		},
		{
			name:   "a problem file edited below the trials done",
			events: started(journal.Budget{Trials: 20}),
			p:      problem(4, 0, 0), done: 6,
			wantErr: "/x/homes/problem.jsonnet: trials is 4, but this experiment has already done 6 trials",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, line, err := runBudget(tt.events, tt.p, tt.opts, tt.done)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("budget = %+v, want %+v", got, tt.want)
			}
			if line != tt.wantLine {
				t.Errorf("line = %q\nwant   %q", line, tt.wantLine)
			}
		})
	}
}
