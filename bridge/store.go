package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

// The bridge's cache (docs/architecture.md, "The bridge's cache"). Every
// experiment folder found under the root has an entry holding the summary the
// list shows; an experiment someone asked about also holds its whole fold
// (snapshot, and where each trial's events lie in the journal), kept current
// by reading only what the journal gained since (journal.Tail) whenever it is
// asked for, and at once while a websocket follows it. Requests and
// websockets share one fold per experiment; folds nobody asked about for a
// while are dropped, and made again when asked for.

const (
	// DefaultMaxFolds is how many experiments' folds are kept at most.
	DefaultMaxFolds = 100
	// DefaultFoldIdle is how long a fold nobody asks about is kept.
	DefaultFoldIdle = 10 * time.Minute
	// feedRing is how many recent events an experiment's websockets share;
	// a websocket further behind reads the journal itself.
	feedRing = 1024
)

type store struct {
	root     string
	maxFolds int
	idle     time.Duration
	folds    atomic.Int64 // entries holding a fold

	mu      sync.Mutex
	entries map[string]*entry // by folder

	// One list refresh runs at a time; a caller waits for one that started
	// after it asked, so a list is never older than the request for it.
	listMu   sync.Mutex
	started  int64         // refreshes started
	running  chan struct{} // closed when the refresh under way ends
	listing  *listing      // the last refresh's
	listedAt int64         // the number of the refresh that made listing
	walk     *walk         // the last walk of the root; refreshes use it while valid
	watch    *dirWatch     // the folders the walk looked at; nil: none (look at everything)
	watching bool          // watch was tried (it stays nil where there are no notifications)
}

// walk is what a walk of the root found.
type walk struct {
	at     time.Time
	looked map[string]time.Time // the folders it looked at, and their modification times
	found  []found              // sorted by id
}

type found struct {
	id, dir string
	err     error // the folder is not to be served (a symlink out of the root)
}

func newStore(root string, maxFolds int, idle time.Duration) *store {
	return &store{root: root, maxFolds: maxFolds, idle: idle, entries: map[string]*entry{}}
}

// entry is one experiment folder. Its fields after mu are guarded by it.
type entry struct {
	id, dir, path string // path: the journal

	mu     sync.Mutex
	seen   stamp           // the journal as sum knows it, when there is no fold
	sum    journal.Summary // valid unless sumErr
	sumErr string          // the journal cannot be read
	fold   *fold           // nil: not folded now
	used   time.Time       // last asked about (not listed)
	feed   *feed           // the websockets following it, if any
	view   cachedJSON      // the last View answered
	row    cachedRow       // the last list row
	pid    int             // the live process holding the folder's lock at the last list, 0 if none
}

// stamp is what a stat of the journal says.
type stamp struct {
	size int64
	mod  time.Time
	ok   bool // the journal exists
}

func stampOf(fi os.FileInfo) stamp {
	if fi == nil {
		return stamp{}
	}
	return stamp{size: fi.Size(), mod: fi.ModTime(), ok: true}
}

// fold is an experiment's journal folded, and where it was read up to.
type fold struct {
	tail   *journal.Tail
	snap   journal.Snapshot
	trials map[int][]journal.Span // where each trial's events lie
	err    error                  // the *journal.LineError the tail is stopped at
}

type cachedJSON struct {
	key viewKey
	b   []byte
}

// viewKey is everything a View depends on besides the fold's seq.
type viewKey struct {
	seq     int64
	live    bool
	lastRun time.Time
}

type cachedRow struct {
	sum Summary
	b   []byte
}

// entryFor returns the entry of the experiment folder dir (id relative to
// the root), making it if new.
func (x *store) entryFor(id, dir string) *entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.entries[dir]
	if e == nil {
		e = &entry{id: id, dir: dir, path: filepath.Join(dir, journalName)}
		x.entries[dir] = e
	}
	return e
}

