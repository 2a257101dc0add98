// Package runner executes a notebook cell by cell on a live kernel, the way
// nbclient does, and adds what trialbook needs on top: a per-cell timeout
// that interrupts and, if the kernel does not come back, restarts it; a cap
// on each cell's output; an atomic save after every cell; an Observer that
// streams progress and can stop the run; and re-running one cell with new
// source in the same kernel (how a failing cell is fixed in place).
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
)

// DefaultMaxOutputBytes caps one cell's outputs when Options.MaxOutputBytes is 0.
const DefaultMaxOutputBytes = 10 << 20

// restartTimeout bounds restarting a kernel that ignored an interrupt.
const restartTimeout = 60 * time.Second

// Options says how to execute a notebook. The zero value runs every cell
// with no timeout, stops at the first error, caps output at 10 MB and does
// not save.
type Options struct {
	// Timeout bounds each cell; 0 means none. A cell past it is
	// interrupted; if the kernel does not finish the cell within a few
	// seconds of the interrupt, it is restarted.
	Timeout time.Duration
	// AllowErrors keeps going after a cell raises. Cells tagged
	// raises-exception may always raise, as in nbclient.
	AllowErrors bool
	// MaxOutputBytes caps what one cell keeps; 0 means 10 MB, < 0 no cap.
	MaxOutputBytes int
	// Path, when set, is where the notebook is saved, atomically, before the
	// first cell and after every cell.
	Path string
	// Observer, when set, follows the run cell by cell.
	Observer Observer
}

// Observer follows a run cell by cell; its methods run on the goroutine
// that runs the cell. An error from any of them stops the run (the caller
// could not record what happened, so going on would lose it): an error from
// CellStarted before the cell runs, from Output once the cell has ended,
// from CellFinished at once. The observer's error is returned as it is, not
// as a *CellError.
type Observer interface {
	CellStarted(index int, cell *ipynb.Cell) error
	Output(index int, cell *ipynb.Cell, out *ipynb.Output) error
	CellFinished(index int, cell *ipynb.Cell, err error) error
}

// Funcs is an Observer made of optional functions that cannot fail.
type Funcs struct {
	OnStarted  func(index int, cell *ipynb.Cell)
	OnOutput   func(index int, cell *ipynb.Cell, out *ipynb.Output)
	OnFinished func(index int, cell *ipynb.Cell, err error)
}

var _ Observer = Funcs{}

// CellStarted calls f.OnStarted, if set.
func (f Funcs) CellStarted(i int, c *ipynb.Cell) error {
	if f.OnStarted != nil {
		f.OnStarted(i, c)
	}
	return nil
}

// Output calls f.OnOutput, if set.
func (f Funcs) Output(i int, c *ipynb.Cell, o *ipynb.Output) error {
	if f.OnOutput != nil {
		f.OnOutput(i, c, o)
	}
	return nil
}

// CellFinished calls f.OnFinished, if set.
func (f Funcs) CellFinished(i int, c *ipynb.Cell, err error) error {
	if f.OnFinished != nil {
		f.OnFinished(i, c, err)
	}
	return nil
}

// Errors callers branch on (with errors.Is); a failing cell's error is a
// *CellError that wraps one of them or the kernel's error.
var (
	// ErrCellFailed: the cell raised an exception.
	ErrCellFailed = errors.New("cell raised an exception")
	// ErrTimeout: the cell ran past Options.Timeout.
	ErrTimeout = errors.New("cell timed out")
)

// CellError is why a cell did not finish cleanly.
type CellError struct {
	Index  int
	CellID string
	// EName, EValue and Traceback are the exception, when the cell raised.
	EName     string
	EValue    string
	Traceback []string
	// Restarted says the kernel was restarted (a timeout it ignored), so the
	// notebook's earlier state is gone.
	Restarted bool
	Err       error
}

func (e *CellError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cell %d (id %s): ", e.Index, e.CellID)
	if e.EName != "" && !errors.Is(e.Err, ErrTimeout) {
		fmt.Fprintf(&b, "%s: %s", e.EName, e.EValue)
	} else {
		b.WriteString(e.Err.Error())
	}
	if e.Restarted {
		b.WriteString(" (the kernel was restarted)")
	}
	return b.String()
}

func (e *CellError) Unwrap() error { return e.Err }

// Session executes one notebook on one kernel. The kernel's state carries
// over from cell to cell, so RunCell can re-run a single cell (with new
// source) without re-running the cells before it. A Session is not safe for
// concurrent use.
type Session struct {
	k       *kernel.Kernel
	nb      *ipynb.Notebook
	opts    Options
	outputs *ipynb.OutputBuilder
	started bool
	// observerErr is the first error Observer.Output returned during the
	// cell that runs now.
	observerErr error

	snap *ipynb.Snapshotter
	// writing is the save in flight (nil when none): the notebook's bytes
	// are taken after each cell, and written while the next cell runs.
	writing chan error
}

