package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Sandbox confines a kernel that Start launches, with bubblewrap (bwrap):
// its own network namespace (a loopback of its own and nothing else: not
// the internet, not the host's loopback services), its own PID, IPC and UTS
// namespaces, and a file system that holds only the system's libraries and
// the kernelspec's Python environment (read-only), a private /tmp, the
// kernel's own 0700 folder of Unix sockets, and the paths listed here. The
// working directory (StartOptions.Dir) is an empty read-only folder but for
// the listed paths inside it. The harness reaches the kernel over ipc only,
// so a sandboxed kernel needs Transport "ipc".
type Sandbox struct {
	ReadOnly []string // host paths visible read-only, at the same path
	Writable []string // host paths visible read-write, at the same path
	// Bwrap is the bubblewrap binary; "" finds bwrap on PATH.
	Bwrap string
}

// ErrNoSandbox is wrapped by SandboxCheck and Start when the host cannot
// sandbox a kernel (no bubblewrap, or namespaces not allowed).
var ErrNoSandbox = errors.New("kernel: cannot sandbox")

// systemDirs are bound read-only (or recreated as the symlinks they are, on
// merged-/usr systems) into every sandbox.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// etcFiles are the few files of /etc a Python kernel reads: the dynamic
// linker's cache, names of users and groups, time zone, certificates, fonts
// for plots, MIME types. Not /etc as a whole: it holds the host's secrets
// (shadow, ssh keys, credentials of services).
var etcFiles = []string{
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/timezone",
	"/etc/ssl", "/etc/ca-certificates", "/etc/fonts", "/etc/mime.types", "/etc/os-release",
	"/etc/matplotlibrc", "/etc/gai.conf",
}

// bwrapPath returns the bubblewrap binary to use.
func (s *Sandbox) bwrapPath() (string, error) {
	name := s.Bwrap
	if name == "" {
		name = "bwrap"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: bubblewrap (%s) is not installed: %v; on Debian or Ubuntu: apt-get install bubblewrap", ErrNoSandbox, name, err)
	}
	return p, nil
}