// current brings e's fold up to its journal, making it from the whole
// journal if e has none or the journal was replaced, and updates e's summary
// from it. It reports whether it made a fold. e.mu must be held.
func (x *store) current(e *entry) (made bool) {
	if e.fold == nil {
		e.fold, made = newFold(e.path), true
		x.folds.Add(1)
		e.used = time.Now()
	}
	f := e.fold
	// Read even after an error: the tail stays at a bad line and says so
	// again, unless the journal was replaced (fixed) since.
	err := f.read(e.feed)
	if errors.Is(err, journal.ErrReplaced) {
		// What was folded is no longer the journal's start: fold it again,
		// and end the websockets (they reconnect and get the new snapshot).
		if e.feed != nil {
			e.feed.fail(err)
			e.feed = nil
		}
		e.fold, made = newFold(e.path), true
		f = e.fold
		err = f.read(nil)
	}
	f.err = err
	if err != nil && e.feed != nil {
		e.feed.fail(err)
	}
	e.sum, e.sumErr = f.snap.Summary(f.tail.Offset()), ""
	if f.err != nil {
		e.sumErr = f.err.Error()
	}
	return made
}

func newFold(path string) *fold {
	return &fold{tail: journal.NewTail(path), snap: journal.NewSnapshot(), trials: map[int][]journal.Span{}}
}

// read folds in what the journal gained, handing each event to the
// websockets of fd (nil: none).
func (f *fold) read(fd *feed) error {
	n := 0
	err := f.tail.Read(func(ev journal.Event, sp journal.Span) error {
		f.snap.Add(ev)
		if ev.Trial > 0 {
			f.trials[ev.Trial] = append(f.trials[ev.Trial], sp)
		}
		if fd != nil {
			fd.add(ev)
		}
		n++
		return nil
	})
	if n > 0 {
		f.snap.Settle()
		if fd != nil {
			fd.wake()
		}
	}
	return err
}

// drop forgets e's fold, keeping its summary. e.mu must be held.
func (x *store) drop(e *entry) {
	if e.fold == nil {
		return
	}
	e.seen = stampOf(e.fold.tail.File())
	e.fold = nil
	e.view = cachedJSON{}
	x.folds.Add(-1)
}

// evict drops the least recently asked-about folds beyond maxFolds, and
// those idle for longer than idle; followed experiments keep theirs.
func (x *store) evict() {
	x.mu.Lock()
	all := make([]*entry, 0, len(x.entries))
	for _, e := range x.entries {
		all = append(all, e)
	}
	x.mu.Unlock()
	type cand struct {
		e    *entry
		used time.Time
	}
	var cands []cand
	now := time.Now()
	for _, e := range all {
		e.mu.Lock()
		switch {
		case e.fold == nil || e.feed != nil:
		case now.Sub(e.used) > x.idle:
			x.drop(e)
		default:
			cands = append(cands, cand{e, e.used})
		}
		e.mu.Unlock()
	}
	over := int(x.folds.Load()) - x.maxFolds
	if over <= 0 {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].used.Before(cands[j].used) })
	for _, c := range cands[:min(over, len(cands))] {
		c.e.mu.Lock()
		if c.e.feed == nil && c.e.used.Equal(c.used) {
			x.drop(c.e)
		}
		c.e.mu.Unlock()
	}
}

// summarise brings e's summary up to date as cheaply as it can: from its
// fold if it has one, else from the summary file its writer keeps, else by
// folding it. e.mu must be held.
func (x *store) summarise(e *entry) (made bool) {
	if e.fold != nil {
		return x.current(e)
	}
	var now stamp
	if fi, err := os.Stat(e.path); err == nil {
		now = stampOf(fi)
	} else if !errors.Is(err, fs.ErrNotExist) {
		e.sumErr = fmt.Sprintf("read journal: %v", err)
		return false
	}
	switch {
	case now == e.seen && (e.sum.Status != "" || e.sumErr != ""):
		return false
	case !now.ok:
		s := journal.NewSnapshot()
		e.sum, e.sumErr, e.seen = s.Summary(0), "", now
		return false
	}
	if sum, ok, err := journal.ReadSummary(e.path); err == nil && ok {
		e.sum, e.sumErr, e.seen = sum, "", now
		return false
	}
	return x.current(e)
}

