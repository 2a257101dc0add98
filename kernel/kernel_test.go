package kernel

import (
	"context"
	"errors"
	"os"
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
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still exists after shutdown (kill 0: %v)", pgid, err)
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

func TestKernelInfo(t *testing.T) {
	k := startKernel(t, StartOptions{})
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

func TestStreams(t *testing.T) {
	k := startKernel(t, StartOptions{})
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