// NewSession prepares to run nb on k. The caller owns k (it may come from a
// warm pool) and shuts it down.
func NewSession(k *kernel.Kernel, nb *ipynb.Notebook, opts Options) *Session {
	limit := opts.MaxOutputBytes
	switch {
	case limit == 0:
		limit = DefaultMaxOutputBytes
	case limit < 0:
		limit = 0
	}
	s := &Session{k: k, nb: nb, opts: opts, outputs: ipynb.NewOutputBuilder(nb, limit), snap: ipynb.NewSnapshotter(nb)}
	s.outputs.Updated = func(i int) { s.snap.Invalidate(nb.Cells[i]) }
	return s
}

// Notebook returns the notebook being executed.
func (s *Session) Notebook() *ipynb.Notebook { return s.nb }

// Run executes nb's cells in order on k; see Session.Run.
func Run(ctx context.Context, k *kernel.Kernel, nb *ipynb.Notebook, opts Options) error {
	return NewSession(k, nb, opts).Run(ctx)
}

// Run executes every cell in order. It stops at the first cell that fails
// (unless AllowErrors) and returns that cell's *CellError; with AllowErrors
// it runs on and returns nil when exceptions were the only failures. A
// timeout, a dead kernel or a cancelled ctx always stops the run.
func (s *Session) Run(ctx context.Context) (err error) {
	defer func() { err = errors.Join(err, s.Flush()) }()
	// The caller may have edited any cell since the last call.
	s.snap.Reset()
	if err := s.start(ctx); err != nil {
		return err
	}
	for i := range s.nb.Cells {
		err := s.runCell(ctx, i)
		if err == nil {
			continue
		}
		var ce *CellError
		if errors.As(err, &ce) && errors.Is(err, ErrCellFailed) && s.allowsErrors(s.nb.Cells[i]) {
			continue
		}
		return err
	}
	return nil
}

// start records the kernel's language_info in the notebook, as nbclient
// does, and saves the notebook once before any cell runs.
func (s *Session) start(ctx context.Context) error {
	if s.started {
		return nil
	}
	s.started = true
	info, err := s.k.KernelInfo(ctx)
	if err != nil {
		return fmt.Errorf("kernel_info: %w", err)
	}
	if li := info.LanguageInfo; li.Name != "" {
		s.nb.Metadata["language_info"] = languageInfo(li)
	}
	return s.save()
}

func (s *Session) allowsErrors(c *ipynb.Cell) bool {
	return s.opts.AllowErrors || c.HasTag("raises-exception")
}

// RunCell executes cell index (whatever its source is now) and saves the
// notebook; the caller may edit any cell (its source, metadata, or insert
// cells) between calls. Markdown and raw cells, empty code cells and cells tagged
// skip-execution are left as they are, as nbclient leaves them. An
// exception in the cell is returned as a *CellError wrapping ErrCellFailed.
func (s *Session) RunCell(ctx context.Context, index int) (err error) {
	defer func() { err = errors.Join(err, s.Flush()) }()
	s.snap.Reset()
	return s.runCell(ctx, index)
}

func (s *Session) runCell(ctx context.Context, index int) error {
	if index < 0 || index >= len(s.nb.Cells) {
		return fmt.Errorf("cell %d: the notebook has %d cells", index, len(s.nb.Cells))
	}
	if err := s.start(ctx); err != nil {
		return err
	}
	cell := s.nb.Cells[index]
	obs := s.opts.Observer
	if obs != nil {
		if err := obs.CellStarted(index, cell); err != nil {
			return err
		}
	}
	s.observerErr = nil
	err := s.execute(ctx, index, cell)
	s.snap.Invalidate(cell)
	if serr := s.save(); serr != nil && err == nil {
		err = serr
	}
	if obs != nil {
		if oerr := obs.CellFinished(index, cell, err); oerr != nil {
			return oerr
		}
	}
	if s.observerErr != nil {
		return s.observerErr
	}
	return err
}

