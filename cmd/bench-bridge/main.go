// Command bench-bridge measures `trialbook serve` over a generated folder of
// N experiments of M events each (real journals, written through the journal
// package), with K HTTP clients asking for the list, snapshots and trials and
// W websockets following one experiment while it appends events. It prints
// cold and warm list latency, snapshot and trial p50/p99, the time of a
// snapshot's first fold, event-to-websocket latency and the server's RSS, and
// beside them the old path (every request reads and folds the journal, as
// the bridge did before its cache) measured on the same folder in the same
// run, with the ratio.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

type config struct {
	n, m, clients, subs, requests, hot, peerN, peerList int
	dir, bin                                            string
	appendEvery                                         time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 1000, "experiments")
	flag.IntVar(&c.m, "m", 10000, "events per experiment")
	flag.IntVar(&c.clients, "clients", 8, "concurrent HTTP clients")
	flag.IntVar(&c.subs, "subs", 50, "websockets following the experiment that appends")
	flag.IntVar(&c.requests, "requests", 150, "rounds per client (a list, a snapshot and a trial each)")
	flag.IntVar(&c.hot, "hot", 100, "experiments the clients ask about (folded first; the first fold of each is timed)")
	flag.IntVar(&c.peerN, "peer", 6, "snapshot and trial requests on the old path")
	flag.IntVar(&c.peerList, "peer-list", 3, "experiments the old path folds to estimate its cold list")
	flag.StringVar(&c.dir, "dir", ".cache/bench-bridge", "where the generated experiments are kept between runs")
	flag.StringVar(&c.bin, "bin", "bin/trialbook", "the trialbook binary to serve with")
	flag.DurationVar(&c.appendEvery, "append-every", 20*time.Millisecond, "how often the experiment being followed appends an event")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bridge:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	c.hot = min(c.hot, c.n)
	root, err := filepath.Abs(filepath.Join(c.dir, fmt.Sprintf("n%d-m%d", c.n, c.m)))
	if err != nil {
		return err
	}
	trials, size, err := generate(root, c.n, c.m)
	if err != nil {
		return err
	}
	fmt.Printf("bench-bridge: %d experiments × %d events (%d trials each, %.2f GB of journals) under %s\n", c.n, c.m, trials, float64(size)/1e9, root)
	fmt.Printf("%d HTTP clients, %d websockets; load average %s on %d CPUs (a shared machine: other work competes)\n\n", c.clients, c.subs, loadAvg(), runtime.NumCPU())

	srv, err := startServe(c.bin, root)
	if err != nil {
		return err
	}
	defer srv.stop()

	ids := make([]string, c.n)
	for i := range ids {
		ids[i] = expID(i)
	}
	res := results{}

	// The first list after a start: no fold in memory, every summary read.
	t0 := time.Now()
	body, err := srv.get("/api/experiments")
	if err != nil {
		return err
	}
	res.coldList = time.Since(t0)
	var list struct{ Experiments []json.RawMessage }
	if err := json.Unmarshal(body, &list); err != nil || len(list.Experiments) != c.n {
		return fmt.Errorf("cold list: %d experiments (%v), want %d", len(list.Experiments), err, c.n)
	}
	res.rssList = srv.rss()

	// The first snapshot of each hot experiment folds its journal.
	for _, id := range ids[:c.hot] {
		t := time.Now()
		if _, err := srv.get("/api/experiments/" + id); err != nil {
			return err
		}
		res.firstFold = append(res.firstFold, time.Since(t))
	}
	res.rssHot = srv.rss()

	if err := loadPhase(c, srv, ids[:c.hot], trials, &res); err != nil {
		return err
	}
	res.rssEnd, res.rssPeak = srv.rss(), srv.peak()
	srv.stop()

	if err := peer(c, root, ids[:c.hot], trials, &res); err != nil {
		return err
	}
	res.print(c)
	return nil
}

