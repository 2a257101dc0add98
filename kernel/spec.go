package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Spec is a kernelspec: how to launch one kind of kernel.
// https://jupyter-client.readthedocs.io/en/stable/kernels.html#kernel-specs
type Spec struct {
	Name          string            // the directory name, lower-cased
	Dir           string            // the directory holding kernel.json (the resource dir)
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	Argv          []string          `json:"argv"`
	Env           map[string]string `json:"env"`
	InterruptMode string            `json:"interrupt_mode"` // "signal" (default) or "message"
	Metadata      map[string]any    `json:"metadata"`
}

// SearchOptions says where to look for kernelspecs. The zero value searches
// where jupyter_client would from the trialbook project's environment.
type SearchOptions struct {
	// Paths are searched first, like $JUPYTER_PATH (each gets /kernels
	// appended). Nil means $JUPYTER_PATH.
	Paths []string
	// UserDir is the user's Jupyter data dir. "" means $JUPYTER_DATA_DIR,
	// else $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter.
	UserDir string
	// Prefix is the Python environment whose share/jupyter is searched.
	// "" means $VIRTUAL_ENV, else $CONDA_PREFIX, else the nearest .venv in
	// the current directory or above, else the .venv next to the directory
	// holding the trialbook binary's directory (bin/trialbook -> .venv).
	Prefix string
	// SystemDirs default to /usr/local/share/jupyter and /usr/share/jupyter.
	SystemDirs []string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// ErrNoSuchKernel is wrapped by FindSpec when no kernelspec has the name.
var ErrNoSuchKernel = errors.New("kernel: no such kernel")

// Dirs returns the kernels directories searched, in order: JUPYTER_PATH,
// then the environment prefix and the user dir (the environment first, as
// jupyter_core does inside a virtualenv, unless JUPYTER_PREFER_ENV_PATH says
// otherwise), then the system dirs. Duplicates are removed.
func (o SearchOptions) Dirs() []string {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	var dirs []string
	paths := o.Paths
	if paths == nil {
		if p := getenv("JUPYTER_PATH"); p != "" {
			paths = filepath.SplitList(p)
		}
	}
	dirs = append(dirs, paths...)
	user := o.UserDir
	if user == "" {
		user = dataDir(getenv)
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = defaultPrefix(getenv)
	}
	var env []string
	if prefix != "" {
		env = []string{filepath.Join(prefix, "share", "jupyter")}
	}
	preferEnv := prefix != ""
	if v, ok := lookupEnv(getenv, "JUPYTER_PREFER_ENV_PATH"); ok {
		preferEnv = truthy(v)
	}
	if preferEnv {
		dirs = append(append(dirs, env...), user)
	} else {
		dirs = append(append(dirs, user), env...)
	}
	sys := o.SystemDirs
	if sys == nil {
		sys = []string{"/usr/local/share/jupyter", "/usr/share/jupyter"}
	}
	dirs = append(dirs, sys...)

	seen := map[string]bool{}
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d == "" {
			continue
		}
		k := filepath.Join(filepath.Clean(d), "kernels")
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "0", "false", "no", "off", "n", "f":
		return false
	}
	return true
}

func dataDir(getenv func(string) string) string {
	if d := getenv("JUPYTER_DATA_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share", "jupyter")
}

// defaultPrefix finds the Python environment trialbook uses without anyone
// activating it.
func defaultPrefix(getenv func(string) string) string {
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := getenv(v); p != "" {
			return p
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if p := findVenvAbove(wd); p != "" {
			return p
		}
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			p := filepath.Join(filepath.Dir(filepath.Dir(exe)), ".venv")
			if isDir(p) {
				return p
			}
		}
	}
	return ""
}

func findVenvAbove(dir string) string {
	for {
		p := filepath.Join(dir, ".venv")
		if isDir(filepath.Join(p, "bin")) || isDir(filepath.Join(p, "share")) {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Specs returns every kernelspec found, in search order; where two dirs hold
// a kernel of the same name the first wins, as in jupyter_client. A kernel
// dir whose kernel.json does not parse is an error naming the file.
func Specs(opts SearchOptions) ([]*Spec, error) {
	var specs []*Spec
	seen := map[string]bool{}
	var errs []error
	for _, dir := range opts.Dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a dir that does not exist is normal
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			name := strings.ToLower(e.Name())
			kdir := filepath.Join(dir, e.Name())
			if seen[name] || !isDir(kdir) {
				continue
			}
			if _, err := os.Stat(filepath.Join(kdir, "kernel.json")); err != nil {
				continue
			}
			s, err := ReadSpec(kdir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			seen[name] = true
			specs = append(specs, s)
		}
	}
	return specs, errors.Join(errs...)
}

// ReadSpec reads dir/kernel.json.
func ReadSpec(dir string) (*Spec, error) {
	path := filepath.Join(dir, "kernel.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: read kernelspec: %w", err)
	}
	s := &Spec{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("kernel: kernelspec %s%s: %w", path, jsonPosition(b, err), err)
	}
	s.Name = strings.ToLower(filepath.Base(dir))
	s.Dir = dir
	if len(s.Argv) == 0 {
		return nil, fmt.Errorf("kernel: kernelspec %s: argv is empty, want the command that starts the kernel", path)
	}
	switch s.InterruptMode {
	case "":
		s.InterruptMode = "signal"
	case "signal", "message":
	default:
		return nil, fmt.Errorf("kernel: kernelspec %s: interrupt_mode %q, want \"signal\" or \"message\"", path, s.InterruptMode)
	}
	return s, nil
}

// FindSpec returns the kernelspec called name ("" means "python3"). If none
// has that name, the error wraps ErrNoSuchKernel and names the kernels found
// and the dirs searched.
func FindSpec(name string, opts SearchOptions) (*Spec, error) {
	if name == "" {
		name = "python3"
	}
	specs, err := Specs(opts)
	for _, s := range specs {
		if s.Name == strings.ToLower(name) {
			return s, nil
		}
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	found := "none"
	if len(names) > 0 {
		found = strings.Join(names, ", ")
	}
	nf := fmt.Errorf("%w %q; found: %s; searched: %s", ErrNoSuchKernel, name, found, strings.Join(opts.Dirs(), ", "))
	if err != nil {
		return nil, errors.Join(nf, err)
	}
	return nil, nf
}

// jsonPosition returns ":line:column" of a JSON syntax or type error in b.
func jsonPosition(b []byte, err error) string {
	var off int64
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	default:
		return ""
	}
	off = min(off, int64(len(b)))
	line, col := 1, 1
	for _, c := range b[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf(":%d:%d", line, col)
}
