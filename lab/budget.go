package lab

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"trialbook/journal"
	"trialbook/specs"
)

// runBudget works out the budget a run works under from the journal, the
// problem and the run's flags (Options.Trials, Options.Time).
//
// A fresh experiment takes each limit from its flag, else from the problem.
// A resumed one keeps the budget it was started with, as its last
// experiment.started or experiment.resumed has it: a limit that came from a
// flag holds until a flag on a re-run replaces it; one that came from the
// problem follows the problem file (it is the same unless the file was
// edited). Every change from the journaled budget is named in the returned
// line, e.g. "resuming with --trials 12 instead of 8", which becomes the
// resumed event's reason and the first line `trialbook run` prints.
//
// A trial budget below the trials already done is refused: "N done of M"
// never shows N > M.
func runBudget(events []journal.Event, p *specs.Problem, opts Options, done int) (journal.Budget, string, error) {
	fromProblem := journal.Budget{
		Trials: p.Budget.Trials, Time: journal.Duration(p.Budget.Time),
		MaxTokens: p.Agent.MaxTokens, MaxTokensPerTrial: p.Agent.MaxTokensPerTrial,
	}
	b := fromProblem
	if opts.Trials > 0 {
		b.Trials = opts.Trials
		b.Flags = append(b.Flags, "trials")
	}
	if opts.Time > 0 {
		b.Time = journal.Duration(opts.Time)
		b.Flags = append(b.Flags, "time")
	}
	prev, resumed := startedBudget(events, fromProblem)
	var changes []string
	if resumed {
		// Limits a flag set at an earlier start hold unless a flag replaces them.
		if opts.Trials == 0 && slices.Contains(prev.Flags, "trials") {
			b.Trials = prev.Trials
			b.Flags = append(b.Flags, "trials")
		}
		if opts.Time == 0 && slices.Contains(prev.Flags, "time") {
			b.Time = prev.Time
			b.Flags = append(b.Flags, "time")
		}
		file := filepath.Base(p.File)
		change := func(flag, field string, now, was string, fromFlag bool) {
			if now == was {
				return
			}
			if fromFlag {
				changes = append(changes, fmt.Sprintf("--%s %s instead of %s", flag, now, was))
			} else {
				changes = append(changes, fmt.Sprintf("%s %s from %s instead of %s", field, now, file, was))
			}
		}
		change("trials", "trials", limit(b.Trials), limit(prev.Trials), opts.Trials > 0)
		change("time", "time", limitTime(b.Time), limitTime(prev.Time), opts.Time > 0)
		change("", "agent.maxTokens", limit(b.MaxTokens), limit(prev.MaxTokens), false)
		change("", "agent.maxTokensPerTrial", limit(b.MaxTokensPerTrial), limit(prev.MaxTokensPerTrial), false)
	}
	slices.Sort(b.Flags)
	if b.Trials > 0 && b.Trials < done {
		src := fmt.Sprintf("--trials %d:", b.Trials)
		if !slices.Contains(b.Flags, "trials") {
			src = fmt.Sprintf("%s: trials is %d, but", p.File, b.Trials)
		}
		return b, "", fmt.Errorf("%s this experiment has already done %d trials; give --trials %d or more to go on", src, done, done)
	}
	var line string
	switch {
	case !resumed:
		line = "starting with " + describeBudget(b)
	case len(changes) > 0:
		line = "resuming with " + strings.Join(changes, ", ")
	default:
		line = "resuming under the budget it was started with: " + describeBudget(b)
	}
	return b, line, nil
}

// startedBudget is the budget of the journal's last experiment.started or
// experiment.resumed, and whether there is one. A journal written before
// budgets were journaled has only the problem summary's trials and time;
// those that differ from the problem came from flags.
func startedBudget(events []journal.Event, fromProblem journal.Budget) (journal.Budget, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Type != journal.ExperimentStarted && e.Type != journal.ExperimentResumed {
			continue
		}
		if e.Budget != nil {
			return *e.Budget, true
		}
		b := fromProblem
		if e.Problem != nil {
			if e.Problem.Trials != fromProblem.Trials {
				b.Trials = e.Problem.Trials
				b.Flags = append(b.Flags, "trials")
			}
			if d, err := time.ParseDuration(e.Problem.TimeBudget); err == nil && journal.Duration(d) != fromProblem.Time {
				b.Time = journal.Duration(d)
				b.Flags = append(b.Flags, "time")
			}
		}
		return b, true
	}
	return journal.Budget{}, false
}

// describeBudget says what a budget allows, flags as flags.
func describeBudget(b journal.Budget) string {
	name := func(flag, field string) string {
		if slices.Contains(b.Flags, flag) {
			return "--" + flag + " "
		}
		return field + " "
	}
	parts := []string{name("trials", "trials") + limit(b.Trials)}
	if b.Time > 0 {
		parts = append(parts, name("time", "time")+limitTime(b.Time))
	} else {
		parts = append(parts, "no time limit")
	}
	if b.MaxTokens > 0 {
		parts = append(parts, "agent.maxTokens "+limit(b.MaxTokens))
	}
	if b.MaxTokensPerTrial > 0 {
		parts = append(parts, "agent.maxTokensPerTrial "+limit(b.MaxTokensPerTrial))
	}
	return strings.Join(parts, ", ")
}

func limit(n int) string {
	if n <= 0 {
		return "no limit"
	}
	return fmt.Sprint(n)
}

func limitTime(d journal.Duration) string {
	if d <= 0 {
		return "no limit"
	}
	// 20m, not 20m0s: as people write it on the command line.
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
