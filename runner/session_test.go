package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
)

func notebook(sources ...string) *ipynb.Notebook {
	nb := ipynb.New()
	for _, s := range sources {
		if strings.HasPrefix(s, "#md ") {
			nb.Cells = append(nb.Cells, ipynb.NewMarkdownCell(strings.TrimPrefix(s, "#md ")))
			continue
		}
		nb.Cells = append(nb.Cells, ipynb.NewCodeCell(s))
	}
	return nb
}

func streamText(c *ipynb.Cell) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		if o.OutputType == ipynb.StreamOutput {
			b.WriteString(o.Text)
		}
	}
	return b.String()
}

func TestStopsAtFirstErrorAndCallbacks(t *testing.T) {
	k := startKernel(t)
	nb := notebook("print('one')", "#md notes", "raise ValueError('boom')", "print('never')")
	nb.Cells[3].Outputs = []*ipynb.Output{{OutputType: ipynb.StreamOutput, Name: "stdout", Text: "old output\n"}}
	var events []string
	err := Run(context.Background(), k, nb, Options{Observer: Funcs{
		OnStarted: func(i int, _ *ipynb.Cell) { events = append(events, "start "+itoa(i)) },
		OnOutput: func(i int, _ *ipynb.Cell, o *ipynb.Output) {
			events = append(events, "output "+itoa(i)+" "+o.OutputType)
		},
		OnFinished: func(i int, _ *ipynb.Cell, err error) { events = append(events, "finish "+itoa(i)+" "+errString(err)) },
	}})
	var ce *CellError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCellFailed) {
		t.Fatalf("Run error = %v, want a *CellError wrapping ErrCellFailed", err)
	}
	if ce.Index != 2 || ce.EName != "ValueError" || ce.EValue != "boom" || len(ce.Traceback) == 0 {
		t.Errorf("CellError = %+v, want cell 2 ValueError boom with a traceback", ce)
	}
	want := "start 0|output 0 stream|finish 0 |start 1|finish 1 |start 2|output 2 error|finish 2 " + ce.Error()
	if got := strings.Join(events, "|"); got != want {
		t.Errorf("callbacks:\n got %s\nwant %s", got, want)
	}
	if got := streamText(nb.Cells[3]); got != "old output\n" || nb.Cells[3].ExecutionCount != nil {
		t.Errorf("cell after the error was touched: outputs %q, count %v", got, nb.Cells[3].ExecutionCount)
	}
	for _, key := range []string{"iopub.status.busy", "iopub.execute_input", "shell.execute_reply", "iopub.status.idle"} {
		ts, _ := nb.Cells[0].Metadata["execution"].(map[string]any)[key].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z", ts); err != nil {
			t.Errorf("metadata.execution[%s] = %q, want nbclient's timestamp format", key, ts)
		}
	}
	if _, ok := nb.Cells[1].Metadata["execution"]; ok {
		t.Error("markdown cell got execution metadata")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAllowErrorsAndRaisesExceptionTag(t *testing.T) {
	k := startKernel(t)
	nb := notebook("1/0", "print('after')", "undefined_name", "print('end')")
	nb.Cells[0].Metadata["tags"] = []any{"raises-exception"}
	err := Run(context.Background(), k, nb, Options{})
	if !errors.Is(err, ErrCellFailed) {
		t.Fatalf("Run = %v, want the NameError of cell 2 (cell 0 may raise)", err)
	}
	var ce *CellError
	errors.As(err, &ce)
	if ce.Index != 2 || streamText(nb.Cells[1]) != "after\n" {
		t.Errorf("stopped at cell %d, cell 1 printed %q; want a stop at 2 after cell 1 ran", ce.Index, streamText(nb.Cells[1]))
	}

	nb = notebook("undefined_name", "print('end')")
	if err := Run(context.Background(), k, nb, Options{AllowErrors: true}); err != nil {
		t.Fatalf("Run with AllowErrors = %v", err)
	}
	if got := streamText(nb.Cells[1]); got != "end\n" {
		t.Errorf("cell after the error printed %q, want end", got)
	}
}

// TestRunCellFixInPlace is how the experiment loop fixes a failing cell:
// replace its source and run only it again, in the same kernel.
func TestRunCellFixInPlace(t *testing.T) {
	k := startKernel(t)
	nb := notebook("runs = 0\nruns += 1\ndata = [1, 2, 3]", "print(sum(dta))")
	nb.Cells[0].Metadata["role"] = "setup"
	path := filepath.Join(t.TempDir(), "trial.ipynb")
	s := NewSession(k, nb, Options{Path: path})
	err := s.Run(context.Background())
	if !errors.Is(err, ErrCellFailed) {
		t.Fatalf("Run = %v, want the NameError", err)
	}
	first := *nb.Cells[0].ExecutionCount
	nb.Cells[1].Source = "print(sum(data), runs)"
	nb.Cells[0].Metadata["role"] = "edited" // an edit of another cell, same shape
	if err := s.RunCell(context.Background(), 1); err != nil {
		t.Fatalf("RunCell after the fix: %v", err)
	}
	saved, err := ipynb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Cells[1].Source != nb.Cells[1].Source || saved.Cells[0].Metadata["role"] != "edited" || streamText(saved.Cells[1]) != "6 1\n" {
		t.Errorf("saved file is stale: source %q, role %v, output %q", saved.Cells[1].Source, saved.Cells[0].Metadata["role"], streamText(saved.Cells[1]))
	}
	if got := streamText(nb.Cells[1]); got != "6 1\n" {
		t.Errorf("fixed cell printed %q, want \"6 1\" (earlier cell not re-run)", got)
	}
	if len(nb.Cells[1].Outputs) != 1 {
		t.Errorf("fixed cell has %d outputs, want the old error gone", len(nb.Cells[1].Outputs))
	}
	if *nb.Cells[0].ExecutionCount != first || *nb.Cells[1].ExecutionCount != first+2 {
		t.Errorf("execution counts %d, %d; want %d, %d", *nb.Cells[0].ExecutionCount, *nb.Cells[1].ExecutionCount, first, first+2)
	}
	if err := s.RunCell(context.Background(), 5); err == nil {
		t.Error("RunCell(5) on a 2-cell notebook: no error")
	}
	// Save writes what the caller changed after the last cell: a note
	// inserted, notebook metadata.
	nb.Cells = append(nb.Cells, ipynb.NewMarkdownCell("fixed: dta -> data"))
	nb.Metadata["score"] = 0.5
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	saved, err = ipynb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Cells) != 3 || saved.Cells[2].Source != "fixed: dta -> data" || saved.Metadata["score"] == nil {
		t.Errorf("after Save the file has %d cells and metadata %v, want the note and the score", len(saved.Cells), saved.Metadata)
	}
	validate(t, path)
}

