package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/specs"
)

// JournalFile is the experiment's journal, relative to its folder.
const JournalFile = "journal.jsonl"

// Options configure one run of an experiment.
type Options struct {
	Dir       string // the experiment folder
	Problem   *specs.Problem
	Agent     agent.Agent
	AgentName string
	Spec      *kernel.Spec // the kernelspec trials run on
	// Trials and Time override the problem's budget when non-zero.
	Trials  int
	Time    time.Duration
	Workers int // trials at once; default 1
	// AgentsMD is the rendered AGENTS.md, written to the folder on start;
	// Profile is the data profile agents see.
	AgentsMD string
	Profile  string
	// GPUs are the GPU indices to spread kernels over (CUDA_VISIBLE_DEVICES).
	GPUs []string
	// Progress gets every event after it is in the journal; nil for none.
	Progress func(journal.Event, *journal.Snapshot)
	Log      zerolog.Logger
}

// experiment is one run: the journal, the data view and the trials' state.
type experiment struct {
	opts   Options
	p      *specs.Problem
	metric Metric
	data   *Data
	j      *journal.Journal
	// The run's budget (runBudget): trials, running time and the agent's
	// tokens; 0 for no limit.
	trials    int
	budget    time.Duration
	maxTokens int

	// decideMu makes deciding one trial (reading the best, appending the
	// decision, updating the ensemble) atomic: trials that finish together
	// are decided one after the other, in the order they finished.
	decideMu sync.Mutex

	mu        sync.Mutex
	snap      journal.Snapshot
	proposals map[int]proposal // trial number -> what the agent proposed
	next      int
}

// proposal is what trial.proposed carries in Data.
type proposal struct {
	Tags  map[string]string `json:"tags,omitempty"`
	Cells []string          `json:"cells"`
}

