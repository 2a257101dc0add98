package journal

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// inotifyWaker wakes on any write, create or rename in the journal's folder.
// The descriptor is non-blocking, so os.File parks reads in the runtime's
// poller, where a deadline (FollowPoll, or now when ctx ends) can end them.
type inotifyWaker struct {
	f   *os.File
	buf []byte
}

func newWaker(dir string) waker {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return newTickWaker()
	}
	const mask = syscall.IN_MODIFY | syscall.IN_CREATE | syscall.IN_MOVED_TO | syscall.IN_CLOSE_WRITE
	if _, err := syscall.InotifyAddWatch(fd, dir, mask); err != nil {
		// The folder may not exist yet; poll until it does.
		syscall.Close(fd)
		return newTickWaker()
	}
	return &inotifyWaker{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))}
}

func (w *inotifyWaker) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Now()) })
	defer stop()
	_ = w.f.SetReadDeadline(time.Now().Add(FollowPoll))
	// One read drains whatever queued up; the caller re-reads the file either way.
	_, err := w.f.Read(w.buf)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// A broken notifier should not stop following, nor spin: wait out
		// one poll period instead.
		t := time.NewTimer(FollowPoll)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (w *inotifyWaker) close() { w.f.Close() }
