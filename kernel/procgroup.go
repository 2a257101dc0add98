package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// groupMembers lists the live (not zombie) processes in process group pgid.
// Zombies are dead: they wait for whoever adopted them to reap them, which
// in a container may be never.
func groupMembers(pgid int) []int {
	if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pgid} // no /proc: trust kill(2), which said the group exists
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// /proc/PID/stat: pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || f[0][0] == 'Z' || f[0][0] == 'X' {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func groupAlive(pgid int) bool { return len(groupMembers(pgid)) > 0 }

// killGroup sends SIGKILL to the group and waits, up to limit, until no live
// process is left in it. It reports whether the group is gone.
func killGroup(pgid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		members := groupMembers(pgid)
		if len(members) == 0 {
			return true
		}
		for _, pid := range members {
			if !waitPidExit(pid, time.Until(deadline)) {
				return !groupAlive(pgid)
			}
		}
	}
}

// sysPidfdOpen is pidfd_open(2); the number is the same on every Linux
// architecture, but Go's syscall package names it only on some.
const sysPidfdOpen = 434

// waitPidExit waits until process pid has exited (a zombie counts), or
// timeout. It waits on a pidfd, an event, not by polling. On kernels without
// pidfd_open it falls back to checking every few milliseconds.
func waitPidExit(pid int, timeout time.Duration) bool {
	if timeout <= 0 {
		return !pidAlive(pid)
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return true
	}
	if errno != 0 {
		return pollPidExit(pid, timeout)
	}
	defer syscall.Close(int(fd))
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return pollPidExit(pid, timeout)
	}
	defer syscall.Close(ep)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return pollPidExit(pid, timeout)
	}
	events := make([]syscall.EpollEvent, 1)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return !pidAlive(pid)
		}
		n, err := syscall.EpollWait(ep, events, ms)
		if err == syscall.EINTR {
			continue
		}
		return n > 0 || !pidAlive(pid)
	}
}

func pidAlive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func pollPidExit(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
