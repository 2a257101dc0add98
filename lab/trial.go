package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"trialbook/agent"
	"trialbook/ipynb"
	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/runner"
	"trialbook/specs"
)

// Cell metadata keys the harness writes.
const (
	metaKey  = "trialbook"
	roleSet  = "setup"
	roleCell = "agent"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// Session is one trial from its plan to its score: the notebook, the live
// kernel it runs in and the trial's budgets. It is the one door every agent
// comes through (the built-in strategist, LLM agents, an external driver),
// so the setup cell, the budgets, scoring and journaling are enforced here.
// Its methods may be called from any goroutine; calls run one at a time.
type Session struct {
	x         *Experiment
	n         int
	title     string
	agentName string
	rel       string // the notebook, relative to the experiment folder
	path      string
	artifacts string
	release   func() // frees the worker slot

	ctx    context.Context // the trial's time limit, inside the run's
	cancel context.CancelFunc

	mu      sync.Mutex
	nb      *ipynb.Notebook
	k       *kernel.Kernel
	run     *runner.Session
	stream  *cellStream
	started time.Time
	spent   agent.Usage
	cells   []*agentCell
	ended   *agent.EndedError // set once the trial failed or was interrupted
	done    bool              // the session has ended, whichever way
}

var _ agent.Session = (*Session)(nil)

// agentCell is one of the agent's cells and the versions it replaced.
type agentCell struct {
	cell     *ipynb.Cell
	note     *ipynb.Cell // the note on replaced versions after it, once there is one
	attempts []FixAttempt
	failed   bool // the cell's latest run raised
}

// FixAttempt is a version of a cell that was replaced: its code and, when
// it raised, the exception.
type FixAttempt struct {
	Source string
	Ename  string
	Evalue string
}

// meta is the attempt as notebook metadata.
func (a FixAttempt) meta() map[string]any {
	return map[string]any{"source": a.Source, "ename": a.Ename, "evalue": a.Evalue}
}

// SessionOptions say who drives a session started with Start.
type SessionOptions struct {
	// Agent names who drives it (an MCP client's name); "" is the
	// experiment's Options.AgentName.
	Agent string
}

// Start opens a trial session for an external driver: it waits for a free
// worker slot (Options.Workers at once), refuses with ErrBudgetSpent when
// the trial or token budget is spent, then writes the notebook with the
// plan and the setup cell, takes a warm kernel and runs the setup cell.
// When the setup fails the session is returned ended, with an
// *agent.EndedError.
func (x *Experiment) Start(ctx context.Context, p agent.TrialPlan, o SessionOptions) (*Session, error) {
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-x.ctx.Done():
		return nil, ErrClosed
	}
	release := func() { <-x.slots }
	name := o.Agent
	if name == "" {
		name = x.opts.AgentName
	}
	s, err := x.start(ctx, p, name, release, nil)
	if s == nil {
		release()
	}
	return s, err
}

// start records the proposal (trial.proposed), calls proposed, and opens
// the session on the slot release frees. It returns a nil session (and the
// slot not taken) when it refused before a trial number was given.
func (x *Experiment) start(ctx context.Context, p agent.TrialPlan, agentName string, release func(), proposed func(error)) (*Session, error) {
	x.mu.Lock()
	if x.closed || x.ctx.Err() != nil {
		x.mu.Unlock()
		return nil, ErrClosed
	}
	if err := x.budgetLeft(); err != nil {
		x.mu.Unlock()
		return nil, err
	}
	n := x.next
	x.next++
	if strings.TrimSpace(p.Title) == "" {
		p.Title = fmt.Sprintf("trial %d", n)
	}
	s := &Session{x: x, n: n, title: p.Title, agentName: agentName, release: release,
		rel: NotebookRel(n, p.Title), artifacts: x.folder.Artifacts(n), spent: p.Usage}
	s.path = x.folder.Path(s.rel)
	x.open[n] = s
	x.proposals[n] = proposal{Tags: p.Tags, Cells: p.Cells}
	x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	data, _ := json.Marshal(proposal{Tags: p.Tags, Cells: p.Cells})
	_, err := x.emit(journal.Event{Type: journal.TrialProposed, Trial: n, Title: p.Title, Plan: p.Plan, Agent: agentName,
		Notebook: s.rel, Data: data, Usage: usage(p.Usage)})
	if proposed != nil {
		proposed(nil)
	}
	if err != nil {
		s.close()
		return s, err
	}
	return s, s.begin(ctx, p)
}

