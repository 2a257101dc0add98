package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"trialbook/kernel"
)

// split is where one round trip's overhead goes, from an instrumented
// launch of the same kernelspec (scripts/kernel_probe.py).
type split struct {
	Overhead []float64 // round trip minus the kernel's busy-to-idle
	// Dispatch is ipykernel's own part of Overhead: from its shell channel
	// thread starting on the request to dating "busy", plus from dating
	// "idle" to its iopub thread having written it.
	BeforeBusy []float64
	AfterIdle  []float64
	Client     []float64 // Overhead minus both: client and transport
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

// probeSplit runs n round trips of code on the instrumented kernel and
// splits each one's overhead.
func probeSplit(ctx context.Context, spec *kernel.Spec, script, code string, n int) (*split, error) {
	abs, err := filepath.Abs(script)
	if err != nil {
		return nil, err
	}
	argv, ok := probeArgv(spec.Argv, abs)
	if !ok {
		return nil, fmt.Errorf("%w: kernelspec %s does not run `python -m ipykernel_launcher`", errNoProbe, spec.Name)
	}
	probed := *spec
	probed.Argv = argv
	k, err := kernel.Start(ctx, &probed, kernel.StartOptions{})
	if err != nil {
		return nil, fmt.Errorf("instrumented kernel: %w", err)
	}
	defer k.Shutdown(ctx)

	if ok, err := evalBool(ctx, k, "__import__('builtins')._trialbook_probe is not None"); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: this ipykernel lacks the methods %s wraps", errNoProbe, script)
	}
	var warm samples
	if err := roundTrips(ctx, k, code, 20, &warm); err != nil {
		return nil, err
	}
	type trip struct {
		id                 string
		t0, t1, busy, idle time.Time
	}
	trips := make([]trip, 0, n)
	var busy, idle time.Time
	var id string
	opts := kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
		if st, ok := m.Content.(*kernel.Status); ok {
			switch st.ExecutionState {
			case "busy":
				busy, id = m.Header.Date, m.ParentID()
			case "idle":
				idle = m.Header.Date
			}
		}
	}}
	if _, err := k.Execute(ctx, "__import__('builtins')._trialbook_probe.clear()", kernel.ExecuteOptions{}); err != nil {
		return nil, err
	}
	for range n {
		t0 := time.Now()
		rep, err := k.Execute(ctx, code, opts)
		t1 := time.Now()
		if err != nil {
			return nil, err
		}
		if rep.Status != "ok" {
			return nil, fmt.Errorf("execute %q: %s", code, rep.Status)
		}
		trips = append(trips, trip{id, t0, t1, busy, idle})
	}
	events, err := probeEvents(ctx, k)
	if err != nil {
		return nil, err
	}
	requests := byRequest(events)
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

func probeEvents(ctx context.Context, k *kernel.Kernel) ([]probeEvent, error) {
	out, err := printed(ctx, k, "import builtins, json; print(json.dumps(builtins._trialbook_probe))")
	if err != nil {
		return nil, err
	}
	var raw [][4]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("instrumented kernel's events: %w", err)
	}
	events := make([]probeEvent, 0, len(raw))
	for _, r := range raw {
		name, _ := r[0].(string)
		sec, _ := r[1].(float64)
		request, _ := r[2].(string)
		kind, _ := r[3].(string)
		events = append(events, probeEvent{name, request, kind, time.Unix(0, int64(sec*1e9))})
	}
	return events, nil
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
