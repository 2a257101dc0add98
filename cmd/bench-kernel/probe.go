package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"trialbook/kernel"
)

// probeKernel is the name of the instrumented kernelspec the benchmark
// writes for both clients: the measured kernelspec launched through
// scripts/kernel_probe.py.
const probeKernel = "trialbook-probe"

// split is where round trips' overhead goes, from the instrumented kernel's
// own timestamps.
type split struct {
	Overhead []float64 // round trip minus the kernel's busy-to-idle
	// BeforeBusy and AfterIdle are ipykernel's own part of Overhead: from
	// its shell channel thread starting on the request to dating "busy",
	// and from dating "idle" to its iopub thread having written it.
	BeforeBusy []float64
	AfterIdle  []float64
	Client     []float64 // Overhead minus both: the client and the sockets
}

// probeArgv turns a kernelspec's `python [FLAGS] -m ipykernel_launcher
// ARGS` into `python [FLAGS] PROBE ARGS`. It reports false for any other
// shape of argv.
func probeArgv(argv []string, probe string) ([]string, bool) {
	for i := 1; i+1 < len(argv); i++ {
		if argv[i] == "-m" && argv[i+1] == "ipykernel_launcher" {
			out := append(slices.Clone(argv[:i]), probe)
			return append(out, argv[i+2:]...), true
		}
		if !strings.HasPrefix(argv[i], "-") {
			break // a script or module before any -m
		}
	}
	return nil, false
}

// errNoProbe says the kernel cannot be instrumented; the benchmark prints
// it instead of the split.
var errNoProbe = errors.New("not measurable")

// writeProbeSpec writes the instrumented kernelspec into a new folder laid
// out as a Jupyter path (DIR/kernels/trialbook-probe/kernel.json), for the
// jupyter_client side to find through JUPYTER_PATH.
func writeProbeSpec(spec *kernel.Spec, script string) (dir string, probed *kernel.Spec, err error) {
	abs, err := filepath.Abs(script)
	if err != nil {
		return "", nil, err
	}
	argv, ok := probeArgv(spec.Argv, abs)
	if !ok {
		return "", nil, fmt.Errorf("%w: kernelspec %s does not run `python -m ipykernel_launcher`", errNoProbe, spec.Name)
	}
	dir, err = os.MkdirTemp("", "bench-kernel-")
	if err != nil {
		return "", nil, err
	}
	p := *spec
	p.Name, p.Argv = probeKernel, argv
	p.Dir = filepath.Join(dir, "kernels", probeKernel)
	kj := map[string]any{"argv": p.Argv, "display_name": p.DisplayName + " (probe)", "language": p.Language}
	if p.Env != nil {
		kj["env"] = p.Env
	}
	if p.InterruptMode != "" {
		kj["interrupt_mode"] = p.InterruptMode
	}
	if p.Metadata != nil {
		kj["metadata"] = p.Metadata
	}
	b, err := json.MarshalIndent(kj, "", "  ")
	if err == nil {
		err = os.MkdirAll(p.Dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(p.Dir, "kernel.json"), b, 0o644)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, &p, nil
}

// probeTrialbook runs n round trips of code with trialbook's client on the
// instrumented kernel and splits their overhead.
func probeTrialbook(ctx context.Context, spec *kernel.Spec, code string, n int) (*split, error) {
	k, err := kernel.Start(ctx, spec, kernel.StartOptions{Transport: "tcp"})
	if err != nil {
		return nil, fmt.Errorf("instrumented kernel: %w", err)
	}
	defer k.Shutdown(ctx)

	if ok, err := evalBool(ctx, k, "__import__('builtins')._trialbook_probe is not None"); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: this ipykernel lacks the methods scripts/kernel_probe.py wraps", errNoProbe)
	}
	if _, err := timedTrips(ctx, k, code, 20); err != nil { // warm up
		return nil, err
	}
	if _, err := printed(ctx, k, "__import__('builtins')._trialbook_probe.clear()"); err != nil {
		return nil, err
	}
	trips, err := timedTrips(ctx, k, code, n)
	if err != nil {
		return nil, err
	}
	out, err := printed(ctx, k, "import builtins, json; print(json.dumps(builtins._trialbook_probe))")
	if err != nil {
		return nil, err
	}
	var events [][4]any
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		return nil, fmt.Errorf("instrumented kernel's events: %w", err)
	}
	return splitTrips(trips, byRequest(probeEvents(events)))
}

