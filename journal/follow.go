package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrReplaced is sent by Follow when the journal shrank below what it had
// already read: the file was replaced or cut, and the events read so far can no
// longer be trusted to be its prefix.
var ErrReplaced = errors.New("journal was replaced or truncated while followed")

// FollowPoll is how often Follow looks at the file when the OS gives no
// change notifications, and the longest it waits even when it does.
const FollowPoll = 250 * time.Millisecond

// Follow tails a journal written by another process: it sends every event with
// seq > after, in order, then each new one as it is appended, until ctx ends.
// A journal that does not exist yet is waited for. Both channels are closed
// when Follow stops; the error channel carries at most one error (a
// *LineError, ErrReplaced, or a read error), never ctx's.
func Follow(ctx context.Context, path string, after int64) (<-chan Event, <-chan error) {
	events := make(chan Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(events)
		if err := follow(ctx, path, after, events); err != nil && ctx.Err() == nil {
			errc <- err
		}
	}()
	return events, errc
}

func follow(ctx context.Context, path string, after int64, out chan<- Event) error {
	w := newWaker(filepath.Dir(path))
	defer w.close()

	var (
		f        *os.File
		offset   int64 // bytes of complete lines read so far
		line     = 1   // number of the line at offset
		lastSeq  int64
		buf      []byte
		sentUpTo = after
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		if f == nil {
			var err error
			f, err = os.Open(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("follow journal: %w", err)
			}
		}
		if f != nil {
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("follow journal %s: %w", path, err)
			}
			size := st.Size()
			if size < offset {
				return fmt.Errorf("%s: %w", path, ErrReplaced)
			}
			if size > offset {
				if cap(buf) < int(size-offset) {
					buf = make([]byte, size-offset)
				}
				buf = buf[:size-offset]
				n, err := f.ReadAt(buf, offset)
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("follow journal %s: %w", path, err)
				}
				p, err := parseLines(path, buf[:n], line, lastSeq)
				for _, e := range p.events {
					lastSeq = e.Seq
					if e.Seq <= sentUpTo {
						continue
					}
					select {
					case out <- e:
						sentUpTo = e.Seq
					case <-ctx.Done():
						return nil
					}
				}
				if err != nil {
					return err
				}
				offset += p.complete
				line += p.lines
			}
		}
		if err := w.wait(ctx); err != nil {
			return nil // ctx ended
		}
	}
}

// waker blocks until a file in a folder may have changed.
type waker interface {
	wait(ctx context.Context) error
	close()
}

// tickWaker is the fallback: look again every FollowPoll.
type tickWaker struct{ t *time.Ticker }

func newTickWaker() *tickWaker { return &tickWaker{t: time.NewTicker(FollowPoll)} }

func (w *tickWaker) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.t.C:
		return nil
	}
}

func (w *tickWaker) close() { w.t.Stop() }
