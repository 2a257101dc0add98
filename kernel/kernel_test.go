package kernel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sync"

	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoVenv finds the repository's .venv by walking up to go.mod.
func repoVenv(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			v := filepath.Join(dir, ".venv")
			if _, err := os.Stat(filepath.Join(v, "share", "jupyter", "kernels", "python3", "kernel.json")); err != nil {
				t.Fatalf("no kernelspec in %s: run `make setup` first", v)
			}
			return v
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// testSpec returns the python3 kernelspec of the repository's .venv; it
// skips under -short.
func testSpec(t testing.TB) *Spec {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real ipykernel; skipped with -short")
	}
	v := repoVenv(t)
	s, err := FindSpec("python3", SearchOptions{Paths: []string{}, Prefix: v, UserDir: t.TempDir(), SystemDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startKernel(t testing.TB, opts StartOptions) *Kernel {
	t.Helper()
	spec := testSpec(t)
	if opts.RuntimeDir == "" {
		opts.RuntimeDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := Start(ctx, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		pgid := k.Pid()
		if err := k.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		assertGroupGone(t, pgid)
	})
	return k
}

func assertGroupGone(t testing.TB, pgid int) {
	t.Helper()
	if pgid <= 0 {
		return
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d still has live processes after shutdown", pgid)
	}
}

// collected is what an Execute produced.
type collected struct {
	msgs   []*Message
	stdout strings.Builder
	stderr strings.Builder
}

func (c *collected) on(m *Message) {
	c.msgs = append(c.msgs, m)
	if s, ok := m.Content.(*Stream); ok {
		if s.Name == "stderr" {
			c.stderr.WriteString(s.Text)
		} else {
			c.stdout.WriteString(s.Text)
		}
	}
}

func (c *collected) types() []string {
	var out []string
	for _, m := range c.msgs {
		out = append(out, m.Type())
	}
	return out
}

func run(t *testing.T, k *Kernel, code string, opts ExecuteOptions) (*ExecuteReply, *collected) {
	t.Helper()
	c := &collected{}
	opts.OnMessage = c.on
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := k.Execute(ctx, code, opts)
	if err != nil {
		t.Fatalf("execute %q: %v", code, err)
	}
	return rep, c
}

// TestRealKernel runs the behaviours that need no kernel of their own on one
// kernel, one after the other: each leaves it usable for the next.
func TestRealKernel(t *testing.T) {
	k := startKernel(t, StartOptions{})
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *Kernel)
	}{
		{"kernel_info", testKernelInfo},
		{"streams", testStreams},
		{"display_png", testDisplayPNG},
		{"execute_result", testExecuteResult},
		{"error", testError},
		{"aborted", testAbortedReplySurfaced},
		{"input", testInput},
		{"interrupt", testInterruptSignal},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, k) })
	}
}

func testKernelInfo(t *testing.T, k *Kernel) {
	info, err := k.KernelInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.LanguageInfo.Name, "python"; got != want {
		t.Errorf("language = %q, want %q", got, want)
	}
	if info.Implementation != "ipython" || !strings.HasPrefix(info.ProtocolVersion, "5.") {
		t.Errorf("implementation %q protocol %q, want ipython 5.x", info.Implementation, info.ProtocolVersion)
	}
}

func testStreams(t *testing.T, k *Kernel) {
	rep, c := run(t, k, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)", ExecuteOptions{})
	if rep.Status != "ok" {
		t.Fatalf("status %q", rep.Status)
	}
	if got, want := c.stdout.String(), "hello\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := c.stderr.String(), "oops\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	ty := c.types()
	if ty[0] != "status" || ty[len(ty)-1] != "status" {
		t.Errorf("messages %v: want busy first and idle last", ty)
	}
}

func testDisplayPNG(t *testing.T, k *Kernel) {
	code := "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
	rep, c := run(t, k, code, ExecuteOptions{})
	if rep.Status != "ok" {
		t.Fatalf("status %q: %s %s", rep.Status, rep.Ename, rep.Evalue)
	}
	var png string
	for _, m := range c.msgs {
		if d, ok := m.Content.(*DisplayData); ok {
			png, _ = d.Data["image/png"].(string)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(png, "\n", ""))
	if err != nil || !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("display_data image/png is not a PNG (%d bytes, err %v); messages %v", len(raw), err, c.types())
	}
}

