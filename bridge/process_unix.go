//go:build unix

package bridge

import (
	"errors"
	"syscall"
)

// processAlive asks the OS whether pid names a process (signal 0 checks
// without sending anything).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
