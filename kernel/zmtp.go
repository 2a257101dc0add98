package kernel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// channel is one ZeroMQ connection from the client to a kernel socket.
//
// Each client socket has exactly one peer, so trialbook speaks ZMTP through
// zmq4's Conn (handshake and frame reading) rather than zmq4's sockets, whose
// queues and per-send goroutines cost several goroutine hand-offs per
// message. Reads go through a buffer; a message is written with one writev.
type channel struct {
	name string
	conn *wireConn
	zc   *zmq4.Conn
	req  bool // REQ: an empty delimiter frame precedes the message
}

// wireConn is the network connection under a channel. zmq4 writes on it
// only during the handshake (directly) and to answer a ZMTP PING (buffered
// in pending, written whole by recv); messages are written by send.
type wireConn struct {
	net.Conn
	r *bufio.Reader

	mu          sync.Mutex
	handshaking bool
	pending     []byte
}

func (c *wireConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *wireConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handshaking {
		return c.Conn.Write(p)
	}
	c.pending = append(c.pending, p...)
	return len(p), nil
}

func (c *wireConn) flushPending() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// splitEndpoint turns a ZeroMQ endpoint into a Go network and address.
func splitEndpoint(endpoint string) (network, addr string, err error) {
	switch {
	case strings.HasPrefix(endpoint, "tcp://"):
		return "tcp", endpoint[len("tcp://"):], nil
	case strings.HasPrefix(endpoint, "ipc://"):
		return "unix", endpoint[len("ipc://"):], nil
	}
	return "", "", fmt.Errorf("endpoint %q: want tcp:// or ipc://", endpoint)
}

// dialChannel connects to a kernel socket, retrying every few milliseconds
// until the kernel has bound it or ctx ends, then does the ZMTP handshake.
func dialChannel(ctx context.Context, name, endpoint string, typ zmq4.SocketType, id []byte) (*channel, error) {
	network, addr, err := splitEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var nc net.Conn
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		nc, err = d.DialContext(ctx, network, addr)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect %s: %w", name, ctx.Err())
		}
		retry.Reset(5 * time.Millisecond)
		select {
		case <-retry.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w", name, ctx.Err())
		}
	}
	wc := &wireConn{Conn: nc, r: bufio.NewReaderSize(nc, 64<<10), handshaking: true}
	// A peer that accepts but never answers (a stopped kernel) would block
	// the handshake forever; ctx closes the connection under it.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	var sid zmq4.SocketIdentity
	if id != nil {
		sid = zmq4.SocketIdentity(id)
	}
	zc, err := zmq4.Open(wc, null.Security(), typ, sid, false, nil)
	if !stop() {
		return nil, fmt.Errorf("connect %s: %w", name, ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	wc.mu.Lock()
	wc.handshaking = false
	wc.mu.Unlock()
	return &channel{name: name, conn: wc, zc: zc, req: typ == zmq4.Req}, nil
}

// send writes one multipart message.
func (ch *channel) send(frames [][]byte) error {
	if ch.req {
		frames = append([][]byte{{}}, frames...)
	}
	bufs := make(net.Buffers, 0, 2*len(frames))
	hdrs := make([]byte, 9*len(frames))
	for i, f := range frames {
		var flag byte
		if i < len(frames)-1 {
			flag |= 0x01 // MORE
		}
		h := hdrs[9*i : 9*i]
		if len(f) > 255 {
			h = append(h, flag|0x02) // LONG
			h = binary.BigEndian.AppendUint64(h, uint64(len(f)))
		} else {
			h = append(h, flag, byte(len(f)))
		}
		bufs = append(bufs, h, f)
	}
	ch.conn.mu.Lock()
	defer ch.conn.mu.Unlock()
	if _, err := bufs.WriteTo(ch.conn.Conn); err != nil {
		return fmt.Errorf("%s: %w", ch.name, err)
	}
	return nil
}

// recv reads the next message, answering ZMTP commands on the way.
func (ch *channel) recv() ([][]byte, error) {
	for {
		msg, err := ch.zc.RecvMsg()
		if err != nil {
			return nil, err
		}
		if msg.Type == zmq4.CmdMsg {
			if err := ch.conn.flushPending(); err != nil {
				return nil, err
			}
			continue
		}
		frames := msg.Frames
		if ch.req && len(frames) > 0 && len(frames[0]) == 0 {
			frames = frames[1:]
		}
		return frames, nil
	}
}

// subscribe sends a SUB subscription to everything, as a ZMTP 3.0 message.
func (ch *channel) subscribe() error { return ch.send([][]byte{{1}}) }

func (ch *channel) close() error {
	if ch == nil {
		return nil
	}
	err := ch.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
