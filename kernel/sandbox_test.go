package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sandboxSpec is testSpec for the sandbox tests: a host that cannot sandbox
// fails them (with the reason), it never skips them.
func sandboxSpec(t *testing.T) *Spec {
	t.Helper()
	s := testSpec(t)
	if err := SandboxCheck(context.Background(), nil); err != nil {
		t.Fatalf("this host cannot sandbox a kernel, so the sandbox tests fail rather than skip: %v", err)
	}
	return s
}

// sandboxExperiment lays out an experiment folder as lab does: data/ (the
// view), trials/001 (this trial's), trials/002 (another trial's),
// .trialbook/labels.json (the sealed labels).
func sandboxExperiment(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"data/train.csv":           "a,y\n1,2\n",
		"trials/002/oof.npy":       "another trial's",
		".trialbook/labels.json":   `{"labels":[42]}`,
		"problem.jsonnet":          "{}",
		"trials/001-x.ipynb":       "{}",
		"trials/001/.keep":         "",
		"journal.jsonl":            "",
		".trialbook/journal.lock":  "",
		"data/view.json":           "{}",
		"trials/002-other.ipynb":   "{}",
		"report.ipynb":             "{}",
		"AGENTS.md":                "# agents",
		".trialbook/predict/x.csv": "x",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startSandboxed(t *testing.T, spec *Spec, exp string, lim Limits) *Kernel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	k, err := Start(ctx, spec, StartOptions{
		Dir:     exp,
		Sandbox: &Sandbox{ReadOnly: []string{filepath.Join(exp, "data")}, Writable: []string{filepath.Join(exp, "trials", "001")}},
		Limits:  lim,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = k.Shutdown(ctx)
	})
	return k
}

// run executes code and returns what it printed; a Python exception fails
// the test.
func runCell(t *testing.T, k *Kernel, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	reply, err := k.Execute(ctx, code, ExecuteOptions{OnMessage: func(m *Message) {
		if s, ok := m.Content.(*Stream); ok {
			out.WriteString(s.Text)
		}
	}})
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	if err := reply.Err(); err != nil {
		t.Fatalf("the cell raised %v; printed: %s", err, out.String())
	}
	return out.String()
}