func (s *Session) execute(ctx context.Context, index int, cell *ipynb.Cell) error {
	if cell.CellType != ipynb.CodeCell || strings.TrimSpace(cell.Source) == "" || cell.HasTag("skip-execution") {
		return nil
	}
	timing := map[string]any{}
	cell.Metadata["execution"] = timing
	s.outputs.StartCell(index)

	cctx := ctx
	if s.opts.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeoutCause(ctx, s.opts.Timeout, ErrTimeout)
		defer cancel()
	}
	var (
		idle   bool
		addErr error
	)
	reply, err := s.k.Execute(cctx, cell.Source, kernel.ExecuteOptions{
		StoreHistory: true,
		StopOnError:  !s.allowsErrors(cell),
		OnMessage: func(m *kernel.Message) {
			switch m.Type() {
			case "status":
				if st, ok := m.Content.(*kernel.Status); ok {
					switch st.ExecutionState {
					case "busy":
						timing["iopub.status.busy"] = stamp(m)
					case "idle":
						timing["iopub.status.idle"] = stamp(m)
						idle = true
					}
				}
			case "execute_input":
				timing["iopub.execute_input"] = stamp(m)
			}
			var out *ipynb.Output
			var err error
			if st, ok := m.Content.(*kernel.Stream); ok {
				out, err = s.outputs.AddStream(st.Name, st.Text)
			} else {
				out, err = s.outputs.Add(m.Type(), m.RawContent)
			}
			if err != nil {
				// A malformed output message loses that output; the cell
				// runs to its end and then reports it.
				if addErr == nil {
					addErr = fmt.Errorf("%s message: %w", m.Type(), err)
				}
				return
			}
			if out != nil && s.opts.Observer != nil && s.observerErr == nil {
				s.observerErr = s.opts.Observer.Output(index, cell, out)
			}
		},
	})
	if reply != nil {
		// nbclient stamps the reply's header date; Execute returns the
		// reply's content only, so this is when it was received.
		timing["shell.execute_reply"] = time.Now().UTC().Format(stampLayout)
	}
	ce := &CellError{Index: index, CellID: cell.ID}
	switch {
	case err != nil && errors.Is(context.Cause(cctx), ErrTimeout) && ctx.Err() == nil:
		ce.Err = fmt.Errorf("%w after %s", ErrTimeout, s.opts.Timeout)
		ce.EName, ce.EValue = "CellTimeoutError", fmt.Sprintf("the cell did not finish within %s; the kernel was interrupted", s.opts.Timeout)
		if !idle {
			// The kernel ignored the interrupt: its state cannot be trusted.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restartTimeout)
			rerr := s.k.Restart(rctx)
			cancel()
			if rerr != nil {
				ce.Err = errors.Join(ce.Err, fmt.Errorf("restart after timeout: %w", rerr))
			} else {
				ce.Restarted = true
				ce.EValue += " and did not stop, so it was restarted"
			}
		}
		s.appendError(cell, ce.EName, ce.EValue)
		return ce
	case err != nil && errors.Is(err, kernel.ErrKernelDied):
		ce.Err = err
		ce.EName, ce.EValue = "DeadKernelError", "Kernel died"
		s.appendError(cell, ce.EName, ce.EValue)
		return ce
	case err != nil:
		ce.Err = err
		return ce
	}
	if addErr != nil {
		return &CellError{Index: index, CellID: cell.ID, Err: addErr}
	}
	if reply.Status == "error" {
		ce.Err, ce.EName, ce.EValue, ce.Traceback = ErrCellFailed, reply.Ename, reply.Evalue, reply.Traceback
		return ce
	}
	if rerr := reply.Err(); rerr != nil {
		ce.Err = rerr
		return ce
	}
	return nil
}

// appendError shows trialbook's own failure (a timeout, a dead kernel) in
// the cell, where a reviewer looks, unless the kernel already reported one.
func (s *Session) appendError(cell *ipynb.Cell, ename, evalue string) {
	for _, o := range cell.Outputs {
		if o.OutputType == ipynb.ErrorOutput {
			return
		}
	}
	cell.Outputs = append(cell.Outputs, &ipynb.Output{
		OutputType: ipynb.ErrorOutput, EName: ename, EValue: evalue,
		Traceback: []string{ename + ": " + evalue},
	})
}

// save takes the notebook's bytes now and writes them to Options.Path in
// the background, after the previous save has finished: every state is
// written, in order, atomically, and the next cell does not wait for the
// disk. A failed earlier write is returned here.
func (s *Session) save() error {
	if s.opts.Path == "" {
		return nil
	}
	data, err := s.snap.Marshal()
	if err != nil {
		return fmt.Errorf("save %s: %w", s.opts.Path, err)
	}
	if err := s.Flush(); err != nil {
		return err
	}
	done := make(chan error, 1)
	s.writing = done
	path := s.opts.Path
	go func() { done <- ipynb.WriteFileAtomic(path, data) }()
	return nil
}

// Save writes the whole notebook to Options.Path now, atomically, and
// waits for it: for a caller that changed the notebook between cells (a
// note inserted, metadata added) or after the last one. It does nothing
// when Options.Path is empty.
func (s *Session) Save() error {
	s.snap.Reset()
	if err := s.save(); err != nil {
		return err
	}
	return s.Flush()
}

// Flush waits for the save in flight, if any, and returns its error. Run
// and RunCell flush before they return, so the file is then up to date.
func (s *Session) Flush() error {
	if s.writing == nil {
		return nil
	}
	err := <-s.writing
	s.writing = nil
	return err
}

// stampLayout is nbclient's timestamp format ("%Y-%m-%dT%H:%M:%S.%fZ").
const stampLayout = "2006-01-02T15:04:05.000000Z"

// stamp is the message's header date, as nbclient records it, or now when
// the kernel sent none.
func stamp(m *kernel.Message) string {
	t := m.Header.Date
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Format(stampLayout)
}

// languageInfo turns the kernel's language_info into notebook metadata,
// numbers kept as their literals (codemirror_mode.version is 3, not 3.0).
func languageInfo(li kernel.LanguageInfo) map[string]any {
	raw, err := json.Marshal(li)
	if err != nil {
		return map[string]any{"name": li.Name}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return map[string]any{"name": li.Name}
	}
	return m
}
