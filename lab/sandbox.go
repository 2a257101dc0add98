package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"trialbook/kernel"
	"trialbook/specs"
)

// Default caps of a trial kernel when the problem sets none.
const defaultProcesses = 1024

// defaultMemory is 3/4 of the machine's memory: one runaway trial then
// leaves the machine (and trialbook) room to carry on.
func defaultMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit) / 4 * 3
}

// ErrSandboxRequired is wrapped by Confine when the problem requires a
// sandbox that the host cannot provide.
var ErrSandboxRequired = errors.New("the problem requires a sandbox (kernel: tb.kernel(sandbox='required'))")

// Confine finds out how trial kernels will be confined on this host for p
// (sandboxed or not, and why; the memory and process caps in force) and
// records it in p.Kernel.InForce, from which AGENTS.md tells agents the
// truth about their kernel. Call it before rendering AGENTS.md; Run calls
// it when nobody has. With sandbox 'required' a host that cannot sandbox
// (or enforce a cap) is an error wrapping ErrSandboxRequired.
func Confine(ctx context.Context, p *specs.Problem) (*specs.Confinement, error) {
	k := p.Kernel
	c := &specs.Confinement{}
	required := k.Sandbox == specs.SandboxRequired
	switch {
	case k.Sandbox == specs.SandboxOff:
		c.Why = "sandbox is off in the problem (kernel: tb.kernel(sandbox='off'))"
	case k.Transport == "tcp":
		c.Why = "the problem's kernel transport is tcp, which cannot reach a kernel without a network; use transport='ipc' to sandbox"
	default:
		if err := kernel.SandboxCheck(ctx, nil); err != nil {
			if required {
				return nil, fmt.Errorf("%s: %w: %v", p.File, ErrSandboxRequired, err)
			}
			c.Why = "this host cannot sandbox kernels: " + strings.TrimPrefix(err.Error(), kernel.ErrNoSandbox.Error()+": ")
		} else {
			c.Sandboxed = true
			c.Writable = []string{"ARTIFACTS (trials/NNN/, this trial's own folder)", "/tmp (private to the kernel)"}
		}
	}
	memory, processes := k.Memory, k.Processes
	if memory < 0 {
		memory = defaultMemory()
	}
	if processes < 0 {
		processes = defaultProcesses
	}
	var notes []string
	if memory > 0 {
		how, err := kernel.LimitsCheck(kernel.Limits{Memory: memory})
		if err == nil && k.Memory < 0 && strings.Contains(how, "RLIMIT_AS") {
			// An address-space cap is no stand-in for the default: GPU
			// libraries and many threads reserve far more than they use.
			notes = append(notes, "no memory cap by default where no memory cgroup can be made (RLIMIT_AS counts reserved address space, not memory); set kernel.memory to have one")
			memory = 0
		}
		if err != nil {
			if required {
				return nil, fmt.Errorf("%s: %w: the memory cap: %v", p.File, ErrSandboxRequired, err)
			}
			notes = append(notes, "no memory cap: "+err.Error())
			memory = 0
		}
	}
	if processes > 0 {
		if _, err := kernel.LimitsCheck(kernel.Limits{Processes: processes}); err != nil {
			if required {
				return nil, fmt.Errorf("%s: %w: the process cap: %v", p.File, ErrSandboxRequired, err)
			}
			notes = append(notes, "no process cap: "+err.Error())
			processes = 0
		}
	}
	c.Memory, c.Processes = memory, processes
	if len(notes) > 0 {
		if c.Why != "" {
			c.Why += "; "
		}
		c.Why += strings.Join(notes, "; ")
	}
	p.Kernel.InForce = c
	return c, nil
}

// ConfinementNotice is one line for people (the run's first lines, the
// journal) saying how trial kernels are confined.
func ConfinementNotice(c *specs.Confinement) string {
	var caps []string
	if c.Memory > 0 {
		caps = append(caps, "memory "+specs.FormatBytes(c.Memory))
	}
	if c.Processes > 0 {
		caps = append(caps, strconv.Itoa(c.Processes)+" processes")
	}
	capsSaid := "no caps"
	if len(caps) > 0 {
		capsSaid = "caps: " + strings.Join(caps, ", ")
	}
	if c.Sandboxed {
		s := "trial kernels are sandboxed: no network; they write only to their trials/NNN/ and a private /tmp; data/ and earlier trials read-only; " + capsSaid
		if c.Why != "" {
			s += " (" + c.Why + ")"
		}
		return s
	}
	return "trial kernels are NOT sandboxed: " + c.Why + "; " + capsSaid
}

// kernels hands out trial kernels. Unsandboxed ones come from a warm pool.
// A sandboxed kernel sees its own trial's folder and no other, and which
// trial a kernel serves is known only once the trial is, so each is started
// for its trial.
type kernels struct {
	e    *Experiment
	ctx  context.Context
	pool *kernel.Pool // nil when sandboxed

	mu   sync.Mutex
	next int // kernels started on demand, for spreading GPUs
}