// SandboxCheck reports whether this host can run a sandboxed kernel: it
// runs /bin/true in a sandbox built the same way (namespaces, mounts).
// The error wraps ErrNoSandbox and says why, e.g. that unprivileged user
// namespaces are disabled.
func SandboxCheck(ctx context.Context, s *Sandbox) error {
	if s == nil {
		s = &Sandbox{}
	}
	bwrap, err := s.bwrapPath()
	if err != nil {
		return err
	}
	truth, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("%w: no `true` to probe with: %v", ErrNoSandbox, err)
	}
	dir, err := os.MkdirTemp("", "tbk-check-")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSandbox, err)
	}
	defer os.RemoveAll(dir)
	args, err := s.args(dir, dir, []string{truth}, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bwrap, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s failed: %v: %s", ErrNoSandbox, bwrap, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// args returns bwrap's arguments for running argv in dir, with sockets (the
// kernel's own folder, read-write) and the Python environment of argv[0].
func (s *Sandbox) args(dir, sockets string, argv []string, specDir []string) ([]string, error) {
	a := []string{
		"--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		// Kill the sandbox when trialbook dies, whatever killed it.
		"--die-with-parent",
		"--hostname", "trialbook-sandbox",
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err == nil {
				a = append(a, "--symlink", target, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, f := range etcFiles {
		a = append(a, "--ro-bind-try", f, f)
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev")
	// GPUs: their device nodes, when the host has them.
	gpus, _ := filepath.Glob("/dev/nvidia*")
	for _, g := range append(gpus, "/dev/dri") {
		a = append(a, "--dev-bind-try", g, g)
	}
	a = append(a, "--tmpfs", "/tmp")
	dirWritable := false
	if dir != "" && dir != "/" {
		a = append(a, "--tmpfs", dir)
	}
	type bind struct {
		path string
		rw   bool
	}
	var binds []bind
	seen := map[string]bool{}
	add := func(p string, rw bool) error {
		if p == "" {
			return nil
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("kernel: sandbox: %w", err)
		}
		if seen[abs] {
			return nil
		}
		seen[abs] = true
		if rw && abs == dir {
			dirWritable = true
		}
		binds = append(binds, bind{abs, rw})
		return nil
	}
	for _, p := range pythonPrefixes(argv) {
		if err := add(p, false); err != nil {
			return nil, err
		}
	}
	for _, p := range specDir {
		if err := add(p, false); err != nil {
			return nil, err
		}
	}
	for _, p := range s.ReadOnly {
		if err := add(p, false); err != nil {
			return nil, err
		}
	}
	for _, p := range append([]string{sockets}, s.Writable...) {
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	// Parents before children, so that a bind inside another stays visible.
	sort.SliceStable(binds, func(i, j int) bool { return strings.Count(binds[i].path, "/") < strings.Count(binds[j].path, "/") })
	for _, b := range binds {
		flag := "--ro-bind"
		if b.rw {
			flag = "--bind"
		}
		a = append(a, flag, b.path, b.path)
	}
	if dir != "" && dir != "/" && !dirWritable {
		a = append(a, "--remount-ro", dir)
	}
	a = append(a, "--remount-ro", "/")
	if dir != "" {
		a = append(a, "--chdir", dir)
	}
	a = append(a, "--")
	return append(a, argv...), nil
}

// pythonPrefixes returns the environment a kernel's program lives in: for
// argv[0] (…/bin/python) and what its symlinks resolve to, the folder above
// bin/ (a virtualenv, and the Python it was made from), unless the system
// dirs already hold it.
func pythonPrefixes(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	prog, err := exec.LookPath(argv[0])
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range []string{prog, resolve(prog)} {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		prefix := filepath.Dir(filepath.Dir(abs))
		if underSystem(prefix) {
			continue
		}
		out = append(out, prefix)
	}
	return out
}

func resolve(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return p
	}
	return r
}

func underSystem(p string) bool {
	if p == "/" {
		return true
	}
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// kernelEnvAllowed are the variables of trialbook's environment a kernel
// keeps when StartOptions.CleanEnv is set: locale, time zone and thread
// counts. Nothing else passes, so API keys and tokens stay out of a
// trial's reach whatever they are named.
var kernelEnvAllowed = []string{
	"LANG", "LANGUAGE", "TZ", "TERM",
	"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS",
	"VECLIB_MAXIMUM_THREADS", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "MPLBACKEND", "PYTHONHASHSEED",
}

// cleanEnviron builds a kernel's environment from an allow-list of env,
// with PATH, HOME and TMPDIR set to what the kernel can use.
func cleanEnviron(env environ, argv []string, home string) environ {
	var out environ
	for _, name := range kernelEnvAllowed {
		if v := env.get(name); v != "" {
			out.set(name, v)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "LC_") {
			out = append(out, kv)
		}
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, p := range pythonPrefixes(argv) {
		path = filepath.Join(p, "bin") + ":" + path
	}
	out.set("PATH", path)
	out.set("HOME", home)
	out.set("TMPDIR", "/tmp")
	return out
}

// socketDir makes a kernel's own folder for its ipc sockets, 0700, in
// runtime when the socket paths fit there (a Unix socket path is at most
// 107 bytes), else in the system's temporary dir.
func socketDir(runtime string) (string, error) {
	// kernel-xxxxxxxx-ipc-NN in a tbk-NNNNNNNNNN folder.
	const room = len("/tbk-0123456789/kernel-01234567-ipc-99")
	base := runtime
	if len(base)+room > 100 {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "tbk-")
	if err != nil {
		return "", fmt.Errorf("ipc socket folder: %w", err)
	}
	// MkdirTemp makes it 0700; say so where a reader can see it matters.
	if err := os.Chmod(dir, 0o700); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// removeSockets removes the kernel's socket folder with what a killed
// kernel left in it.
func (k *Kernel) removeSockets() {
	if k.sockDir != "" {
		os.RemoveAll(k.sockDir)
	}
}

// LimitHit returns the cap of StartOptions.Limits that the current kernel
// process went past (a memory cap that killed it, a process cap that
// refused a fork), or nil. For a dead kernel it waits (up to 5 s) until the
// process has been reaped, so that the answer is final.
func (k *Kernel) LimitHit() *LimitError {
	p := k.current()
	if p == nil || p.cmd == nil {
		return nil
	}
	select {
	case <-p.done:
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	default:
		return p.limits.hit()
	}
	select {
	case <-p.exited:
		return p.limit
	default:
		return p.limits.hit()
	}
}

// SandboxArgs returns the bwrap arguments that run argv in s with dir as
// the working directory and sockets as the kernel's socket folder, for
// benchmarks and for people checking what a sandbox holds.
func SandboxArgs(s *Sandbox, dir, sockets string, argv []string) []string {
	a, err := s.args(dir, sockets, argv, nil)
	if err != nil {
		return nil
	}
	return a
}
