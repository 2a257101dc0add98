package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits caps what a kernel and every process it starts may use together.
// A zero field is no cap.
type Limits struct {
	// Memory in bytes. Enforced by a memory cgroup (the kernel is killed
	// when it goes past, and Err wraps a *LimitError) where trialbook can
	// create one, else by RLIMIT_AS (an allocation past it fails: Python
	// raises MemoryError).
	Memory int64
	// Processes counts processes and threads at once. Enforced by a pids
	// cgroup, else by RLIMIT_NPROC (which the kernel does not apply to
	// root); a fork past it fails.
	Processes int
}

// LimitError says that a kernel went past one of its Limits.
type LimitError struct {
	Resource string // "memory" or "processes"
	Limit    string // the cap, as people read it: "512 MiB", "64"
	Killed   bool   // the kernel was killed for it (a memory cgroup)
}

func (e *LimitError) Error() string {
	name := e.Resource
	if name == "processes" {
		name = "process"
	}
	if e.Killed {
		return fmt.Sprintf("the kernel went past its %s cap of %s and was killed", name, e.Limit)
	}
	return fmt.Sprintf("the kernel hit its %s cap of %s (a fork or thread past it was refused)", name, e.Limit)
}

// mib writes a memory cap in MiB, where it is a whole number of them.
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// LimitsCheck says how each cap of lim would be enforced on this host, one
// line each ("memory 512 MiB: cgroup v1 /sys/fs/cgroup/memory/…"), or why
// it cannot be (the error names the cap).
func LimitsCheck(lim Limits) (string, error) {
	l, err := newLimiter(lim, "check")
	if err != nil {
		return "", err
	}
	defer l.remove()
	return strings.Join(l.how, "; "), nil
}

// limiter enforces one kernel process's Limits: the cgroups made for it,
// which a wrapper joins before it execs the kernel, and the rlimits the
// wrapper sets where no cgroup could be made.
type limiter struct {
	lim     Limits
	cgroups []string // dirs made for this process, one per controller
	memory  string   // the memory cgroup, whose counters tell an OOM kill
	pids    string   // the pids cgroup, whose counters tell a refused fork
	rlimits []string // prlimit(1) options
	how     []string
}

// newLimiter prepares the limits for one process; nil when lim has none.
func newLimiter(lim Limits, name string) (*limiter, error) {
	if lim == (Limits{}) {
		return nil, nil
	}
	l := &limiter{lim: lim}
	if lim.Memory > 0 {
		if dir, err := cgroupV1("memory", name); err == nil {
			if err := writeCgroup(dir, "memory.limit_in_bytes", strconv.FormatInt(lim.Memory, 10)); err != nil {
				os.Remove(dir)
				return nil, err
			}
			// Swap counts too, where the host accounts it; else a trial
			// would page out past its cap.
			_ = writeCgroup(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(lim.Memory, 10))
			l.cgroups, l.memory = append(l.cgroups, dir), dir
			l.how = append(l.how, fmt.Sprintf("memory %s: memory cgroup (the kernel is killed past it)", mib(lim.Memory)))
		} else {
			l.rlimits = append(l.rlimits, "--as="+strconv.FormatInt(lim.Memory, 10))
			l.how = append(l.how, fmt.Sprintf("memory %s: RLIMIT_AS (allocations past it fail; no memory cgroup: %v)", mib(lim.Memory), err))
		}
	}
	if lim.Processes > 0 {
		if dir, err := cgroupV1("pids", name); err == nil {
			if err := writeCgroup(dir, "pids.max", strconv.Itoa(lim.Processes)); err != nil {
				os.Remove(dir)
				l.remove()
				return nil, err
			}
			l.cgroups, l.pids = append(l.cgroups, dir), dir
			l.how = append(l.how, fmt.Sprintf("processes %d: pids cgroup", lim.Processes))
		} else if os.Geteuid() != 0 {
			l.rlimits = append(l.rlimits, "--nproc="+strconv.Itoa(lim.Processes))
			l.how = append(l.how, fmt.Sprintf("processes %d: RLIMIT_NPROC (counts all of this user's processes; no pids cgroup: %v)", lim.Processes, err))
		} else {
			l.remove()
			return nil, fmt.Errorf("kernel: cannot cap processes at %d: no pids cgroup (%v), and RLIMIT_NPROC does not apply to root", lim.Processes, err)
		}
	}
	if len(l.rlimits) > 0 {
		if _, err := exec.LookPath("prlimit"); err != nil {
			l.remove()
			return nil, fmt.Errorf("kernel: cannot set rlimits %s: prlimit (util-linux) is not installed: %v", strings.Join(l.rlimits, " "), err)
		}
	}
	return l, nil
}