func (e *Experiment) newKernels(ctx context.Context) *kernels {
	ks := &kernels{e: e, ctx: ctx}
	if c := e.p.Kernel.InForce; c == nil || !c.Sandboxed {
		ks.pool = kernel.NewPoolFunc(ctx, e.opts.Spec, e.opts.Workers, func(i int) kernel.StartOptions { return e.kernelOptions(i, 0) })
	}
	return ks
}

// Get returns a ready kernel for trial n; the caller shuts it down.
func (ks *kernels) Get(ctx context.Context, n int) (*kernel.Kernel, error) {
	if ks.pool != nil {
		return ks.pool.Get(ctx)
	}
	ks.mu.Lock()
	i := ks.next
	ks.next++
	ks.mu.Unlock()
	return kernel.Start(ctx, ks.e.opts.Spec, ks.e.kernelOptions(i, n))
}

func (ks *kernels) Close(ctx context.Context) error {
	if ks.pool != nil {
		return ks.pool.Close(ctx)
	}
	return nil
}

// kernelOptions are the options of the i-th trial kernel; trial is the
// trial it serves when it is started for one (a sandboxed kernel), else 0.
func (e *Experiment) kernelOptions(i, trial int) kernel.StartOptions {
	// ipykernel exits when the process in JPY_PARENT_PID is gone, so a
	// kill -9 of trialbook leaves no kernel behind (a sandboxed one dies
	// with its sandbox). A cell keeps 1 MiB of output, so no single message
	// needs more than 16 MiB in memory (a plot is far less); past that the
	// kernel client cuts it. The environment is an allow-list: no API key
	// of the agent's reaches a trial.
	o := kernel.StartOptions{Dir: e.opts.Dir, Logger: e.opts.Log, MaxOutput: 1 << 20, MaxMessage: 16 << 20,
		Env: map[string]string{"JPY_PARENT_PID": strconv.Itoa(os.Getpid())}, CleanEnv: true,
		Transport: e.p.Kernel.Transport}
	if len(e.opts.GPUs) > 0 {
		o.Env["CUDA_VISIBLE_DEVICES"] = e.opts.GPUs[i%len(e.opts.GPUs)]
	}
	if c := e.p.Kernel.InForce; c != nil {
		o.Limits = kernel.Limits{Memory: c.Memory, Processes: c.Processes}
		if c.Sandboxed && trial > 0 {
			o.Transport = "ipc"
			o.Sandbox = &kernel.Sandbox{
				// Earlier trials' folders are readable (a blend averages
				// their saved predictions and models; nothing there derives
				// from the holdout labels); only the trial's own is writable.
				ReadOnly: []string{filepath.Join(e.opts.Dir, filepath.Dir(viewMetaFile)), filepath.Join(e.opts.Dir, "trials")},
				Writable: []string{filepath.Join(e.opts.Dir, "trials", fmt.Sprintf("%03d", trial))},
			}
		}
	}
	return o
}

// limitReason is why a trial failed when its kernel went past a cap, or "".
func limitReason(k *kernel.Kernel) string {
	if hit := k.LimitHit(); hit != nil {
		return "the trial went past a resource cap: " + hit.Error()
	}
	return ""
}

// withLimit adds to a failed trial's reason the cap its kernel hit, if any:
// a fork refused at the process cap shows in the cell only as an OSError.
func withLimit(k *kernel.Kernel, reason string) string {
	if k == nil {
		return reason
	}
	if hit := k.LimitHit(); hit != nil {
		return reason + " (" + hit.Error() + ")"
	}
	return reason
}

// harnessKernelOptions are the options of a kernel that runs trialbook's
// own code over an experiment's files (the report, predict). That code
// loads the trials' model.pkl, and unpickling runs code an agent wrote; so
// where p's trial kernels are sandboxed, this one is too, with readOnly and
// writable bound. With p nil it is not sandboxed; its environment is the
// allow-list either way.
func harnessKernelOptions(ctx context.Context, p *specs.Problem, dir string, readOnly, writable []string) (kernel.StartOptions, bool, error) {
	o := kernel.StartOptions{Dir: dir, CleanEnv: true}
	if p == nil {
		return o, false, nil
	}
	c := p.Kernel.InForce
	if c == nil {
		var err error
		if c, err = Confine(ctx, p); err != nil {
			return o, false, err
		}
	}
	o.Transport = p.Kernel.Transport
	o.Limits = kernel.Limits{Memory: c.Memory, Processes: c.Processes}
	if !c.Sandboxed {
		return o, false, nil
	}
	o.Transport = "ipc"
	o.Sandbox = &kernel.Sandbox{ReadOnly: readOnly, Writable: writable}
	return o, true, nil
}
