package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// trialFailure ends a trial with a reason shown on the leaderboard.
type trialFailure struct{ reason string }

func (f *trialFailure) Error() string { return f.reason }

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// runTrial runs one proposed trial on a kernel from the pool, scores it and
// decides. Only journal errors are returned; a trial's own failure is an
// event.
func (e *experiment) runTrial(ctx context.Context, pool *kernels, n int, t agent.Trial) error {
	rel := filepath.ToSlash(filepath.Join("trials", fmt.Sprintf("%03d-%s.ipynb", n, slug(t.Title))))
	path := filepath.Join(e.opts.Dir, rel)
	artifacts := filepath.Join(e.opts.Dir, "trials", fmt.Sprintf("%03d", n))
	// A re-run trial number never reuses stale predictions.
	for _, f := range []string{"oof.npy", "holdout.npy", "model.pkl", "importance.json"} {
		_ = os.Remove(filepath.Join(artifacts, f))
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return e.fail(n, time.Now(), fmt.Sprintf("creating %s: %v", artifacts, err))
	}
	nb := e.notebook(n, t)
	if err := nb.WriteFile(path); err != nil {
		return e.fail(n, time.Now(), fmt.Sprintf("writing %s: %v", rel, err))
	}
	k, err := pool.Get(ctx, n)
	if err != nil {
		if ctx.Err() != nil {
			return e.interrupted(n, ctx)
		}
		return e.fail(n, time.Now(), fmt.Sprintf("no kernel: %v", err))
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = k.Shutdown(sctx)
	}()
	// The kernel's language_info, as nbclient records it: with only a name,
	// JupyterLab fills it in on open and shows the notebook as modified.
	if info, err := k.KernelInfo(ctx); err == nil && info.LanguageInfo.Name != "" {
		nb.Metadata["language_info"] = languageInfo(info.LanguageInfo)
	}
	started := time.Now()
	if _, err := e.emit(journal.Event{Type: journal.TrialStarted, Trial: n, Title: t.Title, Notebook: rel, Kernel: k.ID()}); err != nil {
		return err
	}
	if _, err := e.emit(journal.Event{Type: journal.KernelStarted, Trial: n, Kernel: k.ID(), GPU: k.Env("CUDA_VISIBLE_DEVICES")}); err != nil {
		return err
	}
	trialCtx := ctx
	if d := e.p.Budget.TrialTime; d > 0 {
		var cancel context.CancelFunc
		trialCtx, cancel = context.WithTimeoutCause(ctx, d, fmt.Errorf("the trial ran past its time limit of %s", d))
		defer cancel()
	}
	spent := t.Usage
	r := e.newCellRun(k, nb, path, n)
	err = e.runCells(trialCtx, r, t, &spent)
	dur := journal.Duration(time.Since(started))
	var tf *trialFailure
	switch {
	case err == nil:
	case ctx.Err() != nil:
		_ = r.save()
		return e.interrupted(n, ctx)
	case errors.Is(err, kernel.ErrKernelDied):
		if _, err2 := e.emit(journal.Event{Type: journal.KernelDied, Trial: n, Kernel: k.ID(), Reason: err.Error()}); err2 != nil {
			return err2
		}
		if why := limitReason(k); why != "" {
			return e.failWith(n, dur, spent, why)
		}
		return e.failWith(n, dur, spent, fmt.Sprintf("the kernel died: %v", err))
	case errors.As(err, &tf):
		return e.failWith(n, dur, spent, withLimit(k, tf.reason))
	case trialCtx.Err() != nil:
		return e.failWith(n, dur, spent, context.Cause(trialCtx).Error())
	default:
		return e.failWith(n, dur, spent, err.Error())
	}
	oof, err1 := ReadNpy(filepath.Join(artifacts, "oof.npy"))
	hold, err2 := ReadNpy(filepath.Join(artifacts, "holdout.npy"))
	if err := errors.Join(err1, err2); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return e.failWith(n, dur, spent, "no predictions were handed back: the last cell must call hand_back(oof, holdout)")
		}
		return e.failWith(n, dur, spent, fmt.Sprintf("unreadable predictions: %v", err))
	}
	score, err := ScoreTrial(e.metric, e.data, oof, hold)
	if err != nil {
		return e.failWith(n, dur, spent, err.Error())
	}
	nb.Metadata[metaKey] = mergeMeta(nb.Metadata[metaKey], map[string]any{"score": score})
	if err := r.save(); err != nil {
		return e.failWith(n, dur, spent, fmt.Sprintf("writing %s: %v", rel, err))
	}
	if _, err := e.emit(journal.Event{Type: journal.TrialFinished, Trial: n, Score: score, Duration: dur, Usage: usage(spent)}); err != nil {
		return err
	}
	return e.decide(n, score)
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

