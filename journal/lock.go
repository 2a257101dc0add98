//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked says another process holds an experiment folder's lock.
var ErrLocked = errors.New("experiment is locked by another process")

// LockError is returned when a folder is already locked; PID is the holder's
// process id as it recorded it (0 if unknown).
type LockError struct {
	Path string
	PID  int
}

func (e *LockError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s: held by process %d", e.Path, e.PID)
	}
	return fmt.Sprintf("%s: held by another process", e.Path)
}

func (e *LockError) Is(target error) bool { return target == ErrLocked }

// LockPath is the lock file of the experiment folder dir.
func LockPath(dir string) string { return filepath.Join(dir, ".trialbook", "lock") }

// Lock takes the experiment folder's write lock (.trialbook/lock, flock), so
// that two processes never append to the same journal. It does not wait: a
// folder locked elsewhere is a *LockError (errors.Is ErrLocked). The lock goes
// with the process, so a killed writer never leaves it stuck.
func Lock(dir string) (unlock func() error, err error) {
	path := LockPath(dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockError{Path: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// Record who holds it, for the error another process will show.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		return f.Close() // closing the descriptor releases the flock
	}, nil
}

// Locked reports whether a live process holds dir's lock, and its pid. It
// only reads the pid the holder recorded and asks the OS whether that process
// lives, so it never contends with a writer taking the lock (a probing flock
// could make that writer fail). A writer killed with -9 leaves its pid behind;
// that process is gone, so the folder reads as unlocked.
func Locked(dir string) (bool, int, error) {
	// An unlocked folder has no lock file or an empty one (the holder
	// empties it as it lets go): one stat says so, which matters to a list
	// of a thousand experiments.
	if fi, err := os.Stat(LockPath(dir)); err == nil && fi.Size() == 0 || errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	f, err := os.Open(LockPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("check lock %s: %w", dir, err)
	}
	defer f.Close()
	pid := readPID(f)
	if pid <= 0 {
		return false, 0, nil
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false, 0, nil
	}
	return true, pid, nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	return pid
}
