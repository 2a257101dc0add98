package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrOutsideRoot is a client path that would leave the served root: one with
// "..", an absolute one, or one whose symlinks lead out.
var ErrOutsideRoot = errors.New("path is outside the served root")

// ErrNotFound is an experiment or trial that does not exist.
var ErrNotFound = errors.New("not found")

// problemFile is the spec a folder must hold (with or without a journal) to be
// an experiment.
const problemFile = "problem.jsonnet"

// cleanRel checks a client path (slash-separated, relative to the root) and
// returns it in the OS's form. It refuses rather than cleans: a client that
// sends "a/../b" has a bug or an intent, and both deserve an error.
func cleanRel(rel string) (string, error) {
	switch {
	case rel == "" || rel == ".":
		return "", fmt.Errorf("%w: empty path", ErrOutsideRoot)
	case strings.ContainsAny(rel, "\\\x00"):
		return "", fmt.Errorf("%w: %q has a backslash or NUL", ErrOutsideRoot, rel)
	case path.IsAbs(rel) || filepath.IsAbs(rel):
		return "", fmt.Errorf("%w: %q is absolute; give it relative to the root", ErrOutsideRoot, rel)
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\"", ErrOutsideRoot, rel)
		}
	}
	return filepath.FromSlash(path.Clean(rel)), nil
}

// within resolves rel under root (an absolute path with its symlinks already
// resolved) and checks that the real location, symlinks followed, stays under
// root. mustExist false allows a path whose last parts do not exist yet (a
// folder about to be created): the existing part is checked.
func within(root, rel string, mustExist bool) (string, error) {
	clean, err := cleanRel(rel)
	if err != nil {
		return "", err
	}
	full := filepath.Join(root, clean)
	existing, rest := full, ""
	for {
		real, err := filepath.EvalSymlinks(existing)
		if err == nil {
			if !inside(root, real) {
				return "", fmt.Errorf("%w: %q leads to %s", ErrOutsideRoot, rel, real)
			}
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve %q: %w", rel, err)
		}
		if mustExist {
			return "", fmt.Errorf("%q: %w", rel, ErrNotFound)
		}
		// A dangling symlink is not "missing": it would be followed on create.
		if _, lerr := os.Lstat(existing); lerr == nil {
			return "", fmt.Errorf("%w: %q is a symlink to nowhere", ErrOutsideRoot, rel)
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = filepath.Dir(existing)
	}
}

func inside(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// isExperiment says whether dir holds a journal or a problem file.
func isExperiment(dir string) bool {
	for _, name := range []string{journalName, problemFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// listDepth is how deep under the root experiments are looked for.
const listDepth = 4

// skipDir names folders never searched for experiments: hidden ones
// (.venv, .git, .trialbook) and the usual heavy ones.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "__pycache__" || name == "site-packages"
}

// findExperiments walks root for experiment folders, returning their ids
// (slash-separated, relative to root) and the modification time of every
// folder it looked at (see walkValid). It does not look inside an experiment
// (its trials/ and data/ are not experiments) nor follow symlinks. look, if
// not nil, is called with each folder before the walk reads it.
func findExperiments(root string, look func(dir string)) ([]string, map[string]time.Time, error) {
	var ids []string
	looked := map[string]time.Time{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // an unreadable folder hides only itself
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if p != root {
			if skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if strings.Count(filepath.ToSlash(rel), "/") >= listDepth {
				return filepath.SkipDir
			}
		}
		if look != nil {
			look(p)
		}
		if fi, err := d.Info(); err == nil {
			looked[p] = fi.ModTime()
		}
		if isExperiment(p) {
			if p != root {
				ids = append(ids, filepath.ToSlash(rel))
			}
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list experiments under %s: %w", root, err)
	}
	return ids, looked, nil
}

// walkSettle is how long ago a folder must have changed for its modification
// time to be trusted to show the next change: file systems keep coarse
// times, and two changes within one tick leave the same one.
const walkSettle = 2 * time.Second

// walkValid says whether a walk made at walkedAt that looked at these folders
// would still find the same experiments: no folder it looked at (those it went
// into and the experiments it stopped at) has gained or lost an entry since,
// which would change its modification time. Journals growing do not.
func walkValid(looked map[string]time.Time, walkedAt time.Time) bool {
	for dir, mod := range looked {
		if mod.After(walkedAt.Add(-walkSettle)) {
			return false
		}
		fi, err := os.Lstat(dir)
		if err != nil || !fi.ModTime().Equal(mod) {
			return false
		}
	}
	return true
}