func (e *experiment) fail(n int, started time.Time, reason string) error {
	return e.failWith(n, journal.Duration(time.Since(started)), agent.Usage{}, reason)
}

func (e *experiment) failWith(n int, dur journal.Duration, u agent.Usage, reason string) error {
	_, err := e.emit(journal.Event{Type: journal.TrialFailed, Trial: n, Reason: reason, Duration: dur, Usage: usage(u)})
	return err
}

func (e *experiment) interrupted(n int, ctx context.Context) error {
	why := "stopped by the user"
	if errors.Is(context.Cause(ctx), errTimeBudget) {
		why = "the experiment's time budget ran out"
	}
	_, err := e.emit(journal.Event{Type: journal.TrialInterrupted, Trial: n, Reason: why})
	return err
}

// notebook builds the trial notebook: the plan, the harness's setup cell,
// the agent's cells.
func (e *experiment) notebook(n int, t agent.Trial) *ipynb.Notebook {
	nb := ipynb.New()
	spec := e.opts.Spec
	nb.Metadata["kernelspec"] = map[string]any{"name": spec.Name, "display_name": spec.DisplayName, "language": spec.Language}
	nb.Metadata["language_info"] = map[string]any{"name": "python"}
	tags := map[string]any{}
	for k, v := range t.Tags {
		tags[k] = v
	}
	nb.Metadata[metaKey] = map[string]any{"trial": n, "title": t.Title, "agent": e.opts.AgentName, "tags": tags}
	plan := fmt.Sprintf("# Trial %d: %s\n\n%s", n, t.Title, strings.TrimSpace(t.Plan))
	nb.Cells = append(nb.Cells, ipynb.NewMarkdownCell(plan))
	setup := ipynb.NewCodeCell(SetupCell(n, e.p.Seed, e.p.Metric.Name))
	setup.Metadata[metaKey] = map[string]any{"role": roleSet}
	setup.Metadata["tags"] = []any{"trialbook-setup"}
	nb.Cells = append(nb.Cells, setup)
	for i, src := range t.Cells {
		c := ipynb.NewCodeCell(src)
		c.Metadata[metaKey] = map[string]any{"role": roleCell, "index": i}
		nb.Cells = append(nb.Cells, c)
	}
	return nb
}

// cellRun is one trial's session on its kernel and what the runner's
// callbacks need to stream the cells' progress to the journal.
type cellRun struct {
	e    *experiment
	n    int
	k    *kernel.Kernel
	sess *runner.Session
	// err is the first journal error a callback met; the cell loop returns it.
	err error
	// Throttled cell.output: text is the tail of what the running cell
	// printed (never more than journal.OutputTail bytes, however much it
	// prints), sent at most once a second; unsent says text changed since.
	last   time.Time
	text   string
	unsent bool
}

// newCellRun prepares nb to run on k through a runner session that saves to
// path after every cell and streams events.
func (e *experiment) newCellRun(k *kernel.Kernel, nb *ipynb.Notebook, path string, n int) *cellRun {
	r := &cellRun{e: e, n: n, k: k}
	r.sess = runner.NewSession(k, nb, runner.Options{
		Timeout:        e.p.Budget.CellTime,
		MaxOutputBytes: maxCellOutput,
		Path:           path,
		OnCellStarted:  r.started,
		OnOutput:       r.output,
		OnCellFinished: r.finished,
	})
	return r
}

