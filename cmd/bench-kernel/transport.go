package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"trialbook/kernel"
)

// benchTransports compares trialbook's own launches in one run: round trips
// over tcp and ipc (alternating blocks on two kernels), start-to-ready over
// tcp, ipc and ipc in a bubblewrap sandbox (alternating), and what the
// sandbox itself costs next to raw namespaces (unshare(1)) around /bin/true.
func benchTransports(ctx context.Context, spec *kernel.Spec, code string, n, starts int) error {
	fmt.Printf("\ntrialbook's transports and sandbox, same run (%d round trips each, %d starts each):\n", n, starts)
	sbErr := kernel.SandboxCheck(ctx, nil)
	kinds := []struct {
		name string
		opts kernel.StartOptions
	}{
		{"tcp", kernel.StartOptions{Transport: "tcp"}},
		{"ipc", kernel.StartOptions{Transport: "ipc"}},
	}
	if sbErr == nil {
		dir, err := os.MkdirTemp("", "bench-sandbox-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		kinds = append(kinds, struct {
			name string
			opts kernel.StartOptions
		}{"ipc, sandboxed", kernel.StartOptions{Transport: "ipc", Dir: dir, Sandbox: &kernel.Sandbox{Writable: []string{dir}}}})
	}
	startMS := make([][]float64, len(kinds))
	for i := range starts {
		for j := range kinds {
			j = (j + i) % len(kinds) // rotate who goes first
			t0 := time.Now()
			k, err := kernel.Start(ctx, spec, kinds[j].opts)
			if err != nil {
				return fmt.Errorf("%s start: %w", kinds[j].name, err)
			}
			startMS[j] = append(startMS[j], ms(time.Since(t0)))
			if err := k.Shutdown(ctx); err != nil {
				return err
			}
		}
	}
	rtt := make([][]float64, len(kinds))
	ks := make([]*kernel.Kernel, len(kinds))
	for j, kd := range kinds {
		k, err := kernel.Start(ctx, spec, kd.opts)
		if err != nil {
			return fmt.Errorf("%s start: %w", kd.name, err)
		}
		defer k.Shutdown(ctx)
		ks[j] = k
		if _, err := timedTrips(ctx, k, code, 20); err != nil { // warm up
			return err
		}
	}
	const block = 50
	for done := 0; done < n; done += block {
		for j, k := range ks {
			trips, err := timedTrips(ctx, k, code, min(block, n-done))
			if err != nil {
				return fmt.Errorf("%s: %w", kinds[j].name, err)
			}
			for _, t := range trips {
				rtt[j] = append(rtt[j], ms(t.t1.Sub(t.t0)))
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "launch\tstart-to-ready median\tp99\tratio to tcp\tround trip median\tp99\tratio to tcp\t")
	for j, kd := range kinds {
		fmt.Fprintf(w, "%s\t%.1f ms\t%.1f ms\t%.2f\t%.3f ms\t%.3f ms\t%.2f\t\n", kd.name,
			quantile(startMS[j], 0.5), quantile(startMS[j], 0.99), quantile(startMS[j], 0.5)/quantile(startMS[0], 0.5),
			quantile(rtt[j], 0.5), quantile(rtt[j], 0.99), quantile(rtt[j], 0.5)/quantile(rtt[0], 0.5))
	}
	w.Flush()
	if sbErr != nil {
		fmt.Printf("  no sandboxed row: %v\n", sbErr)
		return nil
	}
	return benchNamespaces(ctx, starts*4)
}

// benchNamespaces times /bin/true bare, under unshare(1) with the same
// namespaces (net, pid, ipc, uts, mount) and nothing else, and under bwrap
// as trialbook builds its sandbox: what bubblewrap's mounts cost over the
// namespaces themselves.
func benchNamespaces(ctx context.Context, n int) error {
	truth, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-ns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bwrapArgs := kernel.SandboxArgs(&kernel.Sandbox{}, dir, dir, []string{truth})
	runs := []struct {
		name string
		argv []string
	}{
		{"bare /bin/true", []string{truth}},
		{"unshare -n -p -i -u -m -f (raw namespaces)", []string{"unshare", "-n", "-p", "-i", "-u", "-m", "-f", truth}},
		{"bwrap, trialbook's sandbox", append([]string{bwrap}, bwrapArgs...)},
	}
	took := make([][]float64, len(runs))
	for i := range n {
		for j := range runs {
			j = (j + i) % len(runs)
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, runs[j].argv[0], runs[j].argv[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", runs[j].name, err, out)
			}
			took[j] = append(took[j], ms(time.Since(t0)))
		}
	}
	fmt.Printf("\nwhat a sandbox costs to set up (%d runs each, alternating):\n", n)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "run\tmedian\tp99\tratio to raw namespaces\t")
	for j, r := range runs {
		fmt.Fprintf(w, "%s\t%.2f ms\t%.2f ms\t%.2f\t\n", r.name, quantile(took[j], 0.5), quantile(took[j], 0.99), quantile(took[j], 0.5)/quantile(took[1], 0.5))
	}
	w.Flush()
	return nil
}
