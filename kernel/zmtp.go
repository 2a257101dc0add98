package kernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
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
	// limit is how many bytes of one frame are kept (<= 0: all). The rest
	// of a longer frame is read and discarded, through newMAC when the
	// frame is signed, so memory follows the limit, not the message.
	limit  int
	newMAC func() hash.Hash // nil when messages are not signed
}

// wireMsg is one received message: its frames, the frames cut at the
// channel's limit, and when a signed frame was cut, the hex HMAC of the
// full signed frames computed while they streamed past.
type wireMsg struct {
	frames [][]byte
	cut    []cutFrame
	sig    []byte
}

// cutFrame is a frame of which only the first limit bytes were kept.
type cutFrame struct {
	index int   // in wireMsg.frames
	size  int64 // its full size on the wire
}

// minKeep is the least a channel keeps of a frame, whatever its limit, so
// that the delimiter, signature and headers of a message are never cut.
const minKeep = 1024

// maxCommand bounds a ZMTP command frame (PING, ERROR...), read whole.
const maxCommand = 64 << 10

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
func dialChannel(ctx context.Context, name, endpoint string, typ zmq4.SocketType, id []byte, limit int, newMAC func() hash.Hash) (*channel, error) {
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
	return &channel{name: name, conn: wc, zc: zc, req: typ == zmq4.Req, limit: limit, newMAC: newMAC}, nil
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
func (ch *channel) recv() (*wireMsg, error) {
	for {
		w, cmd, err := ch.read()
		if err != nil {
			return nil, err
		}
		if cmd {
			if err := ch.command(w.frames); err != nil {
				return nil, err
			}
			continue
		}
		if ch.req && len(w.frames) > 0 && len(w.frames[0]) == 0 {
			w.frames = w.frames[1:]
			for i := range w.cut {
				w.cut[i].index--
			}
		}
		return w, nil
	}
}

// command answers a ZMTP PING with a PONG; other commands need nothing.
// https://rfc.zeromq.org/spec/37/#the-ping-command
func (ch *channel) command(frames [][]byte) error {
	if len(frames) != 1 {
		return fmt.Errorf("%s: a ZMTP command of %d frames, want 1", ch.name, len(frames))
	}
	f := frames[0]
	if len(f) == 0 || int(f[0]) > len(f)-1 {
		return fmt.Errorf("%s: malformed ZMTP command", ch.name)
	}
	if string(f[1:1+f[0]]) != zmq4.CmdPing {
		return nil
	}
	if err := ch.zc.SendCmd(zmq4.CmdPong, nil); err != nil {
		return fmt.Errorf("%s: pong: %w", ch.name, err)
	}
	return ch.conn.flushPending()
}

// read reads the frames of one ZMTP message or command. A message frame
// longer than ch.limit keeps its first ch.limit bytes; a command frame
// longer than maxCommand is an error.
// https://rfc.zeromq.org/spec/23/#formal-grammar
func (ch *channel) read() (w *wireMsg, cmd bool, err error) {
	r := ch.conn.r
	w = &wireMsg{}
	delim := -1
	var mac hash.Hash
	for more := true; more; {
		var hdr [9]byte
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return nil, false, err
		}
		flags := hdr[0]
		more = flags&0x01 != 0
		cmd = cmd || flags&0x04 != 0
		size := uint64(hdr[1])
		if flags&0x02 != 0 {
			if _, err := io.ReadFull(r, hdr[2:]); err != nil {
				return nil, false, err
			}
			size = binary.BigEndian.Uint64(hdr[1:])
		}
		if size > math.MaxInt64 {
			return nil, false, fmt.Errorf("%s: frame of %d bytes", ch.name, size)
		}
		i := len(w.frames)
		// The signed frames are header, parent header, metadata, content.
		signed := delim >= 0 && i >= delim+2 && i <= delim+5
		var body []byte
		switch {
		case cmd && size > maxCommand:
			return nil, false, fmt.Errorf("%s: ZMTP command of %d bytes, over %d", ch.name, size, maxCommand)
		case cmd || ch.limit <= 0 || size <= uint64(max(ch.limit, minKeep)):
			body = make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, false, err
			}
			if mac != nil && signed {
				mac.Write(body)
			}
		default:
			keep := max(ch.limit, minKeep)
			body = make([]byte, keep)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, false, err
			}
			w.cut = append(w.cut, cutFrame{index: i, size: int64(size)})
			rest := io.Writer(io.Discard)
			if signed && ch.newMAC != nil {
				if mac == nil {
					mac = ch.newMAC()
					for _, f := range w.frames[delim+2:] {
						mac.Write(f)
					}
				}
				mac.Write(body)
				rest = mac
			}
			if _, err := io.CopyN(rest, r, int64(size)-int64(keep)); err != nil {
				return nil, false, err
			}
		}
		if delim < 0 && bytes.Equal(body, delimiter) {
			delim = i
		}
		w.frames = append(w.frames, body)
	}
	if mac != nil {
		var sum [sha256.Size]byte
		w.sig = make([]byte, hex.EncodedLen(sha256.Size))
		hex.Encode(w.sig, mac.Sum(sum[:0]))
	}
	return w, cmd, nil
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