// budgetLeft says whether another trial may start: the trials done and
// running are under the trial budget and the tokens spent under the token
// budget. x.mu is held.
func (x *Experiment) budgetLeft() error {
	if done, open := x.done(), len(x.open); x.trials > 0 && done+open >= x.trials {
		return fmt.Errorf("%w: %d trials done and %d running of %d", ErrBudgetSpent, done, open, x.trials)
	}
	u := x.snap.Usage
	if max := x.maxTokens; max > 0 && u.InputTokens+u.OutputTokens >= max {
		return fmt.Errorf("%w: the agent's token budget of %d is spent", ErrBudgetSpent, max)
	}
	return nil
}

// begin writes the notebook, takes a kernel and runs the setup cell.
func (s *Session) begin(ctx context.Context, p agent.TrialPlan) error {
	x := s.x
	s.started = time.Now()
	if d := x.p.Budget.TrialTime; d > 0 {
		s.ctx, s.cancel = context.WithTimeoutCause(x.ctx, d, fmt.Errorf("the trial ran past its time limit of %s", d))
	} else {
		s.ctx, s.cancel = context.WithCancel(x.ctx)
	}
	// A re-run trial number never reuses stale predictions.
	for _, f := range []string{OOFFile, HoldoutFile, ModelFile, ImportanceFile} {
		_ = os.Remove(filepath.Join(s.artifacts, f))
	}
	if err := os.MkdirAll(s.artifacts, 0o755); err != nil {
		return s.fail(fmt.Sprintf("creating %s: %v", s.artifacts, err), nil)
	}
	s.nb = x.notebook(s.n, p, s.agentName)
	if err := s.nb.WriteFile(s.path); err != nil {
		return s.fail(fmt.Sprintf("writing %s: %v", s.rel, err), nil)
	}
	cctx, done := s.callCtx(ctx)
	k, err := x.pool.Get(cctx, s.n)
	done()
	if err != nil {
		if s.ctx.Err() != nil || ctx.Err() != nil {
			return s.interrupted(ctx)
		}
		return s.fail(fmt.Sprintf("no kernel: %v", err), nil)
	}
	s.k = k
	if _, err := x.emit(journal.Event{Type: journal.TrialStarted, Trial: s.n, Title: s.title, Notebook: s.rel, Kernel: k.ID()}); err != nil {
		return s.broken(err)
	}
	if _, err := x.emit(journal.Event{Type: journal.KernelStarted, Trial: s.n, Kernel: k.ID(), GPU: k.Env("CUDA_VISIBLE_DEVICES")}); err != nil {
		return s.broken(err)
	}
	s.stream = &cellStream{x: x, n: s.n, k: k}
	s.run = runner.NewSession(k, s.nb, runner.Options{
		Timeout:        x.p.Budget.CellTime,
		MaxOutputBytes: maxCellOutput,
		Path:           s.path,
		Observer:       s.stream,
	})
	// The setup cell is the notebook's second, after the plan.
	_, err = s.exec(ctx, nil, 1)
	return err
}

// Number is the trial's number.
func (s *Session) Number() int { return s.n }

// Notebook is the trial notebook's path, relative to the experiment folder.
func (s *Session) Notebook() string { return s.rel }

// RunCell appends a code cell, runs it and returns its outputs.
func (s *Session) RunCell(ctx context.Context, code string) (agent.CellResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return agent.CellResult{}, err
	}
	max := s.x.p.Budget.CellsPerTrial
	if max == 0 {
		max = specs.DefaultCellsPerTrial
	}
	if len(s.cells) >= max {
		return agent.CellResult{}, fmt.Errorf("the trial has run its %d cells (cellsPerTrial); finish or abandon it", max)
	}
	c := ipynb.NewCodeCell(code)
	c.Metadata[metaKey] = map[string]any{"role": roleCell, "index": len(s.cells)}
	ac := &agentCell{cell: c}
	s.cells = append(s.cells, ac)
	s.nb.Cells = append(s.nb.Cells, c)
	return s.exec(ctx, ac, len(s.nb.Cells)-1)
}

