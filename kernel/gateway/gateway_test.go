package gateway

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"trialbook/kernel"
)

// startServer runs a real Jupyter Server from the repository's .venv on a
// free port, with any extra command-line args, and returns a client for
// it; it skips under -short.
func startServer(t *testing.T, args ...string) *Client {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real Jupyter Server; skipped with -short")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	server := filepath.Join(dir, ".venv", "bin", "jupyter-server")
	if _, err := os.Stat(server); err != nil {
		t.Fatalf("%s: %v (run `make setup`)", server, err)
	}
	tmp := t.TempDir()
	const token = "trialbook-test-token"
	cmd := exec.Command(server, append([]string{"--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--no-browser", "--allow-root",
		"--IdentityProvider.token=" + token, "--ServerApp.root_dir=" + tmp}, args...)...)
	cmd.Env = append(os.Environ(), "JUPYTER_RUNTIME_DIR="+filepath.Join(tmp, "runtime"), "JUPYTER_CONFIG_DIR="+filepath.Join(tmp, "config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	var logMu sync.Mutex
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			logMu.Lock()
			t.Logf("jupyter server log:\n%s", log.String())
			logMu.Unlock()
		}
	})
	// The server says where it listens once it does. (Port 0 on one IP:
	// on "localhost" IPv4 and IPv6 would get different ports.)
	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if u := urlRE.FindString(sc.Text()); u != "" && !sent {
				found <- u
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case u, ok := <-found:
		if !ok {
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("jupyter server exited:\n%s", log.String())
		}
		// With port 0 the server prints its port a moment before it listens
		// on it; connect until it accepts, as a client dialing a kernel does.
		addr := strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/")
		deadline := time.Now().Add(30 * time.Second)
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("jupyter server never accepted on %s: %v", addr, err)
			}
			retry := time.NewTimer(10 * time.Millisecond)
			<-retry.C
		}
		return &Client{URL: strings.TrimRight(u, "/"), Token: token}
	case <-time.After(60 * time.Second):
		t.Fatal("jupyter server did not start within 60s")
	}
	return nil
}

func listKernels(t *testing.T, c *Client) []string {
	t.Helper()
	var ks []struct {
		ID string `json:"id"`
	}
	if err := c.do(context.Background(), http.MethodGet, "/api/kernels", nil, &ks); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func execute(t *testing.T, k *kernel.Kernel, code string, opts kernel.ExecuteOptions) (*kernel.ExecuteReply, string) {
	t.Helper()
	var out strings.Builder
	opts.OnMessage = func(m *kernel.Message) {
		if s, ok := m.Content.(*kernel.Stream); ok {
			out.WriteString(s.Text)
		}
		if r, ok := m.Content.(*kernel.ExecuteResult); ok {
			out.WriteString(r.Data.Text())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := k.Execute(ctx, code, opts)
	if err != nil {
		t.Fatalf("execute %q: %v", code, err)
	}
	return rep, out.String()
}

func TestJupyterServer(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	k, err := c.StartKernel(ctx, "python3", kernel.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("bad token", func(t *testing.T) {
		bad := *c
		bad.Token = "wrong"
		if _, err := bad.StartKernel(ctx, "python3", kernel.StartOptions{}); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("err %v, want a 403 from the server", err)
		}
		if _, err := c.StartKernel(ctx, "no-such-kernel", kernel.StartOptions{}); err == nil || !strings.Contains(err.Error(), "it has: python3") {
			t.Errorf("err %v, want the server's kernels named", err)
		}
	})
	t.Run("execute", func(t *testing.T) {
		rep, out := execute(t, k, "print('hello'); 6 * 7", kernel.ExecuteOptions{})
		if rep.Status != "ok" || out != "hello\n42" {
			t.Errorf("status %q output %q", rep.Status, out)
		}
		rep, _ = execute(t, k, "1/0", kernel.ExecuteOptions{})
		var xe *kernel.ExecError
		if !errors.As(rep.Err(), &xe) || xe.Ename != "ZeroDivisionError" {
			t.Errorf("error reply %+v", rep)
		}
	})
	t.Run("input", func(t *testing.T) {
		rep, out := execute(t, k, "print(input('name? '))", kernel.ExecuteOptions{AllowStdin: true,
			OnInput: func(ctx context.Context, prompt string, password bool) (string, error) { return "ada", nil }})
		if rep.Status != "ok" || out != "ada\n" {
			t.Errorf("status %q output %q", rep.Status, out)
		}
	})
	t.Run("unreadable message dropped and counted", func(t *testing.T) {
		// The kernel itself publishes a message with no msg_type, which the
		// server forwards as it is and trialbook cannot route.
		before := k.Stats().Malformed
		rep, out := execute(t, k, "k = get_ipython().kernel\nk.session.send(k.iopub_socket, '', {'x': 1}, parent=k.get_parent('shell'))\nprint('after')", kernel.ExecuteOptions{})
		if rep.Status != "ok" || out != "after\n" {
			t.Errorf("status %q output %q", rep.Status, out)
		}
		if got := k.Stats().Malformed - before; got != 1 {
			t.Errorf("Stats.Malformed went up by %d, want 1", got)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		ectx, ecancel := context.WithCancel(ctx)
		var once sync.Once
		var at time.Time
		_, err := k.Execute(ectx, "import time\nprint('sleeping', flush=True)\ntime.sleep(600)", kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
			if _, ok := m.Content.(*kernel.Stream); ok {
				once.Do(func() { at = time.Now(); ecancel() })
			}
		}})
		ecancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if d := time.Since(at); d > 2*time.Second {
			t.Errorf("returned %s after cancel", d)
		}
		if rep, out := execute(t, k, "print(2)", kernel.ExecuteOptions{}); rep.Status != "ok" || out != "2\n" {
			t.Errorf("after interrupt: %q %q", rep.Status, out)
		}
	})
	t.Run("restart", func(t *testing.T) {
		execute(t, k, "x = 1", kernel.ExecuteOptions{})
		if err := k.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, out := execute(t, k, "print('x' in globals())", kernel.ExecuteOptions{}); rep.Status != "ok" || out != "False\n" {
			t.Errorf("after restart: %q %q", rep.Status, out)
		}
	})
	t.Run("death", func(t *testing.T) {
		_, err := k.Execute(ctx, "import os; os._exit(1)", kernel.ExecuteOptions{})
		if !errors.Is(err, kernel.ErrKernelDied) {
			t.Fatalf("err %v, want ErrKernelDied", err)
		}
		if err := k.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if rep, out := execute(t, k, "print(3)", kernel.ExecuteOptions{}); rep.Status != "ok" || out != "3\n" {
			t.Errorf("after death and restart: %q %q", rep.Status, out)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		if err := k.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if ids := listKernels(t, c); len(ids) != 0 {
			t.Errorf("kernels still on the server after Shutdown: %v", ids)
		}
		if _, err := k.Execute(ctx, "1", kernel.ExecuteOptions{}); !errors.Is(err, kernel.ErrClosed) {
			t.Errorf("execute after shutdown: %v", err)
		}
	})
}