func testExecuteResult(t *testing.T, k *Kernel) {
	rep, c := run(t, k, "6 * 7", ExecuteOptions{StoreHistory: true})
	var res *ExecuteResult
	for _, m := range c.msgs {
		if r, ok := m.Content.(*ExecuteResult); ok {
			res = r
		}
	}
	if res == nil {
		t.Fatalf("no execute_result in %v", c.types())
	}
	if got, want := res.Data.Text(), "42"; got != want {
		t.Errorf("text/plain = %q, want %q", got, want)
	}
	if res.ExecutionCount != rep.ExecutionCount || rep.ExecutionCount < 1 {
		t.Errorf("execution counts: result %d, reply %d", res.ExecutionCount, rep.ExecutionCount)
	}
}

func testError(t *testing.T, k *Kernel) {
	rep, c := run(t, k, "def f():\n    return 1 / 0\nf()", ExecuteOptions{})
	if rep.Status != "error" || rep.Ename != "ZeroDivisionError" {
		t.Fatalf("reply status %q ename %q, want error ZeroDivisionError", rep.Status, rep.Ename)
	}
	var xe *ExecError
	if !errors.As(rep.Err(), &xe) || xe.Ename != "ZeroDivisionError" {
		t.Errorf("reply.Err() = %v, want *ExecError ZeroDivisionError", rep.Err())
	}
	var iopubErr *Error
	for _, m := range c.msgs {
		if e, ok := m.Content.(*Error); ok {
			iopubErr = e
		}
	}
	if iopubErr == nil || len(iopubErr.Traceback) < 2 || !strings.Contains(stripANSI(strings.Join(iopubErr.Traceback, "\n")), "return 1 / 0") {
		t.Fatalf("iopub error traceback does not show the failing line: %+v", iopubErr)
	}
	// stop_on_error aborts what was queued behind the failure.
	rep2, _ := run(t, k, "1", ExecuteOptions{})
	if rep2.Status != "ok" {
		t.Errorf("next execute: status %q", rep2.Status)
	}
}

func testAbortedReplySurfaced(t *testing.T, k *Kernel) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Queue a request behind one that is running and will fail with
	// stop_on_error: the kernel aborts the queued one.
	running := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := k.Execute(ctx, "import time; time.sleep(0.5); raise ValueError('boom')", ExecuteOptions{
			StopOnError: true,
			OnMessage: func(m *Message) {
				if m.Type() == "execute_input" {
					once.Do(func() { close(running) })
				}
			},
		})
		first <- err
	}()
	<-running
	rep, err := k.Execute(ctx, "print('should not run')", ExecuteOptions{StopOnError: true})
	if e := <-first; e != nil {
		t.Fatal(e)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "aborted" || !errors.Is(rep.Err(), ErrAborted) {
		t.Errorf("queued request: status %q, Err() %v; want aborted, ErrAborted", rep.Status, rep.Err())
	}
}

func testInput(t *testing.T, k *Kernel) {
	var gotPrompt string
	rep, c := run(t, k, "name = input('who? ')\nprint('hello', name)", ExecuteOptions{
		AllowStdin: true,
		OnInput: func(ctx context.Context, prompt string, password bool) (string, error) {
			gotPrompt = prompt
			return "ada", nil
		},
	})
	if rep.Status != "ok" {
		t.Fatalf("status %q %s", rep.Status, rep.Evalue)
	}
	if gotPrompt != "who? " {
		t.Errorf("prompt = %q", gotPrompt)
	}
	if got, want := c.stdout.String(), "hello ada\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	// Without stdin the kernel refuses input() with an error, not a hang.
	rep, _ = run(t, k, "input('x')", ExecuteOptions{})
	if rep.Status != "error" || rep.Ename != "StdinNotImplementedError" {
		t.Errorf("input without stdin: status %q ename %q, want error StdinNotImplementedError", rep.Status, rep.Ename)
	}
}