func expID(i int) string { return fmt.Sprintf("exp-%04d", i) }

// generate writes n experiments of m events under root through the journal
// package, unless a previous run did. It returns the trials per experiment
// and the bytes of journal in all.
func generate(root string, n, m int) (trials int, size int64, err error) {
	marker := filepath.Join(root, ".generated")
	if b, err := os.ReadFile(marker); err == nil {
		if _, err := fmt.Sscan(string(b), &trials, &size); err == nil {
			return trials, size, nil
		}
	}
	fmt.Printf("generating %d experiments × %d events under %s (kept for later runs)...\n", n, m, root)
	start := time.Now()
	if err := os.RemoveAll(root); err != nil {
		return 0, 0, err
	}
	events, trials := experimentEvents(m)
	jobs := make(chan int)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				errc <- writeExperiment(filepath.Join(root, expID(i)), expID(i), events)
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return 0, 0, err
		}
	}
	for i := range n {
		fi, err := os.Stat(filepath.Join(root, expID(i), journal.FileName))
		if err != nil {
			return 0, 0, err
		}
		size += fi.Size()
	}
	fmt.Printf("generated in %v\n", time.Since(start).Round(time.Second))
	return trials, size, os.WriteFile(marker, []byte(fmt.Sprintln(trials, size)), 0o644)
}

func writeExperiment(dir, name string, events []journal.Event) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := journal.Open(filepath.Join(dir, journal.FileName))
	if err != nil {
		return err
	}
	p := *events[0].Problem
	p.Name = name
	first := events[0]
	first.Problem = &p
	if _, err := j.AppendAll(append([]journal.Event{first}, events[1:]...)); err != nil {
		j.Close()
		return err
	}
	return j.Close()
}

// experimentEvents is the journal of a long run, as trialbook run writes one:
// each trial proposed with a plan, five cells with output, scored, decided.
func experimentEvents(m int) ([]journal.Event, int) {
	ev := []journal.Event{
		{Type: journal.ExperimentCreated, Agent: "builtin", Problem: &journal.ProblemSummary{Task: "regression", Target: "SalePrice", Metric: "rmse", Direction: "minimize", Validation: "kfold", Trials: 1000, Agent: "builtin"}},
		{Type: journal.ExperimentStarted},
	}
	plan := "Gradient boosting on the log target: median-impute numeric columns, one-hot encode categoricals with fewer than 30 levels, 5-fold CV with early stopping. " + strings.Repeat("Compare with the previous best and keep it only if it improves. ", 3)
	trial, best := 0, 0
	bestCV := 1e9
	for len(ev)+19 <= m {
		trial++
		nb := fmt.Sprintf("trials/%04d-gbm.ipynb", trial)
		title := fmt.Sprintf("GBM variant %d", trial)
		ev = append(ev,
			journal.Event{Type: journal.TrialProposed, Trial: trial, Title: title, Notebook: nb, Plan: plan, Agent: "builtin"},
			journal.Event{Type: journal.TrialStarted, Trial: trial, Notebook: nb, Kernel: "6f1c0d2e"})
		for cell := range 5 {
			ev = append(ev,
				journal.Event{Type: journal.CellStarted, Trial: trial, Cell: &cell, Source: fmt.Sprintf("model = lgb.LGBMRegressor(n_estimators=%d, learning_rate=0.05)\nscores = cross_val(model, X, y)", 200+cell)},
				journal.Event{Type: journal.CellOutput, Trial: trial, Cell: &cell, Text: fmt.Sprintf("fold 1: 0.1%03d\nfold 2: 0.1%03d\nfold 3: 0.1%03d\n[LightGBM] [Info] Total Bins 3611\n", trial%997, cell, trial%389)},
				journal.Event{Type: journal.CellFinished, Trial: trial, Cell: &cell, Duration: journal.Duration(1500 * time.Millisecond)})
		}
		cv := 0.12 + float64((trial*7919)%1000)/20000
		score := &journal.Score{Metric: "rmse", Direction: "minimize", CV: cv, CVStd: 0.004, Folds: []float64{cv - 0.003, cv + 0.002, cv, cv + 0.001, cv - 0.001}}
		ev = append(ev, journal.Event{Type: journal.TrialFinished, Trial: trial, Score: score, Duration: journal.Duration(9 * time.Second)})
		if cv < bestCV {
			bestCV, best = cv, trial
			ev = append(ev, journal.Event{Type: journal.TrialKept, Trial: trial, Score: score, Best: best, Reason: "improves the best CV"})
		} else {
			ev = append(ev, journal.Event{Type: journal.TrialDiscarded, Trial: trial, Score: score, Best: best, Reason: "no better than the best"})
		}
	}
	for len(ev) < m {
		ev = append(ev, journal.Event{Type: journal.KernelRestarted, Kernel: "6f1c0d2e"})
	}
	return ev, trial
}