// maxCellOutput caps what one cell keeps in the trial notebook.
const maxCellOutput = 1 << 20

func (r *cellRun) emit(ev journal.Event) {
	if r.err != nil {
		return
	}
	ev.Trial = r.n
	if _, err := r.e.emit(ev); err != nil {
		r.err = err
	}
}

func (r *cellRun) started(i int, c *ipynb.Cell) {
	if c.CellType != ipynb.CodeCell {
		return
	}
	r.last, r.text, r.unsent = time.Time{}, "", false
	r.emit(journal.Event{Type: journal.CellStarted, Cell: &i, Source: c.Source})
}

func (r *cellRun) output(i int, _ *ipynb.Cell, out *ipynb.Output) {
	if out.OutputType != ipynb.StreamOutput || out.Text == "" {
		return
	}
	if len(out.Text) >= journal.OutputTail {
		r.text = tail(out.Text, journal.OutputTail)
	} else {
		r.text = tail(r.text+out.Text, journal.OutputTail)
	}
	r.unsent = true
	if time.Since(r.last) > time.Second {
		r.flushOutput(i)
	}
}

func (r *cellRun) flushOutput(i int) {
	if !r.unsent {
		return
	}
	r.last, r.unsent = time.Now(), false
	r.emit(journal.Event{Type: journal.CellOutput, Cell: &i, Text: r.text})
}

func (r *cellRun) finished(i int, c *ipynb.Cell, err error) {
	if c.CellType != ipynb.CodeCell {
		return
	}
	// The last text a cell printed reaches the panel even when it came
	// within a second of the previous cell.output.
	r.flushOutput(i)
	var ce *runner.CellError
	if errors.As(err, &ce) && ce.Restarted {
		r.emit(journal.Event{Type: journal.KernelRestarted, Kernel: r.k.ID(), Reason: ce.Error()})
	}
	if err == nil {
		r.emit(journal.Event{Type: journal.CellFinished, Cell: &i})
	}
}

// save writes the notebook now, atomically, through the session.
func (r *cellRun) save() error { return r.sess.Save() }