// Run runs (or resumes) the experiment in opts.Dir until its budget is
// spent, the agent has no more ideas, or ctx is cancelled (the running
// trials are then marked interrupted and the experiment paused). It returns
// the final snapshot of the journal.
func Run(ctx context.Context, opts Options) (journal.Snapshot, error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	p := opts.Problem
	m, err := LookupMetric(p.Metric.Name)
	if err != nil {
		return journal.Snapshot{}, fmt.Errorf("%s: metric: %w", p.File, err)
	}
	// .trialbook/ holds the sealed labels: 0700 from the start, and made so
	// where an older trialbook left it 0755.
	if err := os.MkdirAll(filepath.Join(opts.Dir, ".trialbook"), 0o700); err != nil {
		return journal.Snapshot{}, err
	}
	if err := os.Chmod(filepath.Join(opts.Dir, ".trialbook"), 0o700); err != nil {
		return journal.Snapshot{}, err
	}
	if p.Kernel.InForce == nil {
		if _, err := Confine(ctx, p); err != nil {
			return journal.Snapshot{}, err
		}
	}
	unlock, err := journal.Lock(opts.Dir)
	if err != nil {
		return journal.Snapshot{}, err
	}
	defer unlock()
	j, err := journal.Open(filepath.Join(opts.Dir, JournalFile))
	if err != nil {
		return journal.Snapshot{}, err
	}
	defer j.Close()
	e := &experiment{opts: opts, p: p, metric: m, j: j, proposals: map[int]proposal{}}
	events := j.Events()
	e.snap = journal.Fold(events)
	// Trials scored but not yet decided are decided below: they are done.
	done := e.done()
	for _, row := range e.snap.Leaderboard {
		if row.Status == journal.TrialStatusScored && row.Score != nil {
			done++
		}
	}
	budget, budgetLine, err := runBudget(events, p, opts, done)
	if err != nil {
		return e.snap, err
	}
	e.trials, e.budget, e.maxTokens = budget.Trials, time.Duration(budget.Time), budget.MaxTokens
	for _, ev := range events {
		if ev.Trial >= e.next {
			e.next = ev.Trial + 1
		}
		if ev.Type == journal.TrialProposed {
			var pr proposal
			_ = json.Unmarshal(ev.Data, &pr)
			e.proposals[ev.Trial] = pr
		}
	}
	if e.next == 0 {
		e.next = 1
	}
	if len(events) == 0 {
		if _, err := e.emit(journal.Event{Type: journal.ExperimentCreated, Problem: e.summary(), Agent: opts.AgentName}); err != nil {
			return e.snap, err
		}
	}
	if opts.AgentsMD != "" {
		if err := writeFileAtomic(filepath.Join(opts.Dir, "AGENTS.md"), []byte(opts.AgentsMD)); err != nil {
			return e.snap, err
		}
	}
	e.data, err = PrepareData(p, opts.Dir)
	if err != nil {
		_, _ = e.emit(journal.Event{Type: journal.ExperimentFailed, Reason: err.Error()})
		return e.snap, err
	}
	start := journal.ExperimentStarted
	if e.snap.Status != journal.StatusCreated {
		start = journal.ExperimentResumed
	}
	// First, so that the budget is the first thing a resumed run says.
	left := e.snap.Leaderboard // as the last run left them
	// Data says how trial kernels are confined on this run.
	confined, _ := json.Marshal(map[string]string{"sandbox": ConfinementNotice(p.Kernel.InForce)})
	if _, err := e.emit(journal.Event{Type: start, Agent: opts.AgentName, Problem: e.summary(), Budget: &budget, Reason: budgetLine, Data: confined}); err != nil {
		return e.snap, err
	}
	// Trials a killed run left behind never ended in the journal: say so,
	// so that they are re-proposed and never counted as done.
	for _, row := range left {
		if row.Status == journal.TrialStatusRunning || row.Status == journal.TrialStatusProposed || row.Status == journal.TrialStatusScored {
			if row.Status == journal.TrialStatusScored && row.Score != nil {
				// Scored but not yet decided: decide now, nothing is lost.
				if err := e.decide(row.Trial, row.Score); err != nil {
					return e.snap, err
				}
				continue
			}
			if _, err := e.emit(journal.Event{Type: journal.TrialInterrupted, Trial: row.Trial, Reason: "the run that started it stopped before it finished"}); err != nil {
				return e.snap, err
			}
		}
	}
	why, runErr := e.loop(ctx)
	end := journal.Event{Type: journal.ExperimentFinished, Reason: why}
	switch {
	case runErr != nil:
		end = journal.Event{Type: journal.ExperimentFailed, Reason: runErr.Error()}
	case ctx.Err() != nil:
		end = journal.Event{Type: journal.ExperimentPaused, Reason: "stopped by the user; run again to resume"}
	}
	if _, err := e.emit(end); err != nil && runErr == nil {
		runErr = err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.snap, runErr
}

func (e *experiment) summary() *journal.ProblemSummary {
	p := e.p
	s := &journal.ProblemSummary{
		Name: p.Name, Task: string(p.Task), Target: p.Target, Metric: p.Metric.Name,
		Direction: string(p.Metric.Direction), Validation: fmt.Sprintf("%s, %d folds", p.Validation.Kind, p.Validation.Folds),
		Trials: e.trials, Agent: e.opts.AgentName,
	}
	if s.Direction == "" {
		s.Direction = map[bool]string{true: "maximize", false: "minimize"}[e.metric.Maximize]
	}
	if e.budget > 0 {
		s.TimeBudget = limitTime(journal.Duration(e.budget)) // 30m, as people write it
	}
	return s
}

// emit appends an event to the journal (fsync'd) and only then folds it into
// the in-memory snapshot and shows it.
func (e *experiment) emit(ev journal.Event) (journal.Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ev, err := e.j.Append(ev)
	if err != nil {
		return ev, fmt.Errorf("journal: %w", err)
	}
	e.snap.Apply(ev)
	if e.opts.Progress != nil {
		s := e.snap
		e.opts.Progress(ev, &s)
	}
	return ev, nil
}

// done counts trials that used up budget: kept, discarded and failed.
func (e *experiment) done() int {
	c := e.snap.Counts
	return c.Kept + c.Discarded + c.Failed
}

// loop proposes and runs trials until a budget ends. It returns why it
// stopped.
func (e *experiment) loop(ctx context.Context) (string, error) {
	runCtx := ctx
	if e.budget > 0 {
		e.mu.Lock()
		left := e.budget - time.Duration(e.snap.Elapsed)
		e.mu.Unlock()
		if left <= 0 {
			return fmt.Sprintf("the time budget of %s is spent", e.budget), nil
		}
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, left, errTimeBudget)
		defer cancel()
	}
	pool := e.newKernels(runCtx)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pool.Close(closeCtx)
	}()

	var (
		wg      sync.WaitGroup
		slots   = make(chan struct{}, e.opts.Workers)
		fatal   error
		fatalMu sync.Mutex
		stop    string
	)
	setFatal := func(err error) {
		fatalMu.Lock()
		if fatal == nil {
			fatal = err
		}
		fatalMu.Unlock()
	}
	getFatal := func() error { fatalMu.Lock(); defer fatalMu.Unlock(); return fatal }
	running := 0
	failedProposals := 0
	var runMu sync.Mutex
	for {
		// Wait for a free slot.
		select {
		case slots <- struct{}{}:
		case <-runCtx.Done():
		}
		if runCtx.Err() != nil || getFatal() != nil {
			break
		}
		e.mu.Lock()
		done := e.done()
		spent := e.snap.Usage
		e.mu.Unlock()
		runMu.Lock()
		inFlight := running
		runMu.Unlock()
		if e.trials > 0 && done+inFlight >= e.trials {
			<-slots
			if inFlight == 0 {
				stop = fmt.Sprintf("%d trials done", done)
				break
			}
			// Wait for a running trial: it may fail and leave budget.
			wg.Wait()
			continue
		}
		if max := e.maxTokens; max > 0 && spent.InputTokens+spent.OutputTokens >= max {
			<-slots
			wg.Wait()
			stop = fmt.Sprintf("the agent's token budget of %d is spent", max)
			break
		}
		n, t, err := e.propose(runCtx)
		if errors.Is(err, agent.ErrNoIdeas) || errors.Is(err, agent.ErrBudget) {
			<-slots
			wg.Wait()
			stop = err.Error()
			break
		}
		if err != nil {
			<-slots
			if runCtx.Err() != nil {
				break
			}
			// A proposal that failed (a provider fault past its retries, a
			// malformed answer twice) fails one trial, not the experiment;
			// only a run of them says the agent cannot work at all.
			failedProposals++
			if err := e.failProposal(err); err != nil {
				setFatal(err)
				break
			}
			if failedProposals >= maxFailedProposals {
				setFatal(fmt.Errorf("agent: %d proposals in a row failed; the last: %w", failedProposals, err))
				break
			}
			continue
		}
		failedProposals = 0
		runMu.Lock()
		running++
		runMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer func() { runMu.Lock(); running--; runMu.Unlock() }()
			if err := e.runTrial(runCtx, pool, n, t); err != nil {
				setFatal(err)
			}
		}()
	}
	wg.Wait()
	if err := getFatal(); err != nil {
		return "", err
	}
	if ctx.Err() == nil && errors.Is(context.Cause(runCtx), errTimeBudget) {
		return fmt.Sprintf("the time budget of %s is spent", e.budget), nil
	}
	return stop, nil
}

