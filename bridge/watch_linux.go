package bridge

import (
	"errors"
	"syscall"
	"unsafe"
)

// dirWatch says which of the folders it watches gained, lost or changed a
// file since it was last asked (inotify), so a list refresh looks only at
// the experiments that changed. It is used by one list refresh at a time.
type dirWatch struct {
	fd  int
	dir map[int32]string // by watch descriptor
	buf []byte
}

const watchMask = syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CLOSE_WRITE | syscall.IN_CREATE | syscall.IN_DELETE |
	syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF

// newDirWatch returns nil where the OS gives no notifications (or no more
// of them): the caller then looks at everything each time.
func newDirWatch() *dirWatch {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	return &dirWatch{fd: fd, dir: map[int32]string{}, buf: make([]byte, 64<<10)}
}

// add watches dir. A folder that does not exist is not an error: its parent's
// watch reports it when it appears.
func (w *dirWatch) add(dir string) error {
	wd, err := syscall.InotifyAddWatch(w.fd, dir, watchMask)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err // out of watches: the caller stops trusting the watch
	}
	w.dir[int32(wd)] = dir
	return nil
}

// changed drains what happened since the last call: the folders in which
// something changed, those that gained or lost an entry (or went away), or
// all (the queue overflowed, or reading it failed).
func (w *dirWatch) changed() (touched, entries map[string]bool, all bool) {
	touched, entries = map[string]bool{}, map[string]bool{}
	for {
		n, err := syscall.Read(w.fd, w.buf)
		if errors.Is(err, syscall.EAGAIN) {
			return touched, entries, false
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			return nil, nil, true
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&syscall.IN_Q_OVERFLOW != 0 {
				all = true
				continue
			}
			dir, ok := w.dir[ev.Wd]
			if !ok {
				continue
			}
			if ev.Mask&syscall.IN_IGNORED != 0 {
				delete(w.dir, ev.Wd) // the folder went away
			}
			touched[dir] = true
			if ev.Mask&(syscall.IN_CREATE|syscall.IN_DELETE|syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF|syscall.IN_IGNORED) != 0 {
				entries[dir] = true
			}
		}
		if all {
			return nil, nil, true
		}
	}
}

func (w *dirWatch) close() { syscall.Close(w.fd) }