// ReplaceCell replaces the code of the agent's cell index and runs it in
// place; the version it replaces is recorded.
func (s *Session) ReplaceCell(ctx context.Context, index int, code, note string) (agent.CellResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return agent.CellResult{}, err
	}
	if index < 0 || index >= len(s.cells) {
		return agent.CellResult{}, fmt.Errorf("no cell %d to replace: the trial has %d cells (indices 0 to %d)", index, len(s.cells), len(s.cells)-1)
	}
	ac := s.cells[index]
	if max := s.x.p.Agent.FixAttempts; len(ac.attempts) >= max {
		return agent.CellResult{}, fmt.Errorf("cell %d was replaced %d times already (agent.fixAttempts)", index, max)
	}
	old := FixAttempt{Source: ac.cell.Source}
	if e := lastError(ac.cell); ac.failed && e != nil {
		old.Ename, old.Evalue = e.EName, e.EValue
	}
	ac.attempts = append(ac.attempts, old)
	ac.cell.Source = code
	i := s.indexOf(ac.cell)
	if _, err := s.x.emit(journal.Event{Type: journal.CellFixed, Trial: s.n, Cell: &i, Source: code, Reason: note, Usage: usage(s.spent)}); err != nil {
		return agent.CellResult{}, s.broken(err)
	}
	return s.exec(ctx, ac, i)
}

// Spend charges what the agent spent on this trial; past the trial's token
// budget the trial fails.
func (s *Session) Spend(u agent.Usage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	s.spent.InputTokens += u.InputTokens
	s.spent.OutputTokens += u.OutputTokens
	s.spent.CostUSD += u.CostUSD
	if max := s.x.maxTokensPerTrial; max > 0 && s.spent.InputTokens+s.spent.OutputTokens > max {
		return s.failErr(fmt.Sprintf("the trial spent %d tokens, past its budget of %d (agent.maxTokensPerTrial)", s.spent.InputTokens+s.spent.OutputTokens, max), agent.ErrTrialBudget)
	}
	return nil
}

// Finish scores the handed-back predictions, keeps or discards the trial
// and ends the session. With nothing to score it returns an error wrapping
// agent.ErrNotScored and the session stays open.
func (s *Session) Finish(ctx context.Context) (agent.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return agent.Outcome{}, err
	}
	x := s.x
	oof, err1 := ReadNpy(filepath.Join(s.artifacts, OOFFile))
	hold, err2 := ReadNpy(filepath.Join(s.artifacts, HoldoutFile))
	if err := errors.Join(err1, err2); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return agent.Outcome{}, fmt.Errorf("%w: no predictions were handed back: the last cell must call hand_back(oof, holdout)", agent.ErrNotScored)
		}
		return agent.Outcome{}, fmt.Errorf("%w: unreadable predictions: %v", agent.ErrNotScored, err)
	}
	score, err := ScoreTrial(x.metric, x.data, oof, hold)
	if err != nil {
		return agent.Outcome{}, fmt.Errorf("%w: %v", agent.ErrNotScored, err)
	}
	// The notebook, which later trials may read, keeps the CV score only.
	cv := *score
	cv.Holdout = nil
	s.nb.Metadata[metaKey] = mergeMeta(s.nb.Metadata[metaKey], map[string]any{"score": cv})
	s.writeNotes()
	if err := s.run.Save(); err != nil {
		return agent.Outcome{}, s.failErr(fmt.Sprintf("writing %s: %v", s.rel, err), nil)
	}
	if _, err := x.emit(journal.Event{Type: journal.TrialFinished, Trial: s.n, Score: score, Duration: journal.Duration(time.Since(s.started)), Usage: usage(s.spent)}); err != nil {
		return agent.Outcome{}, s.broken(err)
	}
	// Decided before the session lets its slot go, so that the trial is
	// counted done before it stops being counted as running.
	ev, err := x.decide(s.n, score)
	s.close()
	if err != nil {
		return agent.Outcome{}, err
	}
	return agent.Outcome{Number: s.n, Status: string(map[bool]string{true: "kept", false: "discarded"}[ev.Type == journal.TrialKept]),
		Reason: ev.Reason, Metric: score.Metric, CV: score.CV, CVStd: score.CVStd, Folds: score.Folds, Best: ev.Best}, nil
}

