package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"trialbook/agent"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/specs"
)

// Options configure one run of an experiment.
type Options struct {
	Dir     string // the experiment folder
	Problem *specs.Problem
	// Agent runs the trials of Run; an external driver (Open, then Start)
	// leaves it nil.
	Agent agent.Agent
	// AgentName is who runs the trials: the journal's experiment.started
	// names it, and it is each session's agent unless Start names another.
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

// Experiment is one run of an experiment folder: its journal, data view,
// kernel pool and open trial sessions. Run drives it with an agent; an
// external driver (an MCP server) opens it with Open, starts and drives
// sessions itself with Start, and ends the run with Close or Finish.
type Experiment struct {
	opts   Options
	folder Folder
	p      *specs.Problem
	metric Metric
	data   *Data
	train  *agent.TrainFacts // the training part's profile, for agents; nil when unreadable
	j      *journal.Journal
	unlock func() error
	// The run's budget (runBudget): trials, running time and the agent's
	// tokens; 0 for no limit.
	trials            int
	budget            time.Duration
	maxTokens         int
	maxTokensPerTrial int

	// ctx bounds the run (the caller's context and the time budget); every
	// session and the kernel pool live inside it. stop cancels it.
	ctx  context.Context
	stop context.CancelCauseFunc
	pool *kernels
	// slots holds one token per trial session open, Options.Workers at
	// most: the one limit for Run's agents and an external driver alike.
	slots chan struct{}

	// decideMu makes deciding one trial (reading the best, appending the
	// decision, updating the ensemble) atomic: trials that finish together
	// are decided one after the other, in the order they finished.
	decideMu sync.Mutex

	mu        sync.Mutex
	snap      journal.Snapshot
	proposals map[int]proposal // trial number -> what the agent proposed
	next      int
	open      map[int]*Session // sessions not yet ended
	fatal     error            // the first journal error: the run cannot go on
	closed    bool
}

// proposal is what trial.proposed carries in Data.
type proposal struct {
	Tags  map[string]string `json:"tags,omitempty"`
	Cells []string          `json:"cells,omitempty"`
}

// Errors an external driver branches on.
var (
	// ErrBudgetSpent: Start refused a trial because the experiment's trial
	// or token budget is spent.
	ErrBudgetSpent = errors.New("the experiment's budget is spent")
	// ErrClosed: the experiment's run has ended.
	ErrClosed = errors.New("the experiment is closed")
)

// Run runs (or resumes) the experiment in opts.Dir with opts.Agent until its
// budget is spent, the agent has no more ideas, or ctx is cancelled (the
// running trials are then marked interrupted and the experiment paused). It
// returns the final snapshot of the journal.
func Run(ctx context.Context, opts Options) (journal.Snapshot, error) {
	if opts.Agent == nil {
		return journal.Snapshot{}, errors.New("lab.Run: no agent")
	}
	x, err := Open(ctx, opts)
	if err != nil {
		return x.snapshotOf(), err
	}
	why, runErr := x.loop(opts.Agent)
	end := journal.Event{Type: journal.ExperimentFinished, Reason: why}
	switch {
	case runErr != nil:
		end = journal.Event{Type: journal.ExperimentFailed, Reason: runErr.Error()}
	case ctx.Err() != nil:
		end = pausedEvent()
	}
	snap, err := x.end(end)
	if runErr != nil {
		return snap, runErr
	}
	return snap, err
}

func pausedEvent() journal.Event {
	return journal.Event{Type: journal.ExperimentPaused, Reason: "stopped by the user; run again to resume"}
}

// Open starts a run of the experiment in opts.Dir without an agent loop:
// the folder is locked, the journal opened (a new experiment is created, a
// killed run's trials are marked interrupted), the data view prepared and
// the kernel pool started. The caller starts sessions with Start and ends
// the run with Close or Finish; cancelling ctx interrupts the open sessions.
func Open(ctx context.Context, opts Options) (*Experiment, error) {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	p := opts.Problem
	m, err := LookupMetric(p.Metric.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: metric: %w", p.File, err)
	}
	folder := Folder{opts.Dir}
	// .trialbook/ holds the sealed labels: 0700 from the start, and made so
	// where an older trialbook left it 0755.
	if err := os.MkdirAll(folder.Private(), 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(folder.Private(), 0o700); err != nil {
		return nil, err
	}
	if p.Kernel.InForce == nil {
		if _, err := Confine(ctx, p); err != nil {
			return nil, err
		}
	}
	unlock, err := journal.Lock(opts.Dir)
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(folder.Journal())
	if err != nil {
		unlock()
		return nil, err
	}
	x := &Experiment{opts: opts, folder: folder, p: p, metric: m, j: j, unlock: unlock,
		proposals: map[int]proposal{}, open: map[int]*Session{}, slots: make(chan struct{}, opts.Workers)}
	if err := x.prepare(); err != nil {
		j.Close()
		unlock()
		return x, err
	}
	x.ctx, x.stop = context.WithCancelCause(ctx)
	if x.budget > 0 {
		x.mu.Lock()
		left := x.budget - time.Duration(x.snap.Elapsed)
		x.mu.Unlock()
		var cancel context.CancelFunc
		x.ctx, cancel = context.WithTimeoutCause(x.ctx, max(left, 0), errTimeBudget)
		stop := x.stop
		x.stop = func(err error) { stop(err); cancel() }
	}
	x.pool = x.newKernels(x.ctx)
	return x, nil
}

// prepare reads the journal, writes AGENTS.md and the data view, settles
// what a killed run left behind and records the start of this run.
func (x *Experiment) prepare() error {
	events := x.j.Events()
	x.snap = journal.Fold(events)
	// Trials scored but not yet decided are decided below: they are done.
	done := x.done()
	for _, row := range x.snap.Leaderboard {
		if row.Status == journal.TrialStatusScored && row.Score != nil {
			done++
		}
	}
	budget, budgetLine, err := runBudget(events, x.p, x.opts, done)
	if err != nil {
		return err
	}
	x.trials, x.budget = budget.Trials, time.Duration(budget.Time)
	x.maxTokens, x.maxTokensPerTrial = budget.MaxTokens, budget.MaxTokensPerTrial
	for _, ev := range events {
		if ev.Trial >= x.next {
			x.next = ev.Trial + 1
		}
		if ev.Type == journal.TrialProposed {
			var pr proposal
			_ = json.Unmarshal(ev.Data, &pr)
			x.proposals[ev.Trial] = pr
		}
	}
	if x.next == 0 {
		x.next = 1
	}
	if len(events) == 0 {
		if _, err := x.emit(journal.Event{Type: journal.ExperimentCreated, Problem: x.summary(), Agent: x.opts.AgentName}); err != nil {
			return err
		}
	}
	if x.opts.AgentsMD != "" {
		if err := writeFileAtomic(x.folder.AgentsMD(), []byte(x.opts.AgentsMD)); err != nil {
			return err
		}
	}
	x.data, err = PrepareData(x.p, x.opts.Dir)
	if err != nil {
		_, _ = x.emit(journal.Event{Type: journal.ExperimentFailed, Reason: err.Error()})
		return err
	}
	if x.train, err = trainFacts(x.folder.Path(viewTrainFile), x.p.Target); err != nil {
		// Evidence only: an agent that needs it proposes without.
		x.opts.Log.Debug().Err(err).Msg("no training profile for agents")
	}
	start := journal.ExperimentStarted
	if x.snap.Status != journal.StatusCreated {
		start = journal.ExperimentResumed
	}
	// First, so that the budget is the first thing a resumed run says.
	left := x.snap.Leaderboard // as the last run left them
	// Data says how trial kernels are confined on this run.
	confined, _ := json.Marshal(map[string]string{"sandbox": ConfinementNotice(x.p.Kernel.InForce)})
	if _, err := x.emit(journal.Event{Type: start, Agent: x.opts.AgentName, Problem: x.summary(), Budget: &budget, Reason: budgetLine, Data: confined}); err != nil {
		return err
	}
	// Trials a killed run left behind never ended in the journal: say so,
	// so that they are re-proposed and never counted as done.
	for _, row := range left {
		if row.Status == journal.TrialStatusRunning || row.Status == journal.TrialStatusProposed || row.Status == journal.TrialStatusScored {
			if row.Status == journal.TrialStatusScored && row.Score != nil {
				// Scored but not yet decided: decide now, nothing is lost.
				if _, err := x.decide(row.Trial, row.Score); err != nil {
					return err
				}
				continue
			}
			if _, err := x.emit(journal.Event{Type: journal.TrialInterrupted, Trial: row.Trial, Reason: "the run that started it stopped before it finished"}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close ends the run and leaves the experiment paused, to be resumed: open
// sessions are interrupted, the kernels shut down and the folder unlocked.
func (x *Experiment) Close() (journal.Snapshot, error) {
	return x.end(pausedEvent())
}

// Finish ends the run and marks the experiment finished with the reason;
// open sessions are interrupted first.
func (x *Experiment) Finish(reason string) (journal.Snapshot, error) {
	return x.end(journal.Event{Type: journal.ExperimentFinished, Reason: reason})
}

// end interrupts the open sessions, records how the run ended (unless a
// journal error already ended it), shuts the pool and releases the folder.
func (x *Experiment) end(ev journal.Event) (journal.Snapshot, error) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return x.snapshotOf(), ErrClosed
	}
	x.closed = true
	open := make([]*Session, 0, len(x.open))
	for _, s := range x.open {
		open = append(open, s)
	}
	x.mu.Unlock()
	x.stop(errClosed)
	var errs []error
	for _, s := range open {
		errs = append(errs, s.interrupt())
	}
	if _, err := x.emit(ev); err != nil {
		errs = append(errs, err)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = x.pool.Close(closeCtx)
	errs = append(errs, x.j.Close())
	errs = append(errs, x.unlock())
	return x.snapshotOf(), errors.Join(errs...)
}

var errClosed = errors.New("the experiment's run ended")

// snapshotOf is the journal's state now; the zero snapshot for a nil
// experiment (one that failed to open).
func (x *Experiment) snapshotOf() journal.Snapshot {
	if x == nil {
		return journal.Snapshot{}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.snap
}

// Snapshot is the journal's state now: the leaderboard, with holdout
// scores, for people.
func (x *Experiment) Snapshot() journal.Snapshot { return x.snapshotOf() }

func (x *Experiment) summary() *journal.ProblemSummary {
	p := x.p
	s := &journal.ProblemSummary{
		Name: p.Name, Task: string(p.Task), Target: p.Target, Metric: p.Metric.Name,
		Direction: string(p.Metric.Direction), Validation: fmt.Sprintf("%s, %d folds", p.Validation.Kind, p.Validation.Folds),
		Trials: x.trials, Agent: x.opts.AgentName,
	}
	if s.Direction == "" {
		s.Direction = map[bool]string{true: "maximize", false: "minimize"}[x.metric.Maximize]
	}
	if x.budget > 0 {
		s.TimeBudget = limitTime(journal.Duration(x.budget)) // 30m, as people write it
	}
	return s
}

// emit appends an event to the journal (fsync'd) and only then folds it into
// the in-memory snapshot and shows it. The first error is kept: a run whose
// journal fails cannot go on.
func (x *Experiment) emit(ev journal.Event) (journal.Event, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ev, err := x.j.Append(ev)
	if err != nil {
		err = fmt.Errorf("journal: %w", err)
		if x.fatal == nil {
			x.fatal = err
		}
		return ev, err
	}
	x.snap.Apply(ev)
	if x.opts.Progress != nil {
		s := x.snap
		x.opts.Progress(ev, &s)
	}
	return ev, nil
}

func (x *Experiment) fatalErr() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.fatal
}

// done counts trials that used up budget: kept, discarded and failed.
func (x *Experiment) done() int {
	c := x.snap.Counts
	return c.Kept + c.Discarded + c.Failed
}

// loop runs the agent's trials, Options.Workers at once, until a budget
// ends. Proposals are made one at a time, each seeing every trial proposed
// before it; trials then run side by side. It returns why it stopped.
func (x *Experiment) loop(ag agent.Agent) (string, error) {
	ctx := x.ctx
	var g errgroup.Group
	stop := ""
	failedProposals := 0
	for {
		// Wait for a free slot: a trial ending may also free budget.
		select {
		case x.slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || x.fatalErr() != nil {
			break
		}
		release := func() { <-x.slots }
		x.mu.Lock()
		done, inFlight, spent := x.done(), len(x.open), x.snap.Usage
		x.mu.Unlock()
		if x.trials > 0 && done+inFlight >= x.trials {
			release()
			if inFlight == 0 {
				stop = fmt.Sprintf("%d trials done", done)
				break
			}
			// Wait for the running trials: one may fail and leave budget.
			_ = g.Wait()
			continue
		}
		if max := x.maxTokens; max > 0 && spent.InputTokens+spent.OutputTokens >= max {
			release()
			_ = g.Wait()
			stop = fmt.Sprintf("the agent's token budget of %d is spent", max)
			break
		}
		d := &door{x: x, slot: release, proposed: make(chan error, 1)}
		st := x.State()
		g.Go(func() error { return d.run(ctx, ag, st) })
		err := <-d.proposed
		if errors.Is(err, agent.ErrNoIdeas) || errors.Is(err, agent.ErrBudget) {
			_ = g.Wait()
			stop = err.Error()
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// A proposal that failed (a provider fault past its retries, a
			// malformed answer twice) fails one trial, not the experiment;
			// only a run of them says the agent cannot work at all.
			failedProposals++
			if err := x.failProposal(err); err != nil {
				break
			}
			if failedProposals >= maxFailedProposals {
				_ = g.Wait()
				return "", fmt.Errorf("agent: %d proposals in a row failed; the last: %w", failedProposals, err)
			}
			continue
		}
		failedProposals = 0
	}
	if err := errors.Join(g.Wait(), x.fatalErr()); err != nil {
		return "", err
	}
	if x.ctx.Err() != nil && errors.Is(context.Cause(x.ctx), errTimeBudget) {
		return fmt.Sprintf("the time budget of %s is spent", x.budget), nil
	}
	return stop, nil
}

// door is the agent.Lab lent to one agent.RunTrial: it opens at most one
// session, on the worker slot the loop took for it, and tells the loop once
// the proposal is made (the session opened) or failed.
type door struct {
	x        *Experiment
	slot     func() // releases the slot; the session takes it over once open
	proposed chan error
	once     sync.Once
	sess     *Session
}

var _ agent.Lab = (*door)(nil)

func (d *door) tell(err error) { d.once.Do(func() { d.proposed <- err }) }

// Open starts the agent's session on the slot taken for it.
func (d *door) Open(ctx context.Context, p agent.TrialPlan) (agent.Session, error) {
	if d.sess != nil {
		return nil, fmt.Errorf("an agent opens one session per trial; trial %d is already open", d.sess.n)
	}
	s, err := d.x.start(ctx, p, d.x.opts.AgentName, d.slot, d.tell)
	if s == nil {
		return nil, err
	}
	d.sess = s
	return s, err
}

// Record journals an agent's note: agent.step or agent.retry.
func (d *door) Record(n agent.Note) error {
	ev := journal.Event{Type: journal.AgentStep, Trial: n.Trial, Cell: n.Cell, Text: n.Text}
	if r := n.Retry; r != nil {
		what := r.Reason
		if what == "" {
			what = fmt.Sprintf("HTTP %d", r.Status)
		}
		data, _ := json.Marshal(map[string]any{"provider": r.Provider, "status": r.Status, "attempt": r.Attempt, "waitSeconds": r.Wait.Seconds()})
		ev = journal.Event{Type: journal.AgentRetry, Trial: n.Trial, Agent: r.Provider, Reason: what, Data: data,
			Text: fmt.Sprintf("%s: attempt %d failed (%s); retrying in %s", r.Provider, r.Attempt, what, r.Wait.Round(100*time.Millisecond))}
	}
	_, err := d.x.emit(ev)
	return err
}

// run runs one agent trial and ends the session if the agent left it open.
// Only errors that end the run (a journal failure) are returned.
func (d *door) run(ctx context.Context, ag agent.Agent, st agent.State) error {
	err := ag.RunTrial(ctx, st, d)
	if d.sess == nil {
		// No trial was opened: the loop records the failed proposal.
		d.slot()
		if err == nil {
			err = errors.New("the agent returned without opening a trial")
		}
		d.tell(err)
		return nil
	}
	d.sess.mu.Lock()
	ended := d.sess.done
	d.sess.mu.Unlock()
	if !ended {
		reason := "the agent stopped without finishing or abandoning the trial"
		if err != nil {
			reason = err.Error()
		}
		if ctx.Err() != nil {
			_ = d.sess.interrupt()
		} else {
			_ = d.sess.Abandon(context.WithoutCancel(ctx), reason)
		}
	}
	return d.x.fatalErr()
}

var errTimeBudget = errors.New("the experiment's time budget is spent")

// maxFailedProposals ends an experiment whose agent failed to propose this
// many trials in a row (a wrong key, a model that never answers in shape).
const maxFailedProposals = 3

// failProposal records a proposal the agent could not make as a failed
// trial, with what the attempt cost.
func (x *Experiment) failProposal(err error) error {
	x.mu.Lock()
	n := x.next
	x.next++
	x.mu.Unlock()
	_, ferr := x.emit(journal.Event{Type: journal.TrialFailed, Trial: n, Title: "no proposal", Agent: x.opts.AgentName,
		Reason: "the agent could not propose a trial: " + err.Error(), Usage: usage(agent.SpentOn(err))})
	return ferr
}

// State is what an agent sees: the problem, the training part's profile and
// every trial the journal knows, with CV scores only and the feature
// rankings trials handed back. Nothing in it is derived from the holdout.
func (x *Experiment) State() agent.State {
	s := x.state()
	for i := range s.Trials {
		s.Trials[i].Importance = x.folder.importanceOf(s.Trials[i].Number)
	}
	return s
}

func (x *Experiment) state() agent.State {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := agent.State{Problem: x.p, AgentsMD: x.opts.AgentsMD, Profile: x.opts.Profile, Next: x.next, Train: x.train}
	if x.snap.Best != nil {
		s.Best = x.snap.Best.Trial
	}
	rows := append([]journal.TrialRow(nil), x.snap.Leaderboard...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Trial < rows[j].Trial })
	for _, r := range rows {
		pr := x.proposals[r.Trial]
		ts := agent.TrialSummary{Number: r.Trial, Title: r.Title, Tags: pr.Tags, Status: r.Status, Reason: r.Reason, Notebook: r.Notebook}
		if r.Score != nil {
			ts.CV, ts.CVStd, ts.Folds = r.Score.CV, r.Score.CVStd, r.Score.Folds
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

func usage(u agent.Usage) *journal.Usage {
	if u == (agent.Usage{}) {
		return nil
	}
	return &journal.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CostUSD: u.CostUSD}
}

// decide keeps or discards a scored trial against the best so far and
// returns the decision's event.
func (x *Experiment) decide(n int, s *journal.Score) (journal.Event, error) {
	x.decideMu.Lock()
	defer x.decideMu.Unlock()
	x.mu.Lock()
	var best *journal.Score
	bestN := 0
	if x.snap.Best != nil && x.snap.Best.Trial != n {
		best, bestN = x.snap.Best.Score, x.snap.Best.Trial
	}
	x.mu.Unlock()
	keep, reason := Decide(x.metric, s, bestN, best)
	ev := journal.Event{Trial: n, Reason: reason, Score: s}
	if keep {
		ev.Type, ev.Best = journal.TrialKept, n
	} else {
		ev.Type, ev.Best = journal.TrialDiscarded, bestN
	}
	ev, err := x.emit(ev)
	if err != nil {
		return ev, err
	}
	return ev, x.updateEnsemble()
}