// probeJupyterClient asks the jupyter_client side for n round trips on the
// instrumented kernel and splits their overhead.
func probeJupyterClient(j *jupyterClient, n int) (*split, error) {
	var answer struct {
		Trips []struct {
			ID   string  `json:"id"`
			T0   float64 `json:"t0"`
			T1   float64 `json:"t1"`
			Busy float64 `json:"busy"`
			Idle float64 `json:"idle"`
		} `json:"trips"`
		Events [][4]any `json:"events"`
		Error  string   `json:"error"`
	}
	if err := j.request(fmt.Sprintf("probe %d %s", n, probeKernel), &answer); err != nil {
		return nil, err
	}
	if answer.Error != "" {
		return nil, fmt.Errorf("jupyter_client side: %s", answer.Error)
	}
	trips := make([]trip, len(answer.Trips))
	for i, t := range answer.Trips {
		trips[i] = trip{t.ID, unixSeconds(t.T0), unixSeconds(t.T1), unixSeconds(t.Busy), unixSeconds(t.Idle)}
	}
	return splitTrips(trips, byRequest(probeEvents(answer.Events)))
}

func unixSeconds(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }

// splitTrips splits each trip's overhead at the kernel's hand-offs for its
// request.
func splitTrips(trips []trip, requests map[string]*requestEvents) (*split, error) {
	s := &split{}
	for i, t := range trips {
		g := requests[t.id]
		if g == nil || g.shellRecv.IsZero() || g.mainRecv.IsZero() || g.idleSent.IsZero() {
			return nil, fmt.Errorf("instrumented kernel: round trip %d (request %s) lacks a hand-off in its events %+v", i, t.id, g)
		}
		over := ms(t.t1.Sub(t.t0)) - ms(t.idle.Sub(t.busy))
		before := ms(t.busy.Sub(g.shellRecv))
		after := ms(g.idleSent.Sub(t.idle))
		s.Overhead = append(s.Overhead, over)
		s.BeforeBusy = append(s.BeforeBusy, before)
		s.AfterIdle = append(s.AfterIdle, after)
		s.Client = append(s.Client, over-before-after)
	}
	return s, nil
}

func evalBool(ctx context.Context, k *kernel.Kernel, expr string) (bool, error) {
	out, err := printed(ctx, k, "print("+expr+")")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) == "True", nil
}

// printed runs code and returns its stdout.
func printed(ctx context.Context, k *kernel.Kernel, code string) (string, error) {
	var out strings.Builder
	rep, err := k.Execute(ctx, code, kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
		if s, ok := m.Content.(*kernel.Stream); ok && s.Name == "stdout" {
			out.WriteString(s.Text)
		}
	}})
	if err != nil {
		return "", err
	}
	if err := rep.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", code, err)
	}
	return out.String(), nil
}

type probeEvent struct {
	name, request, kind string
	at                  time.Time
}

// probeEvents reads scripts/kernel_probe.py's records: [name, seconds since
// the epoch, the request's msg_id, the message's type].
func probeEvents(raw [][4]any) []probeEvent {
	events := make([]probeEvent, 0, len(raw))
	for _, r := range raw {
		name, _ := r[0].(string)
		sec, _ := r[1].(float64)
		request, _ := r[2].(string)
		kind, _ := r[3].(string)
		events = append(events, probeEvent{name, request, kind, unixSeconds(sec)})
	}
	return events
}

// requestEvents are one request's hand-offs inside the kernel.
type requestEvents struct {
	shellRecv time.Time // the shell channel thread starts on it
	mainRecv  time.Time // the main thread starts on it
	idleSent  time.Time // the iopub thread has written its idle
}

// byRequest indexes the kernel's events by the request they belong to.
func byRequest(events []probeEvent) map[string]*requestEvents {
	out := map[string]*requestEvents{}
	for _, e := range events {
		r := out[e.request]
		if r == nil {
			r = &requestEvents{}
			out[e.request] = r
		}
		switch {
		case e.name == "shell_recv":
			r.shellRecv = e.at
		case e.name == "main_recv":
			r.mainRecv = e.at
		case e.name == "iopub_sent" && e.kind == "status:idle":
			r.idleSent = e.at
		}
	}
	return out
}