// Abandon ends the trial as failed with the reason.
func (s *Session) Abandon(ctx context.Context, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "abandoned by the agent"
	}
	// A fork refused at the process cap shows in the cell only as an
	// OSError: the reason names the cap the kernel hit, whoever gives up.
	return s.fail(withLimit(s.k, reason), nil)
}

// check refuses a call on a session that has ended. s.mu is held.
func (s *Session) check() error {
	if s.ended != nil {
		return s.ended
	}
	if s.done {
		return &agent.EndedError{Number: s.n, Status: "finished", Reason: "the trial was scored"}
	}
	return nil
}

// interrupt ends the session as interrupted unless it has ended; the run
// ending calls it after cancelling the calls in flight.
func (s *Session) interrupt() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	err := s.interrupted(s.x.ctx)
	if errors.Is(err, agent.ErrTrialEnded) {
		return nil
	}
	return err
}

// exec runs notebook cell i (the setup cell when ac is nil) and turns what
// happened into the cell's result or the trial's end. s.mu is held.
func (s *Session) exec(ctx context.Context, ac *agentCell, i int) (agent.CellResult, error) {
	cctx, done := s.callCtx(ctx)
	defer done()
	t0 := time.Now()
	err := s.run.RunCell(cctx, i)
	cell := s.nb.Cells[i]
	res := agent.CellResult{Index: -1, Outputs: outputsOf(cell), Duration: time.Since(t0)}
	if ac != nil {
		res.Index = s.cellIndex(ac)
		ac.failed = err != nil
	}
	if ferr := s.x.fatalErr(); ferr != nil {
		// The journal failed (an observer's event or another session's):
		// nothing more can be recorded.
		return res, s.broken(ferr)
	}
	if err == nil {
		if ac != nil && len(ac.attempts) > 0 {
			s.writeNotes()
			if err := s.run.Save(); err != nil {
				return res, s.failErr(fmt.Sprintf("writing %s: %v", s.rel, err), nil)
			}
		}
		return res, nil
	}
	name := "the harness's setup cell"
	if ac != nil {
		name = fmt.Sprintf("cell %d", res.Index+1)
	}
	var ce *runner.CellError
	switch {
	case errors.As(err, &ce) && errors.Is(err, runner.ErrCellFailed):
		tb := ansi.ReplaceAllString(strings.Join(ce.Traceback, "\n"), "")
		if _, err := s.x.emit(journal.Event{Type: journal.CellError, Trial: s.n, Cell: &i, Ename: ce.EName, Evalue: ce.EValue, Text: tail(tb, 4000)}); err != nil {
			return res, s.broken(err)
		}
		if c := s.x.p.Kernel.InForce; ce.EName == "MemoryError" && c != nil && c.Memory > 0 {
			// Under an rlimit the cap shows as MemoryError; no fix makes
			// the machine bigger.
			return res, s.failErr(fmt.Sprintf("the trial went past its memory cap of %s: %s raised MemoryError: %s", specs.FormatBytes(c.Memory), name, ce.EValue), nil)
		}
		if ac == nil {
			return res, s.failErr(fmt.Sprintf("%s raised %s: %s", name, ce.EName, ce.EValue), nil)
		}
		res.Error = &agent.CellError{Ename: ce.EName, Evalue: ce.EValue, Traceback: tb}
		if len(ac.attempts) > 0 {
			s.writeNotes()
			if err := s.run.Save(); err != nil {
				return res, s.failErr(fmt.Sprintf("writing %s: %v", s.rel, err), nil)
			}
		}
		return res, nil
	case s.x.ctx.Err() != nil:
		return res, s.interrupted(ctx)
	case errors.Is(err, kernel.ErrKernelDied):
		if _, err2 := s.x.emit(journal.Event{Type: journal.KernelDied, Trial: s.n, Kernel: s.k.ID(), Reason: err.Error()}); err2 != nil {
			return res, s.broken(err2)
		}
		if why := limitReason(s.k); why != "" {
			return res, s.failErr(why, kernel.ErrKernelDied)
		}
		return res, s.failErr(fmt.Sprintf("the kernel died: %v", err), kernel.ErrKernelDied)
	case errors.Is(err, runner.ErrTimeout):
		return res, s.failErr(withLimit(s.k, fmt.Sprintf("%s ran past the per-cell time limit of %s", name, s.x.p.Budget.CellTime)), runner.ErrTimeout)
	case s.ctx.Err() != nil:
		return res, s.failErr(context.Cause(s.ctx).Error(), nil)
	case ctx.Err() != nil:
		return res, s.interrupted(ctx)
	default:
		if ce != nil && ce.Err != nil {
			err = ce.Err
		}
		return res, s.failErr(err.Error(), err)
	}
}