// withFold answers a request about an experiment: fn runs with its fold
// current and e.mu held.
func (x *store) withFold(e *entry, fn func(*fold) error) error {
	e.mu.Lock()
	made := x.current(e)
	e.used = time.Now()
	err := fn(e.fold)
	e.mu.Unlock()
	if made {
		x.evict()
	}
	return err
}

// feed shares an experiment's new events among the websockets that follow
// it: the reader that folds the journal encodes each event once, into a ring
// that every websocket reads from at its own pace. It is guarded by its
// entry's mu.
type feed struct {
	id      string
	subs    int
	stop    context.CancelFunc // the watcher
	from    int64              // the ring holds every event after this seq
	ring    []fedEvent
	changed chan struct{} // closed when the ring grows or err is set
	err     error         // the journal became unreadable: websockets say so and end
}

type fedEvent struct {
	seq int64
	msg *websocket.PreparedMessage
}

func (fd *feed) add(ev journal.Event) {
	b, err := json.Marshal(Message{Kind: "event", Experiment: fd.id, Event: &ev})
	if err == nil {
		var pm *websocket.PreparedMessage
		if pm, err = websocket.NewPreparedMessage(websocket.TextMessage, b); err == nil {
			fd.ring = append(fd.ring, fedEvent{seq: ev.Seq, msg: pm})
		}
	}
	if err != nil {
		fd.fail(fmt.Errorf("send event %d: %w", ev.Seq, err))
		return
	}
	if len(fd.ring) >= 2*feedRing {
		// Drop the older half at once, so that the ring is copied once per
		// feedRing events rather than once per event.
		fd.from = fd.ring[feedRing-1].seq
		fd.ring = append(fd.ring[:0], fd.ring[feedRing:]...)
	}
}

func (fd *feed) wake() {
	close(fd.changed)
	fd.changed = make(chan struct{})
}

func (fd *feed) fail(err error) {
	if fd.err == nil {
		fd.err = err
		fd.wake()
	}
}

// follower is one websocket's place in an experiment's feed.
type follower struct {
	x  *store
	e  *entry
	fd *feed
}

// follow makes e's fold current, runs fn with it (under e.mu, to take the
// snapshot the websocket starts from), and joins e's feed, starting the one
// reader that follows the journal for all its websockets if it is the first.
// Call leave when done.
func (x *store) follow(e *entry, fn func(*fold) error) (*follower, error) {
	e.mu.Lock()
	made := x.current(e)
	e.used = time.Now()
	err := fn(e.fold)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	if e.feed == nil {
		ctx, cancel := context.WithCancel(context.Background())
		e.feed = &feed{id: e.id, stop: cancel, from: e.fold.snap.Seq, changed: make(chan struct{})}
		go x.followJournal(ctx, e)
	}
	fd := e.feed
	fd.subs++
	e.mu.Unlock()
	if made {
		x.evict()
	}
	return &follower{x: x, e: e, fd: fd}, nil
}

// followJournal reads e's journal whenever it may have grown, until ctx ends.
func (x *store) followJournal(ctx context.Context, e *entry) {
	for range journal.Watch(ctx, e.path) {
		e.mu.Lock()
		made := x.current(e)
		e.mu.Unlock()
		if made {
			x.evict()
		}
	}
}

func (f *follower) leave() {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	f.fd.subs--
	if f.fd.subs == 0 {
		f.fd.stop()
		if f.e.feed == f.fd {
			f.e.feed = nil
			f.e.used = time.Now() // idle from now on
		}
		f.x.mu.Lock()
		gone := f.x.entries[f.e.dir] != f.e
		f.x.mu.Unlock()
		if gone && f.e.feed == nil {
			f.x.drop(f.e) // its folder stopped being an experiment while followed
		}
	}
}

// errBehind says a websocket is further behind than the shared ring reaches.
var errBehind = errors.New("behind the feed")

// after returns the encoded events after seq that the ring holds, and a
// channel closed when there are more; errBehind if the ring no longer reaches
// back to seq, or the error that ended the feed.
func (f *follower) after(seq int64) ([]fedEvent, <-chan struct{}, error) {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	fd := f.fd
	if fd.err != nil {
		return nil, nil, fd.err
	}
	if seq < fd.from {
		return nil, nil, errBehind
	}
	i := sort.Search(len(fd.ring), func(i int) bool { return fd.ring[i].seq > seq })
	return append([]fedEvent(nil), fd.ring[i:]...), fd.changed, nil
}