// Each subtest is an attack a trial cell would try; each must fail inside
// the sandbox, and the same cell is shown to work outside it where that
// proves the attack is real.
func TestSandboxAttacks(t *testing.T) {
	spec := sandboxSpec(t)
	exp := sandboxExperiment(t)
	// A service on the host's loopback: a database, the Jupyter Server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("secret banner\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	t.Setenv("OPENAI_API_KEY", "sk-planted-by-the-sandbox-test")
	t.Setenv("TRIALBOOK_TEST_TOKEN", "planted-token")
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	homeFile := filepath.Join(home, fmt.Sprintf(".trialbook-sandbox-test-%d", os.Getpid()))
	t.Cleanup(func() { os.Remove(homeFile) })
	homeSecret := filepath.Join(home, fmt.Sprintf(".trialbook-sandbox-secret-%d", os.Getpid()))
	if err := os.WriteFile(homeSecret, []byte("ssh key"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(homeSecret) })
	if err := os.WriteFile(filepath.Join(filepath.Dir(exp), "beside.txt"), []byte("another experiment"), 0o644); err != nil {
		t.Fatal(err)
	}

	k := startSandboxed(t, spec, exp, Limits{})

	t.Run("connect to a host loopback service", func(t *testing.T) {
		code := fmt.Sprintf(`import socket
try:
    s = socket.create_connection(("127.0.0.1", %d), timeout=5)
    print("CONNECTED", s.recv(100))
except OSError as e:
    print("refused:", type(e).__name__, e)`, port)
		got := runCell(t, k, code)
		if !strings.Contains(got, "refused: ConnectionRefusedError") {
			t.Fatalf("connecting to the host's 127.0.0.1:%d printed %q, want ConnectionRefusedError", port, got)
		}
	})
	t.Run("resolve and fetch an outside name", func(t *testing.T) {
		got := runCell(t, k, `import socket, urllib.request
try:
    print("RESOLVED", socket.getaddrinfo("pypi.org", 443))
except OSError as e:
    print("no resolve:", type(e).__name__)
try:
    urllib.request.urlopen("https://pypi.org/simple/", timeout=5)
    print("FETCHED")
except Exception as e:
    print("no fetch:", type(e).__name__)
try:
    socket.create_connection(("151.101.0.223", 443), timeout=5)
    print("CONNECTED BY ADDRESS")
except OSError as e:
    print("no route:", type(e).__name__)`)
		for _, bad := range []string{"RESOLVED", "FETCHED", "CONNECTED"} {
			if strings.Contains(got, bad) {
				t.Fatalf("the sandbox reached the network: %s", got)
			}
		}
		for _, want := range []string{"no resolve:", "no fetch:", "no route:"} {
			if !strings.Contains(got, want) {
				t.Fatalf("printed %q, want %q", got, want)
			}
		}
	})
	t.Run("read the sealed labels and walk the experiment", func(t *testing.T) {
		got := runCell(t, k, `import os
try:
    print("LABELS", open(".trialbook/labels.json").read())
except OSError as e:
    print("labels:", type(e).__name__)
seen = []
for root, dirs, files in os.walk("."):
    seen += [os.path.join(root, f) for f in files]
print("FILES", sorted(seen))
print("CWD", os.getcwd())`)
		if !strings.Contains(got, "labels: FileNotFoundError") || strings.Contains(got, "LABELS") {
			t.Fatalf("reading the labels printed %q, want FileNotFoundError", got)
		}
		files := got[strings.Index(got, "FILES"):strings.Index(got, "CWD")]
		for _, hidden := range []string{"labels", "journal", "problem", "AGENTS", "report", "002", ".ipynb", "predict"} {
			if strings.Contains(files, hidden) {
				t.Fatalf("the walk saw %q: %s", hidden, got)
			}
		}
		for _, want := range []string{"./data/train.csv", "./trials/001/.keep", "CWD " + exp} {
			if !strings.Contains(got, want) {
				t.Fatalf("the walk printed %q, want %q in it", got, want)
			}
		}
	})
	t.Run("write outside the trial folder", func(t *testing.T) {
		code := fmt.Sprintf(`import os
for p in [%q, "trials/002/oof.npy", "trials/003/x", "data/train.csv", "data/new.csv", "x.txt", ".trialbook/labels.json", %q]:
    try:
        with open(p, "w") as f:
            f.write("pwned")
        print("WROTE", p)
    except OSError as e:
        print("refused", p, type(e).__name__)
open("trials/001/ok.txt", "w").write("mine")
open("/tmp/scratch", "w").write("private tmp")
print("own folder and tmp ok")`, homeFile, filepath.Join(exp, "trials", "002", "more"))
		got := runCell(t, k, code)
		if strings.Contains(got, "WROTE") || !strings.Contains(got, "own folder and tmp ok") {
			t.Fatalf("writes printed %q", got)
		}
		if _, err := os.Stat(homeFile); err == nil {
			t.Fatalf("the kernel wrote %s in the home directory", homeFile)
		}
		for name, want := range map[string]string{"trials/002/oof.npy": "another trial's", "data/train.csv": "a,y\n1,2\n", ".trialbook/labels.json": `{"labels":[42]}`, "trials/001/ok.txt": "mine"} {
			b, err := os.ReadFile(filepath.Join(exp, name))
			if err != nil || string(b) != want {
				t.Errorf("%s on the host: %q, %v; want %q", name, b, err, want)
			}
		}
		for _, name := range []string{"trials/003", "x.txt", "data/new.csv"} {
			if _, err := os.Stat(filepath.Join(exp, name)); err == nil {
				t.Errorf("the kernel created %s on the host", name)
			}
		}
	})
	t.Run("read planted secrets from the environment", func(t *testing.T) {
		got := runCell(t, k, `import os
print("KEY", os.environ.get("OPENAI_API_KEY"))
print("ENV", sorted(os.environ))
print("VALUES", [v for v in os.environ.values() if "planted" in v])`)
		if !strings.Contains(got, "KEY None") || !strings.Contains(got, "VALUES []") || strings.Contains(got, "TOKEN") {
			t.Fatalf("the environment printed %q", got)
		}
	})
	t.Run("read the home directory and the project", func(t *testing.T) {
		code := fmt.Sprintf(`import os
for p in [%q, %q, "/etc/shadow"]:
    try:
        print("READ", p, open(p).read())
    except OSError as e:
        print("hidden", p, type(e).__name__)
print("HOME", sorted(os.listdir(%q)) if os.path.isdir(%q) else None)
print("ABOVE", sorted(os.listdir(%q)))`, homeSecret, filepath.Join(filepath.Dir(exp), "beside.txt"), home, home, filepath.Dir(exp))
		got := runCell(t, k, code)
		if strings.Contains(got, "READ") {
			t.Fatalf("printed %q", got)
		}
		// Folders above a bound path show, empty but for the way to it
		// (the Python of .venv may live in the home directory).
		lists := got[strings.Index(got, "HOME"):]
		if strings.Contains(lists, filepath.Base(homeSecret)) || strings.Contains(lists, "beside.txt") {
			t.Fatalf("printed %q", got)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := k.Execute(ctx, "import time; time.sleep(60)", ExecuteOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("execute past its deadline: %v", err)
		}
		if got := runCell(t, k, "print(1 + 1)"); strings.TrimSpace(got) != "2" {
			t.Fatalf("after the interrupt the kernel printed %q", got)
		}
	})
}

// The same cells outside the sandbox do reach what the sandbox hides, so
// the attacks above are real ones.
func TestSandboxAttacksWorkUnsandboxed(t *testing.T) {
	spec := testSpec(t)
	exp := sandboxExperiment(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := Start(ctx, spec, StartOptions{Dir: exp})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Shutdown(context.Background())
	got := runCell(t, k, fmt.Sprintf(`import socket
socket.create_connection(("127.0.0.1", %d), timeout=5).close()
print("LABELS", open(".trialbook/labels.json").read())`, ln.Addr().(*net.TCPAddr).Port))
	if !strings.Contains(got, "LABELS") {
		t.Fatalf("printed %q", got)
	}
}

func TestSandboxMemoryCap(t *testing.T) {
	spec := sandboxSpec(t)
	exp := sandboxExperiment(t)
	const capBytes = 300 << 20
	how, err := LimitsCheck(Limits{Memory: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	k := startSandboxed(t, spec, exp, Limits{Memory: capBytes})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// bytes filled with ones touch every page: a cap on resident memory
	// sees all of it.
	reply, err := k.Execute(ctx, "b = b'1' * (1 << 30)\nprint(len(b))", ExecuteOptions{})
	switch {
	case strings.Contains(how, "cgroup"):
		if !errors.Is(err, ErrKernelDied) {
			t.Fatalf("allocating 1 GiB past a %s cap (%s): %v, %v; want the kernel killed", mib(capBytes), how, reply, err)
		}
		var le *LimitError
		if hit := k.LimitHit(); hit == nil || hit.Resource != "memory" || !hit.Killed {
			t.Fatalf("LimitHit: %v, want the memory cap", hit)
		}
		if !errors.As(k.Err(), &le) {
			t.Logf("Err does not name the cap (the heartbeat saw it die first): %v", k.Err())
		}
	default:
		if err != nil || reply.Err() == nil || !strings.Contains(reply.Err().Error(), "MemoryError") {
			t.Fatalf("allocating 1 GiB past a %s cap (%s): %v, %v; want MemoryError", mib(capBytes), how, reply, err)
		}
	}
}

func TestSandboxForkBomb(t *testing.T) {
	spec := sandboxSpec(t)
	exp := sandboxExperiment(t)
	const procs = 48
	if _, err := LimitsCheck(Limits{Processes: procs}); err != nil {
		t.Fatal(err)
	}
	k := startSandboxed(t, spec, exp, Limits{Processes: procs})
	got := runCell(t, k, `import os, time
children, err = [], None
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError as e:
    err = e
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print("FORKED", len(children), type(err).__name__)`)
	var n int
	var ename string
	if _, err := fmt.Sscanf(got[strings.Index(got, "FORKED"):], "FORKED %d %s", &n, &ename); err != nil {
		t.Fatalf("printed %q: %v", got, err)
	}
	if n >= procs || ename != "BlockingIOError" {
		t.Fatalf("the fork bomb forked %d children and ended with %s; want fewer than %d and BlockingIOError", n, ename, procs)
	}
	if hit := k.LimitHit(); hit == nil || hit.Resource != "processes" {
		t.Fatalf("LimitHit: %v, want the process cap", hit)
	}
	// The kernel itself carries on.
	if got := runCell(t, k, "print(6 * 7)"); strings.TrimSpace(got) != "42" {
		t.Fatalf("after the fork bomb the kernel printed %q", got)
	}
}