// callCtx is the caller's ctx, also cancelled when the trial's time limit
// passes or the run ends.
func (s *Session) callCtx(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	return c, func() { stop(); cancel(nil) }
}

func (s *Session) indexOf(c *ipynb.Cell) int {
	for i, x := range s.nb.Cells {
		if x == c {
			return i
		}
	}
	return -1
}

func (s *Session) cellIndex(ac *agentCell) int {
	for i, x := range s.cells {
		if x == ac {
			return i
		}
	}
	return -1
}

// fail ends the trial as failed: the notebook is saved with its notes and
// trial.failed journaled. It returns the *agent.EndedError (or the journal's
// error). s.mu is held.
func (s *Session) fail(reason string, cause error) error {
	if s.run != nil {
		s.writeNotes()
		_ = s.run.Save()
	}
	_, err := s.x.emit(journal.Event{Type: journal.TrialFailed, Trial: s.n, Reason: reason, Duration: journal.Duration(time.Since(s.started)), Usage: usage(s.spent)})
	s.ended = &agent.EndedError{Number: s.n, Status: "failed", Reason: reason, Err: cause}
	s.close()
	if err != nil {
		return err
	}
	return nil
}

// failErr is fail whose error is always the trial's end (or the journal's).
func (s *Session) failErr(reason string, cause error) error {
	if err := s.fail(reason, cause); err != nil {
		return err
	}
	return s.ended
}

// Interrupt ends the trial as interrupted with the reason, unless it has
// ended: its driver went away (an MCP client that disconnected). A call in
// flight runs to its end first. The trial does not count against the trial
// budget.
func (s *Session) Interrupt(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	err := s.interruptedWhy(reason, nil)
	if errors.Is(err, agent.ErrTrialEnded) {
		return nil
	}
	return err
}

// interrupted ends the trial as interrupted: the run ended or the caller
// gave up on a call. s.mu is held.
func (s *Session) interrupted(ctx context.Context) error {
	why := "the call running it was cancelled"
	switch cause := context.Cause(s.x.ctx); {
	case errors.Is(cause, errTimeBudget):
		why = "the experiment's time budget ran out"
	case errors.Is(cause, errClosed):
		why = "the experiment's run was closed"
	case s.x.ctx.Err() != nil:
		why = "stopped by the user"
	}
	return s.interruptedWhy(why, ctx.Err())
}

// interruptedWhy ends the trial as interrupted with why. s.mu is held.
func (s *Session) interruptedWhy(why string, cause error) error {
	if s.run != nil {
		s.writeNotes()
		_ = s.run.Save()
	}
	_, err := s.x.emit(journal.Event{Type: journal.TrialInterrupted, Trial: s.n, Reason: why})
	s.ended = &agent.EndedError{Number: s.n, Status: "interrupted", Reason: why, Err: cause}
	s.close()
	if err != nil {
		return err
	}
	return s.ended
}