// listing is one refresh of the experiment list, encoded.
type listing struct {
	rows   [][]byte
	body   []byte // the answer to GET /api/experiments
	wsOnce sync.Once
	ws     []byte // the websocket's "experiments" message, made when first asked for
}

// message is the list websocket's "experiments" message.
func (l *listing) message() []byte {
	l.wsOnce.Do(func() { l.ws = joinRows([]byte(`{"kind":"experiments","experiments":`), l.rows, "}") })
	return l.ws
}

// list returns the experiment list from a refresh that started after the
// call: many callers at once share one refresh, and none gets a list older
// than its request.
func (s *Server) list(ctx context.Context) (*listing, error) {
	x := s.store
	x.listMu.Lock()
	need := x.started + 1
	for {
		if x.listing != nil && x.listedAt >= need {
			l := x.listing
			x.listMu.Unlock()
			return l, nil
		}
		if wait := x.running; wait != nil {
			x.listMu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			x.listMu.Lock()
			continue
		}
		x.started++
		n, done := x.started, make(chan struct{})
		x.running = done
		prev := x.listing
		x.listMu.Unlock()
		l, err := s.refreshList(ctx, prev)
		x.listMu.Lock()
		x.running = nil
		close(done)
		if err != nil {
			x.listMu.Unlock()
			return nil, err
		}
		x.listing, x.listedAt = l, n
	}
}

// refreshList finds the experiment folders (one walk of the root), brings
// each one's summary up to date (a stat of its journal when nothing changed)
// and encodes the list, reusing prev's encoding when no row changed.
func (s *Server) refreshList(ctx context.Context, prev *listing) (*listing, error) {
	x := s.store
	touched, entries, all := map[string]bool(nil), map[string]bool(nil), true
	if x.watch != nil {
		touched, entries, all = x.watch.changed()
	}
	w, err := s.experiments(entries, all)
	if err != nil {
		return nil, err
	}
	rows := make([][]byte, 0, len(w.found))
	seen := make(map[string]bool, len(w.found))
	changed := prev == nil || len(prev.rows) != len(w.found)
	for i, f := range w.found {
		var row []byte
		if f.err != nil {
			row, _ = json.Marshal(Summary{ID: f.id, Name: filepath.Base(f.dir), Status: journal.StatusCreated, Error: f.err.Error()})
		} else {
			seen[f.dir] = true
			dirty := all || touched[f.dir] || touched[filepath.Join(f.dir, ".trialbook")]
			row = s.listRow(ctx, s.store.entryFor(f.id, f.dir), dirty)
		}
		changed = changed || string(row) != string(prev.rows[i])
		rows = append(rows, row)
	}
	s.store.forget(seen)
	s.mu.Lock()
	for dir := range s.described {
		if !seen[dir] {
			delete(s.described, dir)
		}
	}
	s.mu.Unlock()
	s.store.evict()
	if !changed {
		return prev, nil
	}
	l := &listing{rows: rows}
	root, _ := json.Marshal(s.root)
	l.body = joinRows([]byte(`{"root":`+string(root)+`,"experiments":`), rows, "}\n")
	return l, nil
}

func joinRows(head []byte, rows [][]byte, end string) []byte {
	n := len(head) + len(end) + 2
	for _, r := range rows {
		n += len(r) + 1
	}
	b := append(make([]byte, 0, n), head...)
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(append(b, ']'), end...)
}