// server is a `trialbook serve` child process.
type server struct {
	root  string
	cmd   *exec.Cmd
	base  string
	token string
	http  *http.Client
	once  sync.Once
}

func startServe(bin, root string) (*server, error) {
	token := "bench-bridge-token"
	cmd := exec.Command(bin, "serve", "--root", root, "--addr", "127.0.0.1:0", "--token", token)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve (make build first): %w", bin, err)
	}
	s := &server{root: root, cmd: cmd, token: token, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	urlRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+/)\?token=`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			s.base = strings.TrimSuffix(m[1], "/")
			break
		}
	}
	if s.base == "" {
		s.stop()
		return nil, errors.New("trialbook serve printed no URL")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return s, nil
}

func (s *server) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	})
}

func (s *server) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+s.token)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b, err
}

// rss and peak are the server's resident memory now and at most, in bytes.
func (s *server) rss() int64  { return procStatus(s.cmd.Process.Pid, "VmRSS:") }
func (s *server) peak() int64 { return procStatus(s.cmd.Process.Pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

type results struct {
	coldList                time.Duration
	list, snapshot, trial   []time.Duration
	firstFold               []time.Duration
	toWebsocket             []time.Duration
	appended                int
	rssList, rssHot, rssEnd int64
	rssPeak                 int64
	peerSnapshot, peerTrial []time.Duration
	peerFold                []time.Duration
	peerListEstimate        time.Duration
	wsMessages, wsExpected  int
}

// loadPhase runs the clients, the websockets and the appending writer at once.
func loadPhase(c config, srv *server, hot []string, trials int, res *results) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	followed := hot[0]

	// The websockets, each recording when every event reached it.
	type arrival struct {
		seq int64
		at  time.Time
	}
	arrivals := make([][]arrival, c.subs)
	lastSeen := make([]atomic.Int64, c.subs)
	var wsWG sync.WaitGroup
	ready := make(chan error, c.subs)
	u := strings.Replace(srv.base, "http", "ws", 1) + "/api/events?experiment=" + url.QueryEscape(followed) + "&token=" + srv.token
	conns := make([]*websocket.Conn, c.subs)
	for i := range c.subs {
		conn, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			return fmt.Errorf("websocket %d: %w", i, err)
		}
		conns[i] = conn
		wsWG.Add(1)
		go func() {
			defer wsWG.Done()
			first := true
			for {
				_, b, err := conn.ReadMessage()
				at := time.Now()
				if err != nil {
					return
				}
				if first {
					first = false
					ready <- nil
					continue
				}
				var m struct {
					Kind  string
					Event struct{ Seq int64 }
				}
				if json.Unmarshal(b, &m) == nil && m.Kind == "event" {
					arrivals[i] = append(arrivals[i], arrival{m.Event.Seq, at})
					lastSeen[i].Store(m.Event.Seq)
				}
			}
		}()
	}
	for range c.subs {
		<-ready
	}

	// The writer: `trialbook run` appending to the followed experiment.
	j, err := journal.Open(filepath.Join(srv.root, followed, journal.FileName))
	if err != nil {
		return err
	}
	defer j.Close()
	appended := map[int64]time.Time{}
	var appendMu sync.Mutex
	writerDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(c.appendEvery)
		defer tick.Stop()
		cell := 0
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				writerDone <- nil
				return
			case <-tick.C:
			}
			// Timed from the call, as the panel would see it: the write, the
			// fsync and the bridge's share.
			t := time.Now()
			e, err := j.Append(journal.Event{Type: journal.CellOutput, Trial: trials, Cell: &cell, Text: fmt.Sprintf("epoch %d: loss 0.%04d\n", i, 9999-i%9999)})
			if err != nil {
				writerDone <- err
				return
			}
			appendMu.Lock()
			appended[e.Seq] = t
			appendMu.Unlock()
		}
	}()

	// The clients: a list, a snapshot and a trial per round.
	type sample struct {
		kind int
		d    time.Duration
	}
	samples := make([][]sample, c.clients)
	errc := make(chan error, c.clients)
	var wg sync.WaitGroup
	for k := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			for range c.requests {
				paths := []string{
					"/api/experiments",
					"/api/experiments/" + hot[rng.IntN(len(hot))],
					fmt.Sprintf("/api/experiments/%s/trials/%d", hot[rng.IntN(len(hot))], 1+rng.IntN(trials)),
				}
				for kind, p := range paths {
					t := time.Now()
					if _, err := srv.get(p); err != nil {
						errc <- err
						return
					}
					samples[k] = append(samples[k], sample{kind, time.Since(t)})
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	cancel()
	if err := <-writerDone; err != nil {
		return err
	}
	// Let the last events arrive (a bound, not a measurement), then close
	// the websockets.
	last := j.LastSeq()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		behind := 0
		for i := range lastSeen {
			if lastSeen[i].Load() < last {
				behind++
			}
		}
		if behind == 0 {
			break
		}
	}
	for _, conn := range conns {
		conn.Close()
	}
	wsWG.Wait()

	for _, ss := range samples {
		for _, s := range ss {
			switch s.kind {
			case 0:
				res.list = append(res.list, s.d)
			case 1:
				res.snapshot = append(res.snapshot, s.d)
			case 2:
				res.trial = append(res.trial, s.d)
			}
		}
	}
	res.appended = len(appended)
	for _, as := range arrivals {
		for _, a := range as {
			if t, ok := appended[a.seq]; ok {
				res.toWebsocket = append(res.toWebsocket, a.at.Sub(t))
			}
		}
		res.wsMessages += len(as)
	}
	res.wsExpected = len(appended) * c.subs
	return nil
}

// oldFold is what the bridge did for every request before its cache: read
// the whole journal and fold it, the snapshot recomputed after every event.
func oldFold(path string) (journal.Snapshot, []journal.Event, error) {
	events, err := journal.ReadFile(path)
	if err != nil {
		return journal.Snapshot{}, nil, err
	}
	s := journal.NewSnapshot()
	for _, e := range events {
		s.Apply(e)
	}
	return s, events, nil
}

// peer measures the old path in this process, without HTTP (so its numbers
// are a lower bound for the old server), with the same concurrency.
func peer(c config, root string, hot []string, trials int, res *results) error {
	// Its cold list folds every journal: time a few and scale.
	var total time.Duration
	for _, id := range hot[:min(c.peerList, len(hot))] {
		t := time.Now()
		if _, _, err := oldFold(filepath.Join(root, id, journal.FileName)); err != nil {
			return err
		}
		d := time.Since(t)
		res.peerFold = append(res.peerFold, d)
		total += d
	}
	res.peerListEstimate = total / time.Duration(len(res.peerFold)) * time.Duration(c.n)

	var mu sync.Mutex
	jobs := make(chan int)
	errc := make(chan error, c.clients)
	var wg sync.WaitGroup
	for k := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(k), 11))
			for i := range jobs {
				id := hot[rng.IntN(len(hot))]
				t := time.Now()
				snap, events, err := oldFold(filepath.Join(root, id, journal.FileName))
				if err != nil {
					errc <- err
					return
				}
				if i%2 == 0 {
					_, err = json.Marshal(snap)
				} else {
					n := 1 + rng.IntN(trials)
					var mine []journal.Event
					for _, e := range events {
						if e.Trial == n {
							mine = append(mine, e)
						}
					}
					row, _ := snap.Trial(n)
					_, err = json.Marshal(struct {
						journal.TrialRow
						Events []journal.Event
					}{row, mine})
				}
				d := time.Since(t)
				mu.Lock()
				if i%2 == 0 {
					res.peerSnapshot = append(res.peerSnapshot, d)
				} else {
					res.peerTrial = append(res.peerTrial, d)
				}
				mu.Unlock()
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := range 2 * c.peerN {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errc)
	return <-errc
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func fmtD(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
}

func ratio(peer, cached time.Duration) string {
	if cached <= 0 || peer <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0fx", float64(peer)/float64(cached))
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func (r *results) print(c config) {
	row := func(what, cached, old, ratio, target string) {
		fmt.Printf("%-44s %-22s %-24s %-8s %s\n", what, cached, old, ratio, target)
	}
	pair := func(d []time.Duration) string { return fmtD(pct(d, 50)) + " / " + fmtD(pct(d, 99)) }
	row("", "serve (cached)", "old path (peer)", "old/new", "target")
	row("list, cold (first after start)", fmtD(r.coldList), "~"+fmtD(r.peerListEstimate)+fmt.Sprintf(" (est. from %d)", len(r.peerFold)), ratio(r.peerListEstimate, r.coldList), "< 1 s")
	row(fmt.Sprintf("list p50 / p99 (%d)", len(r.list)), pair(r.list), "—", "", "p99 < 50 ms")
	row(fmt.Sprintf("snapshot p50 / p99 (%d; old %d)", len(r.snapshot), len(r.peerSnapshot)), pair(r.snapshot), pair(r.peerSnapshot), ratio(pct(r.peerSnapshot, 99), pct(r.snapshot, 99)), "p99 < 10 ms")
	row(fmt.Sprintf("trial p50 / p99 (%d; old %d)", len(r.trial), len(r.peerTrial)), pair(r.trial), pair(r.peerTrial), ratio(pct(r.peerTrial, 99), pct(r.trial, 99)), "p99 < 10 ms")
	row(fmt.Sprintf("first snapshot (a fold of %d events) p50 / max", c.m), fmtD(pct(r.firstFold, 50))+" / "+fmtD(pct(r.firstFold, 100)), fmtD(pct(r.peerFold, 50))+" / "+fmtD(pct(r.peerFold, 100)), ratio(pct(r.peerFold, 50), pct(r.firstFold, 50)), "(once per experiment)")
	row(fmt.Sprintf("append → websocket p50 / p99 (%d subs)", c.subs), pair(r.toWebsocket), "—", "", "p99 < 20 ms")
	fmt.Printf("    %d events appended during the run, %d of %d deliveries seen\n", r.appended, r.wsMessages, r.wsExpected)
	row("serve RSS after the cold list", mb(r.rssList), "", "", fmt.Sprintf("(%d summaries, no folds)", c.n))
	row(fmt.Sprintf("serve RSS with %d folds", c.hot), mb(r.rssHot), "", "", fmt.Sprintf("(≈ %s per fold)", mb((r.rssHot-r.rssList)/int64(max(c.hot, 1)))))
	row("serve RSS at the end / peak", mb(r.rssEnd)+" / "+mb(r.rssPeak), "", "", "< 500 MB")
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