// broken ends the session after a journal error: nothing more can be
// recorded, and the run stops.
func (s *Session) broken(err error) error {
	s.ended = &agent.EndedError{Number: s.n, Status: "failed", Reason: err.Error(), Err: err}
	s.close()
	return err
}

// close releases what the session holds: its kernel, its slot and its place
// among the open sessions. s.mu is held.
func (s *Session) close() {
	if s.done {
		return
	}
	s.done = true
	if s.run != nil {
		_ = s.run.Flush()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.k != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.k.Shutdown(sctx)
		cancel()
	}
	s.x.mu.Lock()
	delete(s.x.open, s.n)
	s.x.mu.Unlock()
	s.release()
}

// writeNotes records, for each replaced cell, its earlier versions in the
// cell's metadata and in a collapsed markdown note right after it.
func (s *Session) writeNotes() {
	for _, ac := range s.cells {
		if len(ac.attempts) == 0 {
			continue
		}
		failed := ac.attempts
		if ac.failed {
			// The cell's current version raised too.
			cur := FixAttempt{Source: ac.cell.Source}
			if e := lastError(ac.cell); e != nil {
				cur.Ename, cur.Evalue = e.EName, e.EValue
			}
			failed = append(append([]FixAttempt(nil), failed...), cur)
		}
		meta, _ := ac.cell.Metadata[metaKey].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			ac.cell.Metadata[metaKey] = meta
		}
		list := make([]any, len(failed))
		for i, a := range failed {
			list[i] = a.meta()
		}
		meta["failed_attempts"] = list
		src := fixNote(failed, !ac.failed)
		if ac.note == nil {
			ac.note = ipynb.NewMarkdownCell(src)
			ac.note.Metadata[metaKey] = map[string]any{"role": "fix-note"}
			ac.note.Metadata["jupyter"] = map[string]any{"source_hidden": true}
			i := s.indexOf(ac.cell)
			s.nb.Cells = append(s.nb.Cells[:i+1], append([]*ipynb.Cell{ac.note}, s.nb.Cells[i+1:]...)...)
		} else {
			ac.note.Source = src
		}
	}
}

// fixNote is the collapsed markdown note listing a cell's failed versions.
func fixNote(failed []FixAttempt, fixed bool) string {
	var b strings.Builder
	head := fmt.Sprintf("The cell above failed %d time(s) and was fixed by the agent", len(failed))
	if !fixed {
		head = fmt.Sprintf("The cell above failed %d time(s); the agent could not fix it", len(failed))
	}
	fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n", head)
	for j, f := range failed {
		fmt.Fprintf(&b, "**Attempt %d**: `%s: %s`\n\n```python\n%s\n```\n\n", j+1, f.Ename, strings.ReplaceAll(f.Evalue, "`", "'"), f.Source)
	}
	b.WriteString("</details>")
	return b.String()
}

// lastError is the cell's error output, if it has one.
func lastError(c *ipynb.Cell) *ipynb.Output {
	for i := len(c.Outputs) - 1; i >= 0; i-- {
		if c.Outputs[i].OutputType == ipynb.ErrorOutput {
			return c.Outputs[i]
		}
	}
	return nil
}

// outputsOf is a cell's outputs as an agent sees them.
func outputsOf(c *ipynb.Cell) []agent.CellOutput {
	var outs []agent.CellOutput
	for _, o := range c.Outputs {
		co := agent.CellOutput{Type: o.OutputType}
		switch o.OutputType {
		case ipynb.StreamOutput:
			co.Name, co.Text = o.Name, o.Text
		case ipynb.ExecuteResultOutput, ipynb.DisplayDataOutput:
			co.Text, _ = o.Data["text/plain"].(string)
			for _, mime := range []string{"image/png", "image/jpeg", "image/gif", "image/webp"} {
				if b64, ok := o.Data[mime].(string); ok {
					co.Images = append(co.Images, agent.Image{MIME: mime, Base64: strings.TrimSpace(b64)})
				}
			}
		case ipynb.ErrorOutput:
			co.Ename, co.Evalue = o.EName, o.EValue
			co.Text = ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")
		}
		outs = append(outs, co)
	}
	return outs
}