func TestTimeoutInterruptsThenRestarts(t *testing.T) {
	k := startKernel(t)
	nb := notebook("import time\nx = 41", "time.sleep(60)", "x + 1")
	err := Run(context.Background(), k, nb, Options{Timeout: 1 * time.Second})
	var ce *CellError
	if !errors.As(err, &ce) || !errors.Is(err, ErrTimeout) || ce.Index != 1 || ce.Restarted {
		t.Fatalf("Run = %v, want a timeout of cell 1 without a restart", err)
	}
	// The interrupt left the kernel and its state alive.
	s := NewSession(k, nb, Options{})
	if err := s.RunCell(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if got := nb.Cells[2].Outputs[0].Data["text/plain"]; got != "42" {
		t.Errorf("after the interrupt x + 1 = %v, want 42", got)
	}
	if testing.Short() {
		return
	}
	// A cell that ignores SIGINT: interrupted, then restarted.
	// (ipykernel re-installs its SIGINT handler before each request, so the
	// cell must ignore SIGINT itself.)
	nb = notebook("y = 1", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)", "print('y' in globals())")
	err = Run(context.Background(), k, nb, Options{Timeout: 1 * time.Second})
	if !errors.As(err, &ce) || !errors.Is(err, ErrTimeout) || !ce.Restarted {
		t.Fatalf("Run = %v, want a timeout with a restart", err)
	}
	last := nb.Cells[1].Outputs[len(nb.Cells[1].Outputs)-1]
	if last.OutputType != ipynb.ErrorOutput || !strings.Contains(last.EValue, "restarted") {
		t.Errorf("timed-out cell's last output = %+v, want an error saying the kernel was restarted", last)
	}
	s = NewSession(k, nb, Options{})
	if err := s.RunCell(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if got := streamText(nb.Cells[2]); got != "False\n" {
		t.Errorf("after restart 'y' in globals() printed %q, want False (a fresh kernel)", got)
	}
}

func TestKernelDeathIsReported(t *testing.T) {
	k := startKernel(t)
	nb := notebook("import os\nos._exit(3)")
	err := Run(context.Background(), k, nb, Options{})
	if !errors.Is(err, kernel.ErrKernelDied) {
		t.Fatalf("Run = %v, want it to wrap kernel.ErrKernelDied", err)
	}
	outs := nb.Cells[0].Outputs
	if len(outs) == 0 || outs[len(outs)-1].EName != "DeadKernelError" {
		t.Errorf("outputs = %+v, want a DeadKernelError shown in the cell", outs)
	}
}

// TestSavedFileIsAlwaysComplete reads the output file over and over while
// cells run: every read must be a whole notebook, and progress only grows.
func TestSavedFileIsAlwaysComplete(t *testing.T) {
	k := startKernel(t)
	var srcs []string
	for i := range 40 {
		srcs = append(srcs, "print('cell "+itoa(i)+"' * 200)")
	}
	nb := notebook(srcs...)
	path := filepath.Join(t.TempDir(), "out.ipynb")
	done := make(chan struct{})
	var reads, lastExecuted atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			got, err := ipynb.Parse(data)
			if err != nil {
				t.Errorf("read a broken file (%d bytes): %v", len(data), err)
				return
			}
			n := int64(0)
			for _, c := range got.Cells {
				if c.ExecutionCount != nil {
					n++
				}
			}
			if n < lastExecuted.Load() {
				t.Errorf("file went back from %d to %d executed cells", lastExecuted.Load(), n)
			}
			lastExecuted.Store(n)
			reads.Add(1)
		}
	}()
	err := Run(context.Background(), k, nb, Options{Path: path})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if reads.Load() < 10 {
		t.Errorf("only %d reads happened during the run; the test proved little", reads.Load())
	}
	final, err := ipynb.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := final.Cells[39].ExecutionCount; c == nil {
		t.Error("the last cell is not in the saved file")
	}
	validate(t, path)
}

