// Command bench-runner times trialbook's notebook runner against nbclient
// and papermill (make bench-runner):
//
//	(a) a 1000-cell trivial notebook,
//	(b) a realistic 25-cell modelling notebook on ../shared/data/house-prices/train.csv,
//	(c) trial start to first cell running, with a kernel from a warm pool
//	    versus a cold start.
//
// (a) and (b) run each tool as a user would, end to end (kernel start
// included): `trialbook nb run`, nbclient (runner/testdata/nb_nbclient.py)
// and the papermill CLI. Wall time is the best of -runs runs; peak memory is
// the driver process's own peak RSS (VmHWM, sampled from /proc), the kernel
// excluded since all three run the same ipykernel.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
	"trialbook/runner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-runner:", err)
		os.Exit(1)
	}
}

type tool struct {
	name string
	argv func(in, out string) []string
}

type result struct {
	wall time.Duration
	rss  int64         // KiB
	cpu  time.Duration // the driver's own user+system CPU, kernel excluded
}

func run() error {
	runs := flag.Int("runs", 2, "runs per tool and notebook; the best wall time is reported")
	only := flag.String("only", "abc", "which benchmarks to run: any of a, b, c")
	flag.Parse()

	root, err := repoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin", "trialbook")
	py := filepath.Join(root, ".venv", "bin", "python")
	papermill := filepath.Join(root, ".venv", "bin", "papermill")
	for _, p := range []string{bin, py, papermill} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing; run `make setup` first", p)
		}
	}
	nbclientScript := filepath.Join(root, "runner", "testdata", "nb_nbclient.py")
	tools := []tool{
		{"trialbook", func(in, out string) []string { return []string{bin, "nb", "run", in, "-o", out} }},
		{"nbclient", func(in, out string) []string { return []string{py, nbclientScript, "execute", in, out} }},
		{"papermill", func(in, out string) []string {
			return []string{papermill, "--kernel", "python3", "--no-progress-bar", "--log-level", "ERROR", in, out}
		}},
	}
	dir, err := os.MkdirTemp("", "bench-runner-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("bench-runner: best of %d runs (papermill: 1 run), end to end including kernel start.\n", *runs)
	fmt.Printf("driver CPU and RSS are the driving process's own (the ipykernel, the same for all three, excluded); tb = trialbook\n\n")
	fmt.Printf("%-26s %-10s %9s %11s %11s %9s %9s %9s\n", "notebook", "tool", "wall", "driver CPU", "driver RSS", "wall/tb", "CPU/tb", "RSS/tb")

	if strings.Contains(*only, "a") {
		nb := ipynb.New()
		nb.Metadata["kernelspec"] = map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}
		for i := range 1000 {
			nb.Cells = append(nb.Cells, ipynb.NewCodeCell(fmt.Sprintf("x = %d\nx", i)))
		}
		if err := bench(dir, "(a) 1000 trivial cells", nb, tools, *runs); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "b") {
		data := filepath.Join(filepath.Dir(root), "shared", "data", "house-prices", "train.csv")
		if _, err := os.Stat(data); err != nil {
			fmt.Printf("%-26s skipped: %s is missing (the shared datasets are not on this machine)\n", "(b) 25-cell modelling", data)
		} else if err := bench(dir, "(b) 25-cell modelling", modellingNotebook(data), tools, *runs); err != nil {
			return err
		}
	}
	if strings.Contains(*only, "c") {
		if err := benchStart(root, dir, max(*runs, 5)); err != nil {
			return err
		}
	}
	return nil
}

func bench(dir, label string, nb *ipynb.Notebook, tools []tool, runs int) error {
	in := filepath.Join(dir, strings.Fields(label)[0][1:2]+".ipynb")
	if err := nb.WriteFile(in); err != nil {
		return err
	}
	results := map[string]result{}
	for r := range runs {
		// Alternate the order so that no tool always runs on a warmer machine.
		order := slices.Clone(tools)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			if t.name == "papermill" && r > 0 {
				continue // one run: papermill takes minutes on (a)
			}
			out := filepath.Join(dir, t.name+"-out.ipynb")
			res, err := measure(t.argv(in, out))
			if err != nil {
				return fmt.Errorf("%s on %s: %w", t.name, label, err)
			}
			if err := checkExecuted(out, nb); err != nil {
				return fmt.Errorf("%s on %s: %w", t.name, label, err)
			}
			best, ok := results[t.name]
			if !ok || res.wall < best.wall {
				best.wall = res.wall
			}
			if !ok || res.cpu < best.cpu {
				best.cpu = res.cpu
			}
			best.rss = max(best.rss, res.rss)
			results[t.name] = best
		}
	}
	base := results["trialbook"]
	for _, t := range tools {
		r := results[t.name]
		fmt.Printf("%-26s %-10s %8.2fs %10.2fs %8.1f MB %8.2fx %8.2fx %8.2fx\n", label, t.name, r.wall.Seconds(), r.cpu.Seconds(), float64(r.rss)/1024,
			r.wall.Seconds()/base.wall.Seconds(), r.cpu.Seconds()/base.cpu.Seconds(), float64(r.rss)/float64(base.rss))
	}
	return nil
}