func testInterruptSignal(t *testing.T, k *Kernel) {
	if k.Spec().InterruptMode != "signal" {
		t.Fatalf("spec interrupt mode %q", k.Spec().InterruptMode)
	}
	checkInterrupt(t, k)
	// Interrupting an idle kernel does no harm.
	if err := k.Interrupt(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, c := run(t, k, "print('still here')", ExecuteOptions{})
	if rep.Status != "ok" || c.stdout.String() != "still here\n" {
		t.Errorf("after an idle interrupt: status %q stdout %q", rep.Status, c.stdout.String())
	}
}

func TestInterruptMessageMode(t *testing.T) {
	spec := *testSpec(t)
	spec.InterruptMode = "message"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := Start(ctx, &spec, StartOptions{RuntimeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Shutdown(context.Background())
	checkInterrupt(t, k)
}

// checkInterrupt cancels a time.sleep(600) once it has started and wants
// Execute back within 2 s with the kernel still usable.
func checkInterrupt(t *testing.T, k *Kernel) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var once sync.Once
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	var cancelledAt time.Time
	rep, err := k.Execute(ectx, "import time\nprint('sleeping', flush=True)\ntime.sleep(600)", ExecuteOptions{
		OnMessage: func(m *Message) {
			if s, ok := m.Content.(*Stream); ok && strings.Contains(s.Text, "sleeping") {
				once.Do(func() {
					cancelledAt = time.Now()
					ecancel()
				})
			}
		},
	})
	took := time.Since(cancelledAt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took > 2*time.Second {
		t.Errorf("execute returned %s after cancel, want < 2s", took)
	}
	if rep == nil || rep.Ename != "KeyboardInterrupt" {
		t.Errorf("reply %+v, want KeyboardInterrupt", rep)
	}
	rep, c := run(t, k, "print(1 + 1)", ExecuteOptions{})
	if rep.Status != "ok" || c.stdout.String() != "2\n" {
		t.Errorf("after interrupt: status %q stdout %q", rep.Status, c.stdout.String())
	}
}

func TestDeathMidCellThenRestart(t *testing.T) {
	k := startKernel(t, StartOptions{})
	before := k.Connection()
	run(t, k, "x = 41\nimport subprocess\nchild = subprocess.Popen(['sleep', '600'])", ExecuteOptions{})
	pgid := k.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := k.Execute(ctx, "import os\nos._exit(1)", ExecuteOptions{})
	if !errors.Is(err, ErrKernelDied) {
		t.Fatalf("err = %v, want ErrKernelDied", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("death noticed after %s, want < 3s", d)
	}
	select {
	case <-k.Done():
	default:
		t.Error("Done not closed after the kernel died")
	}
	if !errors.Is(k.Err(), ErrKernelDied) {
		t.Errorf("Err() = %v", k.Err())
	}
	// The kernel's child (sleep 600) must not outlive it.
	waitGroupGone(t, pgid)
	if _, err := k.Execute(ctx, "1", ExecuteOptions{}); !errors.Is(err, ErrKernelDied) {
		t.Errorf("execute on dead kernel: %v, want ErrKernelDied", err)
	}

	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if after := k.Connection(); after != before {
		t.Errorf("restart changed the connection: %+v -> %+v", before, after)
	}
	rep, c := run(t, k, "print('x' in globals())", ExecuteOptions{})
	if rep.Status != "ok" || c.stdout.String() != "False\n" {
		t.Errorf("after restart: status %q stdout %q (want a fresh namespace)", rep.Status, c.stdout.String())
	}
}

// waitGroupGone waits for the group to vanish: the kill was sent when the
// leader was reaped, and the kernel reaps its signalled members at once.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range groupMembers(pgid) {
		if !waitPidExit(pid, time.Until(deadline)) {
			t.Fatalf("process %d of group %d still alive", pid, pgid)
		}
	}
}

func TestRestartWhileBusy(t *testing.T) {
	k := startKernel(t, StartOptions{})
	run(t, k, "x = 1", ExecuteOptions{})
	old := k.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := k.Execute(ctx, "import time\nprint('busy', flush=True)\ntime.sleep(600)", ExecuteOptions{OnMessage: func(m *Message) {
			if _, ok := m.Content.(*Stream); ok {
				once.Do(func() { close(started) })
			}
		}})
		result <- err
	}()
	<-started
	if err := k.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, ErrKernelDied) {
		t.Errorf("execute running during restart: %v, want ErrKernelDied", err)
	}
	assertGroupGone(t, old)
	if k.Pid() == old {
		t.Error("same pid after restart")
	}
	rep, c := run(t, k, "print('x' in globals())", ExecuteOptions{})
	if rep.Status != "ok" || c.stdout.String() != "False\n" {
		t.Errorf("after restart: %q %q", rep.Status, c.stdout.String())
	}
}

