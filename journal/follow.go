package journal

import (
	"context"
	"errors"
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
	t := NewTail(path)
	send := func(e Event, _ Span) error {
		if e.Seq <= after {
			return nil
		}
		select {
		case out <- e:
			after = e.Seq
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if err := t.Read(send); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := w.wait(ctx); err != nil {
			return nil // ctx ended
		}
	}
}

// Watch signals on the returned channel whenever the journal at path may
// have changed: on every write, create or rename in its folder where the OS
// says so, and every FollowPoll regardless. A signal not yet taken absorbs
// later ones. The channel is closed when ctx ends. It is for one reader that
// shares what it reads with many (the bridge), where Follow is one reader per
// follower.
func Watch(ctx context.Context, path string) <-chan struct{} {
	c := make(chan struct{}, 1)
	go func() {
		defer close(c)
		w := newWaker(filepath.Dir(path))
		defer w.close()
		for w.wait(ctx) == nil {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}()
	return c
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