// wrap returns argv run inside the limits: a shell that moves itself into
// the cgroups, then prlimit for the rlimits, then argv. Joining before the
// exec leaves no moment when the kernel runs outside its cgroups.
func (l *limiter) wrap(argv []string) []string {
	if l == nil {
		return argv
	}
	var out []string
	if len(l.cgroups) > 0 {
		out = append(out, "/bin/sh", "-c", `while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"`, "trialbook-limits")
		out = append(out, l.cgroups...)
		out = append(out, "--")
	}
	if len(l.rlimits) > 0 {
		out = append(out, "prlimit")
		out = append(out, l.rlimits...)
		out = append(out, "--")
	}
	return append(out, argv...)
}

// hit returns the cap the process went past, or nil: the memory cgroup's
// OOM kills, the pids cgroup's refused forks.
func (l *limiter) hit() *LimitError {
	if l == nil {
		return nil
	}
	if l.memory != "" && cgroupCount(l.memory, "memory.oom_control", "oom_kill") > 0 {
		return &LimitError{Resource: "memory", Limit: mib(l.lim.Memory), Killed: true}
	}
	if l.pids != "" && cgroupCount(l.pids, "pids.events", "max") > 0 {
		return &LimitError{Resource: "processes", Limit: strconv.Itoa(l.lim.Processes)}
	}
	return nil
}

// remove deletes the cgroups; they must be empty (the process group is
// dead), which can lag its death by a moment.
func (l *limiter) remove() {
	if l == nil {
		return
	}
	for _, dir := range l.cgroups {
		for i := 0; i < 50; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	l.cgroups = nil
}

// cgroupV1 makes a child cgroup called name of this process's cgroup in
// the v1 hierarchy of controller, where that hierarchy is mounted and
// writable (as root, or delegated).
func cgroupV1(controller, name string) (string, error) {
	mount, root, err := cgroupMount(controller)
	if err != nil {
		return "", err
	}
	self, err := selfCgroup(controller)
	if err != nil {
		return "", err
	}
	parent := filepath.Join(mount, strings.TrimPrefix(self, root))
	sweepCgroups(parent)
	// The pid in the name tells a later trialbook whose it is.
	dir := filepath.Join(parent, fmt.Sprintf("trialbook-%d-%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s cgroup: %w", controller, err)
	}
	return dir, nil
}

// cgroupMount finds where the v1 hierarchy of controller is mounted, and
// which cgroup path is the mount's root.
func cgroupMount(controller string) (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		fields := strings.Fields(s.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(fields[sep+3], ",") {
			if o == controller {
				return fields[4], fields[3], nil
			}
		}
	}
	return "", "", fmt.Errorf("no cgroup v1 hierarchy with the %s controller is mounted", controller)
}

// selfCgroup is this process's cgroup path in the hierarchy of controller.
func selfCgroup(controller string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-id:controller,list:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return parts[2], nil
			}
		}
	}
	return "", fmt.Errorf("this process is in no %s cgroup", controller)
}

func writeCgroup(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("kernel: cgroup %s: %w", file, err)
	}
	return nil
}

// cgroupCount reads "key N" from a cgroup's flat-keyed file.
func cgroupCount(dir, file, key string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// sweepCgroups removes the empty cgroups that a trialbook killed with -9
// left behind in parent: those named for a process that is gone. Removing
// one that still holds a process fails, harmlessly.
func sweepCgroups(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "trialbook-")
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		_ = os.Remove(filepath.Join(parent, e.Name()))
	}
}