func TestHeartbeatNoticesStoppedKernel(t *testing.T) {
	k := startKernel(t, StartOptions{})
	pgid := k.Pid()
	if err := syscall.Kill(pgid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	select {
	case <-k.Done():
	case <-time.After(10 * time.Second):
		syscall.Kill(pgid, syscall.SIGCONT)
		t.Fatal("a stopped kernel was not noticed within 10s")
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Errorf("noticed after %s, want about 3s", d)
	}
	if !errors.Is(k.Err(), ErrKernelDied) || !strings.Contains(k.Err().Error(), "heartbeat") {
		t.Errorf("Err() = %v", k.Err())
	}
	waitGroupGone(t, pgid)
}

func TestShutdownLeavesNoProcess(t *testing.T) {
	spec := testSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	k, err := Start(ctx, spec, StartOptions{RuntimeDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Execute(ctx, "import subprocess\nchild = subprocess.Popen(['sleep', '600'])", ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	pgid := k.Pid()
	if err := k.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	assertGroupGone(t, pgid)
	if _, err := os.Stat(k.ConnectionFile()); !os.IsNotExist(err) {
		t.Errorf("connection file left behind: %v", err)
	}
	if _, err := k.Execute(ctx, "1", ExecuteOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("execute after shutdown: %v, want ErrClosed", err)
	}
	if err := k.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

// processesMentioning lists pids whose command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var pids []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestStartCancelLeavesNoProcess(t *testing.T) {
	spec := testSpec(t)
	dir := t.TempDir()
	// Python takes longer than this to start, so Start is cancelled while
	// the process exists but is not ready.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	k, err := Start(ctx, spec, StartOptions{RuntimeDir: dir})
	if err == nil {
		k.Shutdown(context.Background())
		t.Skip("the kernel started within 150ms; cannot test cancellation here")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if pids := processesMentioning(t, dir); len(pids) > 0 {
		t.Errorf("processes left after cancelled Start: %v", pids)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("files left in the runtime dir: %v", left)
	}
}

func TestEightAtOnce(t *testing.T) {
	spec := testSpec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n = 8
	kernels := make([]*Kernel, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// tcp: the ports each kernel holds reserved must not collide.
			kernels[i], errs[i] = Start(ctx, spec, StartOptions{RuntimeDir: t.TempDir(), Transport: "tcp"})
		})
	}
	wg.Wait()
	ports := map[int]int{}
	for i, k := range kernels {
		if errs[i] != nil {
			t.Errorf("kernel %d: %v", i, errs[i])
			continue
		}
		defer func() {
			pgid := k.Pid()
			k.Shutdown(context.Background())
			assertGroupGone(t, pgid)
		}()
		c := k.Connection()
		for _, p := range []int{c.ShellPort, c.IOPubPort, c.StdinPort, c.ControlPort, c.HBPort} {
			if j, dup := ports[p]; dup {
				t.Errorf("port %d used by kernels %d and %d", p, j, i)
			}
			ports[p] = i
		}
	}
	for i, k := range kernels {
		if k == nil {
			continue
		}
		c := &collected{}
		rep, err := k.Execute(ctx, fmt.Sprintf("print(%d)", i), ExecuteOptions{OnMessage: c.on})
		if err != nil || rep.Status != "ok" || c.stdout.String() != fmt.Sprintf("%d\n", i) {
			t.Errorf("kernel %d: err %v stdout %q", i, err, c.stdout.String())
		}
	}
}

func TestIPCTransport(t *testing.T) {
	k := startKernel(t, StartOptions{Transport: "ipc"})
	if c := k.Connection(); c.Transport != "ipc" {
		t.Fatalf("transport %q", c.Transport)
	}
	rep, c := run(t, k, "print('over ipc')", ExecuteOptions{})
	if rep.Status != "ok" || c.stdout.String() != "over ipc\n" {
		t.Errorf("status %q stdout %q", rep.Status, c.stdout.String())
	}
}

func TestForgedSignatureDropped(t *testing.T) {
	k := startKernel(t, StartOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The kernel drops a request we sign with the wrong key: send one on the
	// shell connection, then a real one on the same connection (ZeroMQ keeps
	// their order), and check the forged code never ran.
	p := k.current()
	forger := newSession([]byte("not-the-key"), "mallory")
	forged := forger.newMessage("execute_request", &ExecuteRequest{Code: "forged = True", UserExpressions: map[string]any{}})
	frames, err := forger.encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.shell.send(frames); err != nil {
		t.Fatal(err)
	}
	_, c := run(t, k, "print('forged' in globals())", ExecuteOptions{})
	if got := c.stdout.String(); got != "False\n" {
		t.Errorf("forged request ran: stdout %q", got)
	}

	// We drop what the kernel signs when we hold the wrong key: a client
	// with a bad key never gets ready, and says why.
	// The kernel's XPUB passes on only the first subscription to a topic,
	// so this second client gets no iopub_welcome; keep iopub busy instead.
	busy := make(chan error, 1)
	go func() {
		_, err := k.Execute(ctx, "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.05)", ExecuteOptions{})
		busy <- err
	}()
	info := k.Connection()
	info.Key = "0123456789abcdef"
	_, err = Connect(ctx, info, StartOptions{StartTimeout: 1500 * time.Millisecond})
	if e := <-busy; e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("connect with a wrong key: %v, want ErrBadSignature", err)
	}

	// With the right key, Connect works and sees nothing dropped.
	info.Key = k.Connection().Key
	k2, err := Connect(ctx, info, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c2 := &collected{}
	if _, err := k2.Execute(ctx, "print('from the second client')", ExecuteOptions{OnMessage: c2.on}); err != nil || c2.stdout.String() != "from the second client\n" {
		t.Errorf("second client: err %v stdout %q", err, c2.stdout.String())
	}
	if s := k2.Stats(); s.BadSignature != 0 {
		t.Errorf("right key: %d messages dropped", s.BadSignature)
	}
	// Closing an attached client leaves the kernel to its owner.
	if err := k2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !groupAlive(k.Pid()) {
		t.Fatal("closing the second client killed the kernel")
	}
	if _, c := run(t, k, "print('owner')", ExecuteOptions{}); c.stdout.String() != "owner\n" {
		t.Errorf("owner after the second client closed: %q", c.stdout.String())
	}
}

func TestLargeOutput(t *testing.T) {
	const size = 50 << 20
	code := fmt.Sprintf("import sys\nsys.stdout.write('x' * %d)\nsys.stdout.flush()", size)
	k := startKernel(t, StartOptions{})
	t.Run("whole", func(t *testing.T) {
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		rep, err := k.Execute(ctx, code, ExecuteOptions{OnMessage: func(m *Message) {
			if s, ok := m.Content.(*Stream); ok {
				n += strings.Count(s.Text, "x")
			}
		}})
		if err != nil || rep.Status != "ok" {
			t.Fatalf("err %v reply %+v", err, rep)
		}
		if n != size {
			t.Errorf("received %d bytes of output, want %d", n, size)
		}
	})
	t.Run("capped", func(t *testing.T) {
		const limit = 1 << 20
		var got strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep, err := k.Execute(ctx, code, ExecuteOptions{MaxOutput: limit, OnMessage: func(m *Message) {
			if s, ok := m.Content.(*Stream); ok {
				got.WriteString(s.Text)
			}
		}})
		if err != nil || rep.Status != "ok" {
			t.Fatalf("err %v reply %+v", err, rep)
		}
		if n := strings.Count(got.String(), "x"); n != limit {
			t.Errorf("delivered %d bytes, want the cap %d", n, limit)
		}
		if !strings.Contains(got.String(), "output truncated") {
			t.Errorf("no truncation note in the output's tail %q", got.String()[max(0, got.Len()-100):])
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
			t.Errorf("heap grew by %d MiB after a capped 50 MiB output", grew>>20)
		}
	})
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

// TestHelperStartKernel is not a test: TestKernelExitsWithItsParent runs the
// test binary as a parent that starts a kernel, prints its pid and waits to
// be killed.
func TestHelperStartKernel(t *testing.T) {
	dir := os.Getenv("TRIALBOOK_KERNEL_HELPER")
	if dir == "" {
		t.Skip("helper process for TestKernelExitsWithItsParent")
	}
	k, err := Start(context.Background(), testSpec(t), StartOptions{RuntimeDir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("pid", k.Pid())
	select {} // until killed
}

// If trialbook is killed with SIGKILL it cannot shut its kernels down; the
// kernel notices its parent is gone (JPY_PARENT_PID) and exits.
func TestKernelExitsWithItsParent(t *testing.T) {
	testSpec(t) // skips under -short
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartKernel$", "-test.v")
	cmd.Env = append(os.Environ(), "TRIALBOOK_KERNEL_HELPER="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	pid := 0
	for sc.Scan() {
		if n, err := fmt.Sscanf(sc.Text(), "pid %d", &pid); n == 1 && err == nil {
			break
		}
	}
	if pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the helper did not start a kernel")
	}
	cmd.Process.Kill()
	cmd.Wait()
	// ipykernel polls its parent once a second.
	if !waitPidExit(pid, 10*time.Second) {
		syscall.Kill(-pid, syscall.SIGKILL)
		t.Fatalf("kernel %d still running 10s after its parent was killed", pid)
	}
}
