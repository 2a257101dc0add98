package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reserved ports are distinct even when many are taken at once, and stay
// out of the OS's hands until released.
func TestReservePortsDistinct(t *testing.T) {
	const kernels = 40
	var (
		mu   sync.Mutex
		seen = map[int]bool{}
		all  []*portReservation
		wg   sync.WaitGroup
	)
	for range kernels {
		wg.Go(func() {
			r, err := reservePorts("127.0.0.1", 5)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, r)
			for _, p := range r.ports {
				if seen[p] {
					t.Errorf("port %d reserved twice", p)
				}
				seen[p] = true
			}
		})
	}
	wg.Wait()
	for _, r := range all {
		r.release()
	}
	if len(seen) != 5*kernels {
		t.Errorf("%d distinct ports, want %d", len(seen), 5*kernels)
	}
}

// ZeroMQ (libzmq, through pyzmq) can bind a port while we hold it reserved,
// which is what lets a kernel take the ports we chose for it.
func TestReservedPortBindableByZeroMQ(t *testing.T) {
	if testing.Short() {
		t.Skip("needs pyzmq from the repository's .venv")
	}
	py := filepath.Join(repoVenv(t), "bin", "python")
	r, err := reservePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.release()
	code := "import sys, zmq; s = zmq.Context().socket(zmq.ROUTER); s.bind('tcp://127.0.0.1:' + sys.argv[1]); print('bound')"
	out, err := exec.Command(py, "-c", code, strconv.Itoa(r.ports[0])).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "bound" {
		t.Fatalf("pyzmq could not bind reserved port %d: %v\n%s", r.ports[0], err, out)
	}
}

// Header dates we write are parsed by jupyter_client, as kernels do.
func TestDatesParseInPython(t *testing.T) {
	if testing.Short() {
		t.Skip("needs jupyter_client from the repository's .venv")
	}
	py := filepath.Join(repoVenv(t), "bin", "python")
	h, _ := (Header{MsgID: "a", MsgType: "status", Date: time.Now()}).MarshalJSON()
	code := "import sys, json; from jupyter_client.session import extract_dates; from datetime import datetime; " +
		"d = extract_dates(json.loads(sys.argv[1]))['date']; assert isinstance(d, datetime) and d.tzinfo is not None, d; print('ok')"
	out, err := exec.Command(py, "-c", code, string(h)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python did not parse %s: %v\n%s", h, err, out)
	}
}

func TestConnectionFileRoundTrip(t *testing.T) {
	c, r, err := newConnection("tcp", "127.0.0.1", "", "python3")
	if err != nil {
		t.Fatal(err)
	}
	r.release()
	path := filepath.Join(t.TempDir(), "kernel-x.json")
	if err := writeConnectionFile(path, c); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("connection file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := ReadConnectionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("read %+v, want %+v", got, c)
	}
	os.WriteFile(path, []byte(`{"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 0, "ip": "127.0.0.1", "key": "k"}`), 0o600)
	if _, err := ReadConnectionFile(path); err == nil || !strings.Contains(err.Error(), "hb_port") {
		t.Errorf("missing hb_port: err %v, want it named", err)
	}
}
