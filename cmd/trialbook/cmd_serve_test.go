package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/bridge"
	"trialbook/journal"
)

// serveClient talks to a running `trialbook serve` as the panel does.
type serveClient struct {
	t     *testing.T
	base  string // http://127.0.0.1:PORT
	token string
}

func (c *serveClient) call(method, path, body string, v any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "token "+c.token)
	req.Header.Set("Origin", "http://localhost:8888")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		c.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestServeEndToEnd is what a user does: start `trialbook serve`, create an
// experiment from the form, start it, watch it over the websocket until it
// finishes, and stop the server — with the real binary, specs.Init, a real
// `trialbook run` child and real kernels.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real experiment; skipped under -short")
	}
	repo := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "trialbook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/trialbook")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	root := t.TempDir()
	runtimeDir := t.TempDir()
	writeServeData(t, filepath.Join(root, "data", "houses.csv"))

	serve := exec.Command(bin, "serve", "--root", root, "--addr", "127.0.0.1:0", "--allow-origin", "http://localhost:8888")
	serve.Dir = repo // as from a terminal in the project: the kernel is found from here
	serve.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir)
	var stderr bytes.Buffer
	serve.Stderr = &stderr
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	// The printed URL, as Jupyter prints its own.
	urlLine := regexp.MustCompile(`^\s+(http://127\.0\.0\.1:(\d+))/\?token=([0-9a-f]{48})$`)
	sc := bufio.NewScanner(stdout)
	var c *serveClient
	var port string
	for sc.Scan() {
		if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
			c, port = &serveClient{t: t, base: m[1], token: m[3]}, m[2]
			break
		}
	}
	if c == nil {
		t.Fatalf("serve printed no URL; stderr: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	rtFile := filepath.Join(runtimeDir, "trialbook", "serve-"+port+".json")
	infos, err := bridge.ReadRuntimeFiles(filepath.Dir(rtFile))
	if err != nil || len(infos) != 1 || infos[0].Token != c.token || infos[0].URL != c.base+"/" || infos[0].Root == "" {
		t.Fatalf("runtime files = %+v, %v", infos, err)
	}
	if st, err := os.Stat(rtFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("runtime file %s: %v", rtFile, err)
	}

	// The form, with a mistake first: the answer names the field.
	form := `{"name":"houses","data":"data/houses.csv","target":"%s","trials":2,"timeBudget":"10m","validation":"kfold","folds":3,"context":"Synthetic houses."}`
	if status := c.call("POST", "/api/experiments", fmt.Sprintf(form, "Price"), nil); status != 400 {
		t.Fatalf("a form with a wrong target: %d, want 400", status)
	}
	if _, err := os.Stat(filepath.Join(root, "houses")); err == nil {
		t.Fatal("a refused form left the folder behind")
	}
	var created bridge.Created
	if status := c.call("POST", "/api/experiments", fmt.Sprintf(form, "price"), &created); status != 201 {
		t.Fatalf("create: %d", status)
	}
	if created.ID != "houses" || !strings.Contains(created.AgentsMD, "`price`") || !strings.Contains(created.AgentsMD, "Synthetic houses.") {
		t.Errorf("created = %+v", created)
	}
	problem, _ := os.ReadFile(filepath.Join(root, "houses", "problem.jsonnet"))
	for _, want := range []string{"trials: 2", `time: "10m"`, "tb.kfold(3)"} {
		if !bytes.Contains(problem, []byte(want)) {
			t.Errorf("problem.jsonnet lacks %q:\n%s", want, problem)
		}
	}

	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(c.base, "http", "ws", 1)+"/api/events?experiment=houses&token="+c.token, http.Header{"Origin": {"http://localhost:8888"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	read := func() bridge.Message {
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Minute))
		var m bridge.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("websocket: %v; run.log:\n%s", err, readRunLog(root))
		}
		return m
	}
	if m := read(); m.Kind != "snapshot" || m.Snapshot.Status != journal.StatusCreated || m.Snapshot.Problem == nil || m.Snapshot.Problem.Target != "price" || m.Snapshot.Counts.Total != 2 {
		t.Fatalf("first message = %+v", m)
	}
	if status := c.call("POST", "/api/experiments/houses/start", "", nil); status != 200 {
		t.Fatalf("start: %d", status)
	}
	var seen []journal.Event
	for {
		m := read()
		if m.Kind != "event" {
			continue
		}
		if len(seen) > 0 && m.Event.Seq != seen[len(seen)-1].Seq+1 {
			t.Fatalf("seq %d after %d", m.Event.Seq, seen[len(seen)-1].Seq)
		}
		seen = append(seen, *m.Event)
		if m.Event.Type == journal.ExperimentFailed {
			t.Fatalf("experiment failed: %s\n%s", m.Event.Reason, readRunLog(root))
		}
		if m.Event.Type == journal.ExperimentFinished {
			break
		}
	}
	// The run goes on after experiment.finished (it writes the report), and
	// the temp folder can only be removed once it has exited: wait for the
	// bridge to say so.
	for {
		m := read()
		if m.Kind == "event" {
			if m.Event.Seq != seen[len(seen)-1].Seq+1 {
				t.Fatalf("seq %d after %d", m.Event.Seq, seen[len(seen)-1].Seq)
			}
			seen = append(seen, *m.Event)
		}
		if m.Kind == "run" {
			if m.Run.Code != 0 {
				t.Fatalf("run exited with %+v\n%s", m.Run, readRunLog(root))
			}
			break
		}
	}
	var v bridge.View
	c.call("GET", "/api/experiments/houses", "", &v)
	fromJournal, err := journal.ReadFile(filepath.Join(root, "houses", journal.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if v.Seq != seen[len(seen)-1].Seq || len(fromJournal) != len(seen) {
		t.Errorf("websocket saw %d events up to seq %d; journal has %d, snapshot seq %d", len(seen), seen[len(seen)-1].Seq, len(fromJournal), v.Seq)
	}
	if v.Status != journal.StatusFinished || v.Counts.Done != 2 || v.Best == nil || v.Best.Score == nil {
		t.Fatalf("finished snapshot: status %s, counts %+v, best %+v", v.Status, v.Counts, v.Best)
	}
	if _, err := os.Stat(filepath.Join(root, "houses", filepath.FromSlash(v.Best.Notebook))); err != nil {
		t.Errorf("best notebook: %v", err)
	}
	var tv bridge.TrialView
	if c.call("GET", fmt.Sprintf("/api/experiments/houses/trials/%d", v.Best.Trial), "", &tv) != 200 || tv.Plan == "" || len(tv.Events) == 0 {
		t.Errorf("best trial view = %+v", tv)
	}

	// Ctrl-C: the server stops and takes its runtime file with it.
	if err := serve.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Errorf("serve exited with %v: %s", err, stderr.String())
	}
	if _, err := os.Stat(rtFile); !os.IsNotExist(err) {
		t.Errorf("runtime file left behind: %v", err)
	}
}

func readRunLog(root string) string {
	b, _ := os.ReadFile(filepath.Join(root, "houses", ".trialbook", "run.log"))
	return string(b)
}

// writeServeData writes a small regression dataset: price from size and
// rooms, plus noise and a categorical column.
func writeServeData(t *testing.T, path string) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("id,size,rooms,area,price\n")
	for i := range 240 {
		size := 40 + r.Float64()*160
		rooms := 1 + r.IntN(6)
		area := []string{"north", "south", "centre"}[r.IntN(3)]
		price := 1500*size + 8000*float64(rooms) + r.NormFloat64()*20000
		if area == "centre" {
			price += 40000
		}
		fmt.Fprintf(&b, "%d,%.1f,%d,%s,%.0f\n", i+1, size, rooms, area, price)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
