package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"trialbook/journal"
)

// Message is one websocket message from the server (docs/api.md).
type Message struct {
	Kind       string         `json:"kind"` // snapshot, event, live, run, error; the list is a ListMessage
	Experiment string         `json:"experiment,omitempty"`
	Snapshot   *View          `json:"snapshot,omitempty"`
	Event      *journal.Event `json:"event,omitempty"`
	Live       *bool          `json:"live,omitempty"`
	Run        *RunExit       `json:"run,omitempty"` // kind "run": a run this bridge started has ended
	Error      string         `json:"error,omitempty"`
}

// Close codes the server ends a websocket with.
const (
	CloseBadJournal = websocket.CloseInternalServerErr // 1011, after an "error" message
	pingEvery       = 30 * time.Second
)

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("experiment")
	after := int64(-1)
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("after=%q: want the last seq seen, 0 or more", a))
			return
		}
		after = n
	}
	var dir string
	if id != "" {
		var err error
		if dir, err = s.experimentDir(id); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	up := websocket.Upgrader{
		// The guard has checked Origin already; checking again here keeps the
		// websocket safe should the handler ever be mounted without it.
		CheckOrigin: s.guard.originAllowed,
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Read only to notice the client leaving (and to answer its pings).
	conn.SetReadLimit(4096)
	go func() {
		defer cancel()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ws := &wsConn{conn: conn, timeout: s.opts.WriteTimeout}
	if id == "" {
		s.streamList(ctx, ws)
		return
	}
	s.streamExperiment(ctx, ws, id, dir, after)
}

// wsConn writes messages with a deadline; only one goroutine writes.
type wsConn struct {
	conn    *websocket.Conn
	timeout time.Duration
}

// ListMessage is the "experiments" message: unlike Message it always
// carries the list, even an empty one.
type ListMessage struct {
	Kind        string    `json:"kind"` // experiments
	Experiments []Summary `json:"experiments"`
}

func (c *wsConn) send(m any) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.conn.WriteJSON(m)
}

func (c *wsConn) ping() error {
	return c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.timeout))
}

func (c *wsConn) close(code int, text string) {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

func (c *wsConn) sendPrepared(m *websocket.PreparedMessage) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.conn.WritePreparedMessage(m)
}

func (c *wsConn) sendEncoded(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

// streamExperiment sends the snapshot (unless the client passed the seq it
// has), then every event after it, in order, as the journal grows.
func (s *Server) streamExperiment(ctx context.Context, ws *wsConn, id, dir string, after int64) {
	live, _, _ := journal.Locked(dir)
	lastRun, _ := s.lastExit(dir)
	e := s.store.entryFor(id, dir)
	var snap journal.Snapshot
	// Joining the experiment's feed and taking the snapshot happen together,
	// so the feed holds every event after the snapshot.
	fl, err := s.store.follow(e, func(f *fold) error {
		if f.err != nil {
			return f.err
		}
		snap = f.snap.Clone()
		return nil
	})
	if err != nil {
		_ = ws.send(Message{Kind: "error", Experiment: id, Error: err.Error()})
		ws.close(CloseBadJournal, "journal unreadable")
		return
	}
	defer fl.leave()
	v := s.view(ctx, id, dir, snap, live, lastRun)
	exitAt := lastRun.At
	seq := after
	// A client that has nothing, or claims a seq this journal never reached
	// (it was replaced), starts over from a snapshot.
	if after < 0 || after > v.Seq {
		if err := ws.send(Message{Kind: "snapshot", Experiment: id, Snapshot: &v}); err != nil {
			return
		}
		seq = v.Seq
	} else if err := ws.send(Message{Kind: "live", Experiment: id, Live: &live}); err != nil {
		return
	}

	// The experiment's one reader (store.watch) folds what the journal gains
	// and encodes each event once for every websocket; each takes them at
	// its own pace, and one that falls further behind than the shared ring
	// reads the journal itself, so a slow client costs neither memory nor the
	// experiment anything. One that stops reading is dropped when a write to
	// it times out.
	tick := time.NewTicker(s.opts.ListPoll)
	defer tick.Stop()
	lastPing := time.Now()
	dropped := func(err error) {
		s.log.Debug().Err(err).Str("experiment", id).Int64("seq", seq).Msg("websocket client dropped")
		select {
		case s.dropped <- id: // nil outside tests: never ready
		default:
		}
	}
	for {
		events, more, err := fl.after(seq)
		if errors.Is(err, errBehind) {
			err = s.replay(ws, id, e.path, &seq)
			if errors.Is(err, errClientGone) {
				dropped(err)
				return
			}
			if err == nil {
				continue
			}
		}
		if err != nil {
			_ = ws.send(Message{Kind: "error", Experiment: id, Error: err.Error()})
			ws.close(CloseBadJournal, "journal unreadable")
			return
		}
		for _, fe := range events {
			if err := ws.sendPrepared(fe.msg); err != nil {
				dropped(err)
				return
			}
			seq = fe.seq
		}
		if len(events) > 0 {
			continue
		}
		select {
		case <-more:
		case <-ctx.Done():
			ws.close(websocket.CloseGoingAway, "server stopping")
			return
		case <-tick.C:
			if ex, ok := s.lastExit(dir); ok && !ex.At.Equal(exitAt) {
				exitAt = ex.At
				if err := ws.send(Message{Kind: "run", Experiment: id, Run: &ex}); err != nil {
					return
				}
			}
			if now, _, _ := journal.Locked(dir); now != live {
				live = now
				if err := ws.send(Message{Kind: "live", Experiment: id, Live: &live}); err != nil {
					return
				}
			}
			if time.Since(lastPing) >= pingEvery {
				if err := ws.ping(); err != nil {
					return
				}
				lastPing = time.Now()
			}
		}
	}
}

// errClientGone is a websocket write that failed.
var errClientGone = errors.New("websocket client gone")

// replay sends a client further behind than the experiment's shared feed
// the events after *seq from the journal itself, up to its end.
func (s *Server) replay(ws *wsConn, id, path string, seq *int64) error {
	return journal.NewTail(path).Read(func(ev journal.Event, _ journal.Span) error {
		if ev.Seq <= *seq {
			return nil
		}
		if err := ws.send(Message{Kind: "event", Experiment: id, Event: &ev}); err != nil {
			return fmt.Errorf("%w: %v", errClientGone, err)
		}
		*seq = ev.Seq
		return nil
	})
}

// streamList sends the experiment list, and again whenever it changes.
func (s *Server) streamList(ctx context.Context, ws *wsConn) {
	tick := time.NewTicker(s.opts.ListPoll)
	defer tick.Stop()
	var last []byte
	lastPing := time.Now()
	for {
		l, err := s.list(ctx)
		if err != nil {
			if ctx.Err() != nil {
				ws.close(websocket.CloseGoingAway, "server stopping")
				return
			}
			_ = ws.send(Message{Kind: "error", Error: err.Error()})
			ws.close(CloseBadJournal, "cannot list experiments")
			return
		}
		if msg := l.message(); !bytes.Equal(msg, last) {
			if err := ws.sendEncoded(msg); err != nil {
				return
			}
			last = msg
		}
		if time.Since(lastPing) >= pingEvery {
			if err := ws.ping(); err != nil {
				return
			}
			lastPing = time.Now()
		}
		select {
		case <-ctx.Done():
			ws.close(websocket.CloseGoingAway, "server stopping")
			return
		case <-tick.C:
		}
	}
}