var errTimeBudget = errors.New("the experiment's time budget is spent")

// maxFailedProposals ends an experiment whose agent failed to propose this
// many trials in a row (a wrong key, a model that never answers in shape).
const maxFailedProposals = 3

// failProposal records a proposal the agent could not make as a failed
// trial, with what the attempt cost.
func (e *experiment) failProposal(err error) error {
	e.mu.Lock()
	n := e.next
	e.next++
	e.mu.Unlock()
	_, ferr := e.emit(journal.Event{Type: journal.TrialFailed, Trial: n, Title: "no proposal", Agent: e.opts.AgentName,
		Reason: "the agent could not propose a trial: " + err.Error(), Usage: usage(agent.SpentOn(err))})
	return ferr
}

// State is what an agent sees: the problem and every trial the journal knows.
func (e *experiment) state() agent.State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := agent.State{Problem: e.p, AgentsMD: e.opts.AgentsMD, Profile: e.opts.Profile, Next: e.next}
	if e.snap.Best != nil {
		s.Best = e.snap.Best.Trial
	}
	rows := append([]journal.TrialRow(nil), e.snap.Leaderboard...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Trial < rows[j].Trial })
	for _, r := range rows {
		pr := e.proposals[r.Trial]
		ts := agent.TrialSummary{Number: r.Trial, Title: r.Title, Tags: pr.Tags, Status: r.Status, Reason: r.Reason, Notebook: r.Notebook}
		if r.Score != nil {
			ts.CV, ts.CVStd, ts.Folds, ts.Holdout = r.Score.CV, r.Score.CVStd, r.Score.Folds, r.Score.Holdout
		}
		if r.Status == journal.TrialStatusFailed {
			ts.Error = r.Reason
		}
		if r.Usage != nil {
			s.Spent.InputTokens += r.Usage.InputTokens
			s.Spent.OutputTokens += r.Usage.OutputTokens
			s.Spent.CostUSD += r.Usage.CostUSD
		}
		s.Trials = append(s.Trials, ts)
	}
	return s
}

var slugUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

func slug(title string) string {
	s := strings.Trim(slugUnsafe.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	if s == "" {
		s = "trial"
	}
	return s
}

// propose asks the agent for the next trial and records it.
func (e *experiment) propose(ctx context.Context) (int, agent.Trial, error) {
	s := e.state()
	t, err := e.opts.Agent.Propose(ctx, s)
	if err != nil {
		return 0, t, err
	}
	if len(t.Cells) == 0 {
		return 0, t, fmt.Errorf("the agent proposed %q with no cells", t.Title)
	}
	if t.Title == "" {
		t.Title = fmt.Sprintf("trial %d", s.Next)
	}
	e.mu.Lock()
	n := e.next
	e.next++
	e.proposals[n] = proposal{Tags: t.Tags, Cells: t.Cells}
	e.mu.Unlock()
	data, _ := json.Marshal(proposal{Tags: t.Tags, Cells: t.Cells})
	ev := journal.Event{Type: journal.TrialProposed, Trial: n, Title: t.Title, Plan: t.Plan, Agent: e.opts.AgentName,
		Notebook: filepath.ToSlash(filepath.Join("trials", fmt.Sprintf("%03d-%s.ipynb", n, slug(t.Title)))), Data: data}
	if u := usage(t.Usage); u != nil {
		ev.Usage = u
	}
	_, err = e.emit(ev)
	return n, t, err
}

func usage(u agent.Usage) *journal.Usage {
	if u == (agent.Usage{}) {
		return nil
	}
	return &journal.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CostUSD: u.CostUSD}
}

// decide keeps or discards a scored trial against the best so far.
func (e *experiment) decide(n int, s *journal.Score) error {
	e.decideMu.Lock()
	defer e.decideMu.Unlock()
	e.mu.Lock()
	var best *journal.Score
	bestN := 0
	if e.snap.Best != nil && e.snap.Best.Trial != n {
		best, bestN = e.snap.Best.Score, e.snap.Best.Trial
	}
	e.mu.Unlock()
	keep, reason := Decide(e.metric, s, bestN, best)
	ev := journal.Event{Trial: n, Reason: reason, Score: s}
	if keep {
		ev.Type, ev.Best = journal.TrialKept, n
	} else {
		ev.Type, ev.Best = journal.TrialDiscarded, bestN
	}
	if _, err := e.emit(ev); err != nil {
		return err
	}
	return e.updateEnsemble()
}