// runCells executes the notebook's code cells in order through the runner,
// which saves after each; a failing agent cell goes back to the agent for a
// fix, re-run in place in the same kernel (the cells before it are not
// re-run).
func (e *experiment) runCells(ctx context.Context, r *cellRun, t agent.Trial, spent *agent.Usage) error {
	nb := r.sess.Notebook()
	n := r.n
	for i := 0; i < len(nb.Cells); i++ {
		c := nb.Cells[i]
		if c.CellType != ipynb.CodeCell {
			continue
		}
		meta, _ := c.Metadata[metaKey].(map[string]any)
		role, _ := meta["role"].(string)
		agentIndex, _ := meta["index"].(int)
		var failed []any
		for attempt := 0; ; attempt++ {
			err := r.sess.RunCell(ctx, i)
			if r.err != nil {
				return r.err
			}
			if err == nil {
				break
			}
			var ce *runner.CellError
			switch {
			case !errors.As(err, &ce):
				return err
			case errors.Is(err, runner.ErrTimeout):
				return &trialFailure{fmt.Sprintf("cell %d ran past the per-cell time limit of %s", i, e.p.Budget.CellTime)}
			case !errors.Is(err, runner.ErrCellFailed):
				// A dead kernel, a cancelled run, a kernel fault: the caller
				// tells them apart.
				return ce.Err
			}
			tb := ansi.ReplaceAllString(strings.Join(ce.Traceback, "\n"), "")
			if _, err := e.emit(journal.Event{Type: journal.CellError, Trial: n, Cell: &i, Ename: ce.EName, Evalue: ce.EValue, Text: tail(tb, 4000)}); err != nil {
				return err
			}
			if c := e.p.Kernel.InForce; ce.EName == "MemoryError" && c != nil && c.Memory > 0 {
				// Under an rlimit the cap shows as MemoryError; no fix
				// makes the machine bigger.
				return &trialFailure{fmt.Sprintf("the trial went past its memory cap of %s: cell %d raised MemoryError: %s", specs.FormatBytes(c.Memory), i, ce.EValue)}
			}
			failed = append(failed, map[string]any{"source": c.Source, "ename": ce.EName, "evalue": ce.EValue})
			why := fmt.Sprintf("cell %d raised %s: %s", i, ce.EName, ce.EValue)
			if role != roleCell {
				return &trialFailure{why + " (in the harness's setup cell)"}
			}
			if attempt >= e.p.Agent.FixAttempts {
				e.noteFixes(nb, i, failed, false)
				_ = r.save()
				return &trialFailure{fmt.Sprintf("%s; %d fix attempts did not help", why, attempt)}
			}
			fix, err := e.opts.Agent.Fix(ctx, agent.FixRequest{
				State: e.state(), Number: n, Trial: t, Cell: agentIndex, Source: c.Source,
				Ename: ce.EName, Evalue: ce.EValue, Traceback: tb, Attempt: attempt + 1,
			})
			if err != nil {
				fix.Usage = agent.SpentOn(err) // a failed fix may still have cost tokens
			}
			spent.InputTokens += fix.Usage.InputTokens
			spent.OutputTokens += fix.Usage.OutputTokens
			spent.CostUSD += fix.Usage.CostUSD
			if err != nil {
				e.noteFixes(nb, i, failed, false)
				_ = r.save()
				return &trialFailure{fmt.Sprintf("%s; the agent could not fix it: %v", why, err)}
			}
			c.Source = fix.Source
			meta["failed_attempts"] = failed
			c.Metadata[metaKey] = meta
			if _, err := e.emit(journal.Event{Type: journal.CellFixed, Trial: n, Cell: &i, Source: fix.Source, Reason: fix.Note, Usage: usage(*spent)}); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			e.noteFixes(nb, i, failed, true)
			i++ // skip the note just inserted
			if err := r.save(); err != nil {
				return err
			}
		}
	}
	return nil
}

// noteFixes inserts a collapsed markdown note after cell i listing the
// failed attempts; the attempts are also in the cell's metadata.
func (e *experiment) noteFixes(nb *ipynb.Notebook, i int, failed []any, fixed bool) {
	var b strings.Builder
	head := fmt.Sprintf("The cell above failed %d time(s) and was fixed by the agent", len(failed))
	if !fixed {
		head = fmt.Sprintf("The cell above failed %d time(s); the agent could not fix it", len(failed))
	}
	fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n", head)
	for j, f := range failed {
		m := f.(map[string]any)
		fmt.Fprintf(&b, "**Attempt %d**: `%s: %s`\n\n```python\n%s\n```\n\n", j+1, m["ename"], strings.ReplaceAll(fmt.Sprint(m["evalue"]), "`", "'"), m["source"])
	}
	b.WriteString("</details>")
	note := ipynb.NewMarkdownCell(b.String())
	note.Metadata[metaKey] = map[string]any{"role": "fix-note"}
	note.Metadata["jupyter"] = map[string]any{"source_hidden": true}
	meta, _ := nb.Cells[i].Metadata[metaKey].(map[string]any)
	if meta != nil {
		meta["failed_attempts"] = failed
	}
	nb.Cells = append(nb.Cells[:i+1], append([]*ipynb.Cell{note}, nb.Cells[i+1:]...)...)
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

// languageInfo is a kernel's language_info as notebook metadata.
func languageInfo(li kernel.LanguageInfo) map[string]any {
	m := map[string]any{"name": li.Name}
	for k, v := range map[string]string{"version": li.Version, "mimetype": li.Mimetype, "file_extension": li.FileExtension, "pygments_lexer": li.PygmentsLexer, "nbconvert_exporter": li.NbconvertExporter} {
		if v != "" {
			m[k] = v
		}
	}
	if li.CodemirrorMode != nil {
		m["codemirror_mode"] = li.CodemirrorMode
	}
	return m
}