// experiments is the last walk of the root while it would find the same
// experiments, else a new one: with a watch, while no folder it looked at
// gained or lost an entry (entries; all: anything may have); without one,
// while walkValid says so. Only list refreshes call it, one at a time.
func (s *Server) experiments(entries map[string]bool, all bool) (*walk, error) {
	x := s.store
	if w := x.walk; w != nil {
		valid := !all
		if x.watch == nil {
			valid = walkValid(w.looked, w.at)
		}
		for dir := range entries {
			if _, ok := w.looked[dir]; ok {
				valid = false
				break
			}
		}
		if valid {
			return w, nil
		}
	}
	if !x.watching {
		x.watching = true
		x.watch = newDirWatch()
	}
	// Each folder is watched before it is read, so nothing that changes it
	// after goes unseen.
	look := func(dir string) {
		if x.watch == nil {
			return
		}
		err := x.watch.add(dir)
		if err == nil {
			err = x.watch.add(filepath.Join(dir, ".trialbook")) // the lock and the summary
		}
		if err != nil { // out of watches: look at everything from now on
			x.watch.close()
			x.watch = nil
		}
	}
	at := time.Now()
	ids, looked, err := findExperiments(s.root, look)
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	w := &walk{at: at, looked: looked, found: make([]found, len(ids))}
	for i, id := range ids {
		dir, err := s.scannedDir(id)
		w.found[i] = found{id: id, dir: dir, err: err}
	}
	x.walk = w
	return w, nil
}

// scannedDir is the folder of an experiment the walk found. The walk follows
// no symlinks, so only a journal or problem file that is one needs the full
// check that it stays inside the root.
func (s *Server) scannedDir(id string) (string, error) {
	dir := filepath.Join(s.root, filepath.FromSlash(id))
	for _, name := range []string{journalName, problemFile} {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if _, err := s.experimentDir(id); err != nil {
				return dir, err
			}
		}
	}
	return dir, nil
}

// listRow is e's row of the list, encoded; the encoding is kept while the
// row does not change.
func (s *Server) listRow(ctx context.Context, e *entry, dirty bool) []byte {
	e.mu.Lock()
	if !dirty && e.row.b != nil && e.pid == 0 {
		// Nothing in its folder changed, and no process held it: as it was.
		defer e.mu.Unlock()
		return e.row.b
	}
	e.mu.Unlock()
	live, pid, _ := journal.Locked(e.dir)
	e.mu.Lock()
	e.pid = pid
	made := s.store.summarise(e)
	sum := e.summary()
	e.mu.Unlock()
	if made {
		s.store.evict()
	}
	sum.Live = live
	if sum.Problem == nil && sum.Error == "" {
		sum.Problem, sum.Error = s.describe(ctx, e.dir)
		if sum.Problem != nil && sum.Counts.Total == 0 {
			sum.Counts.Total = sum.Problem.Trials
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.row.b == nil || e.row.sum != sum {
		b, _ := json.Marshal(sum)
		e.row = cachedRow{sum: sum, b: b}
	}
	return e.row.b
}

// Close lets go of what the server holds for list refreshes (its folder
// watch); Serve calls it as it returns.
func (s *Server) Close() {
	x := s.store
	x.listMu.Lock()
	defer x.listMu.Unlock()
	for x.running != nil {
		wait := x.running
		x.listMu.Unlock()
		<-wait
		x.listMu.Lock()
	}
	if x.watch != nil {
		x.watch.close()
		x.watch = nil
	}
	x.watching = true // no new watch
}

// summary is e's row of the list, less what the bridge adds (Live, and the
// problem of an unstarted experiment). e.mu must be held.
func (e *entry) summary() Summary {
	sum := Summary{ID: e.id, Name: filepath.Base(e.dir), Status: journal.StatusCreated}
	if e.sumErr != "" {
		sum.Error = e.sumErr
		return sum
	}
	sum.Status, sum.Seq, sum.Problem, sum.Counts, sum.Best, sum.UpdatedAt = e.sum.Status, e.sum.Seq, e.sum.Problem, e.sum.Counts, e.sum.Best, e.sum.UpdatedAt
	if sum.Problem != nil && sum.Problem.Name != "" {
		sum.Name = sum.Problem.Name
	}
	return sum
}

// forget drops the entries of folders that are no longer experiments.
// Websockets following one keep it until they end.
func (x *store) forget(seen map[string]bool) {
	x.mu.Lock()
	var gone []*entry
	for dir, e := range x.entries {
		if !seen[dir] {
			gone = append(gone, e)
			delete(x.entries, dir)
		}
	}
	x.mu.Unlock()
	for _, e := range gone {
		e.mu.Lock()
		if e.feed == nil {
			x.drop(e)
		}
		e.mu.Unlock()
	}
}
