package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// FileName is the journal's name inside an experiment folder.
const FileName = "journal.jsonl"

// SubscriberBuffer is how many live events a subscriber may fall behind by
// before it is dropped.
const SubscriberBuffer = 1024

var (
	// ErrClosed is returned by Append after Close, and recorded on the
	// subscriptions that Close ends.
	ErrClosed = errors.New("journal closed")
	// ErrSlowSubscriber is recorded on a subscription that fell behind by
	// more than its buffer and was dropped so as not to slow Append.
	ErrSlowSubscriber = errors.New("subscriber fell behind and was dropped")
)

// Journal is an experiment's append-only event log, open for writing. Only one
// process may write a journal at a time: hold Lock on its folder first.
// Readers in other processes use ReadFile or Follow.
type Journal struct {
	path      string
	now       func() time.Time
	subBuffer int

	mu       sync.Mutex
	f        *os.File // nil once closed
	size     int64
	events   []Event
	snap     Snapshot // the fold of events, for the summary file
	subs     map[*Subscription]struct{}
	repaired int64
}

// Open opens the journal at path, creating it if needed, and reads the events
// it holds. A partial last line, left by a writer killed mid-write, is cut
// away; a complete event is never lost (a last event missing only its newline
// is kept). An invalid line anywhere else is a *LineError naming the file and
// line.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j, err := load(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func load(path string, f *os.File) (*Journal, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	p, err := parseLines(path, data, 1, 0)
	if err != nil {
		return nil, err
	}
	j := &Journal{path: path, now: time.Now, subBuffer: SubscriberBuffer, f: f, events: p.events, size: p.complete, subs: map[*Subscription]struct{}{}}
	tail := data[p.complete:]
	if len(tail) == 0 {
		j.snap = Fold(j.events)
		j.summarise()
		return j, nil
	}
	// The tail has no newline. If it is a whole event the writer died between
	// the event and its newline (or the newline never reached the disk): keep it.
	if e, err := decodeLine(bytes.TrimSpace(tail), j.Seq()); err == nil {
		if _, err := f.Write([]byte("\n")); err != nil {
			return nil, fmt.Errorf("repair journal %s: %w", path, err)
		}
		j.events = append(j.events, e)
		j.size = int64(len(data)) + 1
	} else {
		if err := f.Truncate(p.complete); err != nil {
			return nil, fmt.Errorf("repair journal %s: cut torn last line: %w", path, err)
		}
		j.repaired = int64(len(tail))
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("repair journal %s: %w", path, err)
	}
	j.snap = Fold(j.events)
	j.summarise()
	return j, nil
}

// summarise writes the summary file for the events so far. A failure is not
// the writer's: the events are safe, and a reader that finds the summary
// missing or stale folds the journal itself.
func (j *Journal) summarise() {
	_ = writeSummary(j.path, j.snap.Summary(j.size))
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// Repaired is how many bytes of a torn last line Open cut away (0 if none).
func (j *Journal) Repaired() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.repaired
}

// Seq is the seq of the last event, 0 for an empty journal.
func (j *Journal) Seq() int64 {
	if len(j.events) == 0 {
		return 0
	}
	return j.events[len(j.events)-1].Seq
}

// LastSeq is Seq for callers outside the journal's lock.
func (j *Journal) LastSeq() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.Seq()
}

// Append sets e's Seq (one past the last) and Time (now, UTC), writes it as one
// line, syncs the file, and only then hands it to subscribers. It returns the
// event as written. Safe for concurrent use.
func (j *Journal) Append(e Event) (Event, error) {
	written, err := j.AppendAll([]Event{e})
	if err != nil {
		return Event{}, err
	}
	return written[0], nil
}

// AppendAll appends events as Append does, all with one write and one sync:
// for importing or generating a journal. Either all are written or none.
func (j *Journal) AppendAll(events []Event) ([]Event, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil, ErrClosed
	}
	var lines []byte
	written := make([]Event, len(events))
	seq, now := j.Seq(), j.now().UTC()
	for i, e := range events {
		if e.Type == "" {
			return nil, errors.New("append: event has no type")
		}
		seq++
		e.Seq, e.Time = seq, now
		line, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", e.Type, err)
		}
		lines = append(append(lines, line...), '\n')
		written[i] = e
	}
	what := "events"
	if len(events) == 1 {
		what = string(events[0].Type)
	}
	if _, err := j.f.Write(lines); err != nil {
		j.undo()
		return nil, fmt.Errorf("append %s to %s: %w", what, j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.undo()
		return nil, fmt.Errorf("append %s to %s: sync: %w", what, j.path, err)
	}
	j.size += int64(len(lines))
	j.events = append(j.events, written...)
	for _, e := range written {
		j.snap.Add(e)
		for s := range j.subs {
			select {
			case s.ch <- e:
			default:
				j.drop(s, ErrSlowSubscriber)
			}
		}
	}
	j.snap.Settle()
	j.summarise()
	return written, nil
}

// undo cuts a failed write back to the last complete event, so the next
// Append does not follow a torn line. Best effort: Open repairs what it misses.
func (j *Journal) undo() {
	_ = j.f.Truncate(j.size)
}

// Events returns a copy of every event so far. The events share their pointer
// fields with the journal's: do not modify them.
func (j *Journal) Events() []Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Event(nil), j.events...)
}

// Close ends every subscription (recording ErrClosed) and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	for s := range j.subs {
		j.drop(s, ErrClosed)
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return fmt.Errorf("close journal %s: %w", j.path, err)
	}
	return nil
}

// Subscription receives a journal's events in order: first those already
// written after a given seq, then live ones as they are appended.
type Subscription struct {
	j   *Journal
	ch  chan Event
	err error // guarded by j.mu
}

// Subscribe replays the events with seq > after, then delivers live ones. A
// subscriber that falls SubscriberBuffer events behind is dropped: its channel
// is closed and Err says why. Call Close when done.
func (j *Journal) Subscribe(after int64) *Subscription {
	j.mu.Lock()
	defer j.mu.Unlock()
	var replay []Event
	for _, e := range j.events {
		if e.Seq > after {
			replay = append(replay, e)
		}
	}
	s := &Subscription{j: j, ch: make(chan Event, len(replay)+j.subBuffer)}
	for _, e := range replay {
		s.ch <- e
	}
	if j.f == nil {
		s.err = ErrClosed
		close(s.ch)
		return s
	}
	j.subs[s] = struct{}{}
	return s
}

// drop ends s; j.mu must be held.
func (j *Journal) drop(s *Subscription, why error) {
	delete(j.subs, s)
	s.err = why
	close(s.ch)
}

// C is the channel of events; it is closed when the subscription ends.
func (s *Subscription) C() <-chan Event { return s.ch }

// Err says why the channel was closed: ErrSlowSubscriber, ErrClosed, or nil
// after Close or while it is still open.
func (s *Subscription) Err() error {
	s.j.mu.Lock()
	defer s.j.mu.Unlock()
	return s.err
}

// Close ends the subscription. Safe to call more than once.
func (s *Subscription) Close() {
	s.j.mu.Lock()
	defer s.j.mu.Unlock()
	if _, ok := s.j.subs[s]; ok {
		delete(s.j.subs, s)
		close(s.ch)
	}
}