// checkExecuted makes sure a tool really ran every code cell.
func checkExecuted(path string, in *ipynb.Notebook) error {
	nb, err := ipynb.ReadFile(path)
	if err != nil {
		return err
	}
	want, got := 0, 0
	for _, c := range in.Cells {
		if c.CellType == ipynb.CodeCell {
			want++
		}
	}
	for _, c := range nb.Cells {
		if c.CellType == ipynb.CodeCell && c.ExecutionCount != nil {
			got++
		}
	}
	if got < want {
		return fmt.Errorf("only %d of %d code cells executed", got, want)
	}
	return nil
}

// measure runs argv and samples its peak RSS (VmHWM) until it exits.
func measure(argv []string) (result, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	stat := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	var hwm int64
	var cpu time.Duration
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			wall := time.Since(start)
			if err != nil {
				return result{}, fmt.Errorf("%v\n%s", err, tail(stderr.String(), 2000))
			}
			return result{wall: wall, rss: hwm, cpu: cpu}, nil
		case <-tick.C:
			if v := readHWM(status); v > hwm {
				hwm = v
			}
			if v := readCPU(stat); v > cpu {
				cpu = v
			}
		}
	}
}

func readHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// readCPU is the process's own utime+stime from /proc/PID/stat (children
// not included), in clock ticks of 10 ms.
func readCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// benchStart times (c): from the moment a trial starts (it asks for a
// kernel) to the first output of its first cell, with a kernel from a warm
// pool and with a cold start.
func benchStart(root, dir string, runs int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	spec, err := kernel.FindSpec("python3", kernel.SearchOptions{Prefix: filepath.Join(root, ".venv")})
	if err != nil {
		return err
	}
	opts := kernel.StartOptions{Dir: dir}
	pool := kernel.NewPool(ctx, spec, 1, opts)
	defer pool.Close(context.Background())
	// The first Get waits for the pool's first kernel; not measured.
	k, err := pool.Get(ctx)
	if err != nil {
		return err
	}
	_ = k.Shutdown(ctx)

	var cold, warm []time.Duration
	for i := range runs {
		// A cold start first: it also gives the pool the time a start takes
		// to have its replacement ready, as it has between trials.
		start := time.Now()
		k, err := kernel.Start(ctx, spec, opts)
		if err != nil {
			return err
		}
		d, err := firstCell(ctx, k, start, filepath.Join(dir, fmt.Sprintf("cold-%d.ipynb", i)))
		_ = k.Shutdown(ctx)
		if err != nil {
			return err
		}
		cold = append(cold, d)

		start = time.Now()
		k, err = pool.Get(ctx)
		if err != nil {
			return err
		}
		d, err = firstCell(ctx, k, start, filepath.Join(dir, fmt.Sprintf("warm-%d.ipynb", i)))
		_ = k.Shutdown(ctx)
		if err != nil {
			return err
		}
		warm = append(warm, d)
	}
	slices.Sort(cold)
	slices.Sort(warm)
	med := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	fmt.Printf("\n(c) trial start to first cell running (first output of its first cell), %d trials, trial saved to disk:\n", runs)
	fmt.Printf("    warm pool: median %6.1f ms  (min %.1f, max %.1f)   target < 50 ms\n", ms(med(warm)), ms(warm[0]), ms(warm[len(warm)-1]))
	fmt.Printf("    cold start: median %6.1f ms  (min %.1f, max %.1f)   ratio cold/warm %.0fx\n", ms(med(cold)), ms(cold[0]), ms(cold[len(cold)-1]), ms(med(cold))/ms(med(warm)))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var errFirstOutput = errors.New("first output seen")

func firstCell(ctx context.Context, k *kernel.Kernel, start time.Time, path string) (time.Duration, error) {
	nb := ipynb.New()
	nb.Cells = []*ipynb.Cell{ipynb.NewCodeCell("print('first cell running')"), ipynb.NewCodeCell("1 + 1")}
	var first time.Duration
	err := runner.Run(ctx, k, nb, runner.Options{
		Path: path,
		Observer: runner.Funcs{OnOutput: func(i int, _ *ipynb.Cell, _ *ipynb.Output) {
			if first == 0 {
				first = time.Since(start)
			}
		}},
	})
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, errors.New("the first cell printed nothing")
	}
	return first, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in this directory or above; run from the repository")
		}
		dir = parent
	}
}