// TestBigOutputStaysBounded prints 200 MB from one cell: the notebook keeps
// the cap plus a note, and the runner's memory stays far below 200 MB.
func TestBigOutputStaysBounded(t *testing.T) {
	k := startKernel(t)
	nb := notebook("import sys\nchunk = 'x' * (1 << 20) + '\\n'\nfor _ in range(200):\n    sys.stdout.write(chunk)\n    sys.stdout.flush()\nprint('tail')", "print('next cell')")
	path := filepath.Join(t.TempDir(), "big.ipynb")

	growth := watchLiveHeap(20 * time.Millisecond)
	err := Run(context.Background(), k, nb, Options{Path: path, MaxOutputBytes: 2 << 20})
	grown := growth()
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	var note string
	for _, o := range nb.Cells[0].Outputs {
		if strings.Contains(o.Text, "[trialbook] output truncated") {
			note = o.Text
		} else {
			kept += len(o.Text)
		}
	}
	if kept > 2<<20 || kept < 1<<20 {
		t.Errorf("kept %d bytes of output, want at most the 2 MB cap (and most of it)", kept)
	}
	if !strings.Contains(note, "2.0 MB cap") || !strings.Contains(note, "MB more was not kept") {
		t.Errorf("note = %q, want the cap and the dropped size", note)
	}
	if got := streamText(nb.Cells[1]); got != "next cell\n" {
		t.Errorf("next cell printed %q; the cap must not leak into other cells", got)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4<<20 {
		t.Errorf("saved notebook is %d bytes, want it bounded by the cap", st.Size())
	}
	t.Logf("peak live heap growth while printing 200 MB: %.1f MB", float64(grown)/(1<<20))
	if grown > 64<<20 {
		t.Errorf("live heap grew by %.1f MB while the cell printed 200 MB; want it bounded (< 64 MB)", float64(grown)/(1<<20))
	}
	validate(t, path)
}

// failingObserver fails at one point of one cell, as a journal that cannot
// be written does.
type failingObserver struct {
	at    string // started, output or finished
	cell  int
	err   error
	calls []string
}

func (o *failingObserver) fail(what string, i int) error {
	o.calls = append(o.calls, what+" "+itoa(i))
	if what == o.at && i == o.cell {
		return o.err
	}
	return nil
}

func (o *failingObserver) CellStarted(i int, _ *ipynb.Cell) error { return o.fail("started", i) }
func (o *failingObserver) Output(i int, _ *ipynb.Cell, _ *ipynb.Output) error {
	return o.fail("output", i)
}
func (o *failingObserver) CellFinished(i int, _ *ipynb.Cell, _ error) error {
	return o.fail("finished", i)
}

// TestObserverErrorStopsTheRun checks that an error from the observer stops
// the run where the runner can stop it (before a cell it refused to start,
// after the cell whose output or end it could not record) and is returned
// as it is.
func TestObserverErrorStopsTheRun(t *testing.T) {
	k := startKernel(t)
	journalFull := errors.New("journal: no space left on device")
	cases := []struct {
		at        string
		wantCalls string
		wantRan   []bool // which of the three cells ran
	}{
		{"started", "started 0|output 0|finished 0|started 1", []bool{true, false, false}},
		// Once Output failed, the cell's later outputs are not offered.
		{"output", "started 0|output 0|finished 0|started 1|output 1|finished 1", []bool{true, true, false}},
		{"finished", "started 0|output 0|finished 0|started 1|output 1|output 1|finished 1", []bool{true, true, false}},
	}
	for _, c := range cases {
		t.Run(c.at, func(t *testing.T) {
			// Cell 1 prints twice, far enough apart to be two messages.
			nb := notebook("print('a')", "import time\nprint('b', flush=True)\ntime.sleep(0.5)\nprint('c', flush=True)", "print('never')")
			o := &failingObserver{at: c.at, cell: 1, err: journalFull}
			err := Run(context.Background(), k, nb, Options{Observer: o})
			if !errors.Is(err, journalFull) {
				t.Fatalf("Run = %v, want the observer's error", err)
			}
			var ce *CellError
			if errors.As(err, &ce) {
				t.Errorf("the observer's error came back as a cell error: %v", ce)
			}
			if got := strings.Join(o.calls, "|"); got != c.wantCalls {
				t.Errorf("observer calls\n got %s\nwant %s", got, c.wantCalls)
			}
			for i, ran := range c.wantRan {
				if got := nb.Cells[i].ExecutionCount != nil; got != ran {
					t.Errorf("cell %d ran = %v, want %v", i, got, ran)
				}
			}
		})
	}
}