func mergeMeta(old any, add map[string]any) map[string]any {
	m, _ := old.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range add {
		m[k] = v
	}
	return m
}

// notebook builds the trial notebook: the plan and the harness's setup
// cell; the agent's cells are appended as they run.
func (x *Experiment) notebook(n int, p agent.TrialPlan, agentName string) *ipynb.Notebook {
	nb := ipynb.New()
	spec := x.opts.Spec
	nb.Metadata["kernelspec"] = map[string]any{"name": spec.Name, "display_name": spec.DisplayName, "language": spec.Language}
	nb.Metadata["language_info"] = map[string]any{"name": "python"}
	tags := map[string]any{}
	for k, v := range p.Tags {
		tags[k] = v
	}
	nb.Metadata[metaKey] = map[string]any{"trial": n, "title": p.Title, "agent": agentName, "tags": tags}
	plan := fmt.Sprintf("# Trial %d: %s\n\n%s", n, p.Title, strings.TrimSpace(p.Plan))
	nb.Cells = append(nb.Cells, ipynb.NewMarkdownCell(plan))
	setup := ipynb.NewCodeCell(SetupCell(n, x.p.Seed, x.p.Metric.Name))
	setup.Metadata[metaKey] = map[string]any{"role": roleSet}
	setup.Metadata["tags"] = []any{"trialbook-setup"}
	nb.Cells = append(nb.Cells, setup)
	return nb
}

// cellStream streams one session's cells to the journal as the runner's
// Observer; a journal error stops the runner.
type cellStream struct {
	x *Experiment
	n int
	k *kernel.Kernel
	// Throttled cell.output: text is the tail of what the running cell
	// printed (never more than journal.OutputTail bytes, however much it
	// prints), sent at most once a second; unsent says text changed since.
	last   time.Time
	text   string
	unsent bool
}

var _ runner.Observer = (*cellStream)(nil)

// maxCellOutput caps what one cell keeps in the trial notebook.
const maxCellOutput = 1 << 20

func (r *cellStream) emit(ev journal.Event) error {
	ev.Trial = r.n
	_, err := r.x.emit(ev)
	return err
}

func (r *cellStream) CellStarted(i int, c *ipynb.Cell) error {
	if c.CellType != ipynb.CodeCell {
		return nil
	}
	r.last, r.text, r.unsent = time.Time{}, "", false
	return r.emit(journal.Event{Type: journal.CellStarted, Cell: &i, Source: c.Source})
}

func (r *cellStream) Output(i int, _ *ipynb.Cell, out *ipynb.Output) error {
	if out.OutputType != ipynb.StreamOutput || out.Text == "" {
		return nil
	}
	if len(out.Text) >= journal.OutputTail {
		r.text = tail(out.Text, journal.OutputTail)
	} else {
		r.text = tail(r.text+out.Text, journal.OutputTail)
	}
	r.unsent = true
	if time.Since(r.last) > time.Second {
		return r.flushOutput(i)
	}
	return nil
}

func (r *cellStream) flushOutput(i int) error {
	if !r.unsent {
		return nil
	}
	r.last, r.unsent = time.Now(), false
	return r.emit(journal.Event{Type: journal.CellOutput, Cell: &i, Text: r.text})
}

func (r *cellStream) CellFinished(i int, c *ipynb.Cell, err error) error {
	if c.CellType != ipynb.CodeCell {
		return nil
	}
	// The last text a cell printed reaches the panel even when it came
	// within a second of the previous cell.output.
	if err := r.flushOutput(i); err != nil {
		return err
	}
	var ce *runner.CellError
	if errors.As(err, &ce) && ce.Restarted {
		if err := r.emit(journal.Event{Type: journal.KernelRestarted, Kernel: r.k.ID(), Reason: ce.Error()}); err != nil {
			return err
		}
	}
	if err == nil {
		return r.emit(journal.Event{Type: journal.CellFinished, Cell: &i})
	}
	return nil
}

// tail is the last n bytes of s, or a little less so as not to start in the
// middle of a UTF-8 sequence.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	for i := 0; i < len(s) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(s[i]) {
			return s[i:]
		}
	}
	return s
}
