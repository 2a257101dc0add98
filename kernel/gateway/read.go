package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gorilla/websocket"

	"trialbook/kernel"
)

// minKeep is the least kept of a message part whatever the limit, as the
// kernel package keeps of a ZeroMQ frame, so headers are never cut.
const minKeep = 1024

// maxParts bounds the part count of a binary frame (the JSON message and
// its buffers); a count over it is a corrupt frame, not a message.
const maxParts = 1 << 16

// errMalformed marks a websocket message that is not a kernel message:
// Recv returns it and the kernel drops that message, counts it and reads
// the next one.
var errMalformed = kernel.ErrMalformed

// reader reads the server's websocket messages one at a time, streaming
// each through a small buffer rather than holding it whole: it keeps at
// most keep bytes of a message's content and of each of its buffers
// (StartOptions.MaxMessage, as the ZeroMQ channels apply it) and reads past
// the rest, so memory follows the limit, not the message.
type reader struct {
	br      *bufio.Reader
	scratch [256]byte // keys and the channel name
	limit   int       // StartOptions.MessageLimit: the limit named in notes; 0 none
	keep    int       // bytes kept of a part: max(limit, minKeep), or all
}

func newReader(limit int) *reader {
	keep := math.MaxInt
	if limit > 0 {
		keep = max(limit, minKeep)
	}
	return &reader{br: bufio.NewReaderSize(nil, 64<<10), limit: limit, keep: keep}
}

// fields are what a message's JSON holds that the client uses.
type fields struct {
	header, parent, meta []byte
	content              []byte // its first keep bytes
	contentSize          int64  // the content's full size
	channel              string
}

// read decodes one websocket message from r, of type typ. An error
// wrapping errMalformed means this message is unusable but the connection
// is fine; any other is the connection's.
func (rd *reader) read(typ int, r io.Reader) (string, *kernel.Message, error) {
	var (
		f       fields
		buffers [][]byte
		cut     int64 // the full size of a buffer over the limit
		err     error
	)
	switch typ {
	case websocket.TextMessage:
		rd.br.Reset(r)
		f, err = rd.object()
	case websocket.BinaryMessage:
		f, buffers, cut, err = rd.binary(r)
	default:
		return "", nil, fmt.Errorf("%w: websocket message of type %d", errMalformed, typ)
	}
	rd.br.Reset(nil) // hold no reference to the message's reader
	if err != nil {
		return "", nil, err
	}
	m := &kernel.Message{Buffers: buffers}
	if err := m.Header.UnmarshalJSON(f.header); err != nil {
		return "", nil, fmt.Errorf("%w: header: %v", errMalformed, err)
	}
	if m.Header.MsgType == "" {
		return "", nil, fmt.Errorf("%w: header has no msg_type", errMalformed)
	}
	if len(f.parent) > 0 {
		if err := m.ParentHeader.UnmarshalJSON(f.parent); err != nil {
			return "", nil, fmt.Errorf("%w: parent_header: %v", errMalformed, err)
		}
	}
	if len(f.meta) > 2 { // "{}" is the common case
		if err := json.Unmarshal(f.meta, &m.Metadata); err != nil {
			return "", nil, fmt.Errorf("%w: metadata: %v", errMalformed, err)
		}
	}
	m.RawContent = f.content
	if contentCut := f.contentSize > int64(len(f.content)); contentCut || cut > 0 {
		m.CutShort(rd.limit, max(f.contentSize, cut), contentCut)
		return f.channel, m, nil
	}
	if len(m.RawContent) == 0 {
		m.RawContent = json.RawMessage("{}")
	}
	m.DecodeContent()
	if _, raw := m.Content.(json.RawMessage); raw && !json.Valid(m.RawContent) {
		return "", nil, fmt.Errorf("%w: content of %s is not JSON", errMalformed, m.Header.MsgType)
	}
	return f.channel, m, nil
}

// object reads the message's JSON object from rd.br, keeping its parts.
// Jupyter Server writes the deserialized message with "content" after the
// headers and metadata and before "buffers" and "channel" (json.dumps of
// jupyter_client's Session.deserialize dict, "channel" added last), but
// the keys are read in whatever order they come: the channel of a message
// whose content was cut is read from the message itself, after the
// content, not guessed from its type.
func (rd *reader) object() (fields, error) {
	var f fields
	if err := rd.expect('{'); err != nil {
		return f, err
	}
	for first := true; ; first = false {
		c, err := rd.nextByte()
		if err != nil {
			return f, err
		}
		if c == '}' {
			break // a trailing comma leaves '}' where a key belongs: an error below
		}
		if first {
			if err := rd.br.UnreadByte(); err != nil {
				return f, err
			}
		} else if c != ',' {
			return f, fmt.Errorf("%w: %q after a value, want ',' or '}'", errMalformed, c)
		}
		key, err := rd.key()
		if err != nil {
			return f, err
		}
		if err := rd.expect(':'); err != nil {
			return f, err
		}
		var dst *[]byte
		switch key {
		case "header":
			dst = &f.header
		case "parent_header":
			dst = &f.parent
		case "metadata":
			dst = &f.meta
		case "content":
			if f.content, f.contentSize, err = rd.value(nil, rd.keep); err != nil {
				return f, err
			}
			continue
		case "channel":
			raw, size, err := rd.value(rd.scratch[:0], len(rd.scratch))
			if err != nil {
				return f, err
			}
			if size != int64(len(raw)) || json.Unmarshal(raw, &f.channel) != nil {
				return f, fmt.Errorf("%w: channel %.40q is not a channel name", errMalformed, raw)
			}
			continue
		default: // msg_id and msg_type (copies of the header's), buffers ([] in a text message)
			if _, _, err := rd.value(nil, 0); err != nil {
				return f, err
			}
			continue
		}
		raw, size, err := rd.value(nil, rd.keep)
		if err != nil {
			return f, err
		}
		if size > int64(len(raw)) {
			return f, fmt.Errorf("%w: %s of %d bytes, over the %d-byte message limit", errMalformed, key, size, rd.limit)
		}
		*dst = raw
	}
	if f.header == nil {
		return f, fmt.Errorf("%w: no header", errMalformed)
	}
	return f, nil
}

// nextByte returns the next byte that is not JSON white space.
func (rd *reader) nextByte() (byte, error) {
	for {
		c, err := rd.br.ReadByte()
		if err != nil {
			return 0, eof(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (rd *reader) expect(want byte) error {
	c, err := rd.nextByte()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("%w: %q where %q belongs", errMalformed, c, want)
	}
	return nil
}

// eof turns the end of a message before its JSON or its binary parts end
// into a malformed message. A connection that fails mid-message gives
// gorilla/websocket's own error, kept as it is.
func eof(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: it ends early", errMalformed)
	}
	return err
}

// key reads an object key: "" for a key too long to be one the client
// uses. Keys are read into rd.scratch, without allocating.
func (rd *reader) key() (string, error) {
	raw, size, err := rd.value(rd.scratch[:0], len(rd.scratch))
	if err != nil || size > int64(len(raw)) {
		return "", err
	}
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return keyName(raw[1 : len(raw)-1]), nil
	}
	var key string
	if err := json.Unmarshal(raw, &key); err != nil {
		return "", fmt.Errorf("%w: key: %v", errMalformed, err)
	}
	return key, nil
}

// keyName returns the key the client uses that b spells, or "".
func keyName(b []byte) string {
	switch string(b) {
	case "header":
		return "header"
	case "parent_header":
		return "parent_header"
	case "metadata":
		return "metadata"
	case "content":
		return "content"
	case "channel":
		return "channel"
	}
	return ""
}

// value reads the JSON value at rd.br, appending its first keep bytes to
// dst (nil: a new slice), and returns them with the value's full size. It
// follows only the value's nesting and strings to find its end (the kept
// bytes are checked when decoded), scanning runs of string text without
// copying them.
func (rd *reader) value(dst []byte, keep int) (raw []byte, size int64, err error) {
	raw = dst
	if _, err := rd.nextByte(); err != nil {
		return nil, 0, err
	}
	if err := rd.br.UnreadByte(); err != nil {
		return nil, 0, err
	}
	var s scanState
	for {
		if _, err := rd.br.Peek(1); err != nil {
			return nil, size, eof(err)
		}
		buf, _ := rd.br.Peek(rd.br.Buffered())
		n, done, err := s.scan(buf)
		if err != nil {
			return nil, size, err
		}
		if room := keep - len(raw); room > 0 {
			raw = appendCapped(raw, buf[:min(n, room)], keep)
		}
		size += int64(n)
		if _, err := rd.br.Discard(n); err != nil {
			return nil, size, err
		}
		if done {
			return raw, size, nil
		}
	}
}

// appendCapped appends p to b, growing b no further than limit bytes of
// capacity, so a kept part costs its size and not up to twice it.
func appendCapped(b, p []byte, limit int) []byte {
	if need := len(b) + len(p); need > cap(b) {
		grown := make([]byte, len(b), min(max(2*cap(b), need, 512), max(limit, need)))
		copy(grown, b)
		b = grown
	}
	return append(b, p...)
}

// scanState follows one JSON value through the chunks it arrives in.
type scanState struct {
	depth   int  // open objects and arrays
	str     bool // inside a string
	esc     bool // after a backslash in a string
	started bool // the value has begun
}

// scan consumes buf up to the end of the value, returning how many bytes
// belong to it and whether it ended.
func (s *scanState) scan(buf []byte) (int, bool, error) {
	i := 0
	quote := -1 // the next '"' in buf at or after i, once searched for
	for i < len(buf) {
		if s.str {
			if s.esc {
				s.esc = false
				i++
				continue
			}
			// A run of text ends at a backslash or at the next quote: find
			// both with vectorized searches, the quote once per run of
			// escapes (else text full of \n would be scanned quadratically).
			if quote < i {
				quote = len(buf)
				if q := bytes.IndexByte(buf[i:], '"'); q >= 0 {
					quote = i + q
				}
			}
			if b := bytes.IndexByte(buf[i:quote], '\\'); b >= 0 {
				s.esc = true
				i += b + 1
				continue
			}
			i = quote
			if i == len(buf) {
				break
			}
			s.str = false
			i++
			if s.depth == 0 {
				return i, true, nil
			}
			continue
		}
		switch c := buf[i]; c {
		case '"':
			s.str, s.started = true, true
		case '{', '[':
			s.depth++
			s.started = true
		case '}', ']':
			if s.depth == 0 {
				if s.started {
					return i, true, nil // the end of a number or literal
				}
				return 0, false, fmt.Errorf("%w: %q where a value belongs", errMalformed, c)
			}
			s.depth--
			if s.depth == 0 {
				return i + 1, true, nil
			}
		case ',', ' ', '\t', '\n', '\r':
			if s.depth == 0 {
				if s.started {
					return i, true, nil
				}
				return 0, false, fmt.Errorf("%w: %q where a value belongs", errMalformed, c)
			}
		default:
			s.started = true
		}
		i++
	}
	return i, false, nil
}

// binary reads the legacy binary frame: a big-endian uint32 count n, n
// uint32 offsets from the frame's start (the first is that of the JSON
// message, the rest of the buffers), then the parts. The offsets come
// first, so every part but the last is read knowing its size. It returns
// the largest size of a buffer over the limit, or 0.
func (rd *reader) binary(r io.Reader) (fields, [][]byte, int64, error) {
	var f fields
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return f, nil, 0, eof(err)
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if n < 1 || n > maxParts {
		return f, nil, 0, fmt.Errorf("%w: binary frame of %d parts", errMalformed, n)
	}
	offs := make([]byte, 4*n)
	if _, err := io.ReadFull(r, offs); err != nil {
		return f, nil, 0, eof(err)
	}
	pos := 4 + 4*n
	start := make([]int64, n+1)
	for i := range n {
		start[i] = int64(binary.BigEndian.Uint32(offs[4*i:]))
		if start[i] < pos || i > 0 && start[i] < start[i-1] {
			return f, nil, 0, fmt.Errorf("%w: binary frame offsets %v", errMalformed, start[:i+1])
		}
	}
	start[n] = -1 // the last part runs to the end of the frame
	var (
		buffers [][]byte
		cut     int64
	)
	for i := range n {
		// Skip any gap before the part.
		if _, err := io.CopyN(io.Discard, r, start[i]-pos); err != nil {
			return f, nil, 0, eof(err)
		}
		part, partSize := r, int64(-1)
		if start[i+1] >= 0 {
			partSize = start[i+1] - start[i]
			part = io.LimitReader(r, partSize)
		}
		if i == 0 {
			rd.br.Reset(part)
			var err error
			if f, err = rd.object(); err != nil {
				return f, nil, 0, err
			}
			// White space may follow the object.
			if _, err := io.Copy(io.Discard, rd.br); err != nil {
				return f, nil, 0, err
			}
		} else {
			b, size, err := readCapped(part, rd.keep, partSize)
			if err != nil {
				return f, nil, 0, err
			}
			if size > int64(len(b)) {
				cut = max(cut, size)
			}
			buffers = append(buffers, b)
		}
		if start[i+1] >= 0 {
			pos = start[i+1]
			// A short part means the frame ended before its offsets said.
			if lr := part.(*io.LimitedReader); lr.N > 0 {
				return f, nil, 0, fmt.Errorf("%w: binary frame ends inside part %d", errMalformed, i)
			}
		}
	}
	return f, buffers, cut, nil
}

// readCapped reads r to its end, keeping the first keep bytes, and
// returns them with the full size. hint is r's size when known (else -1):
// what is kept is then allocated once.
func readCapped(r io.Reader, keep int, hint int64) ([]byte, int64, error) {
	var (
		b    []byte
		size int64
		tmp  [32 << 10]byte
	)
	if hint >= 0 {
		b = make([]byte, 0, min(hint, int64(keep)))
	}
	for {
		n, err := r.Read(tmp[:])
		if room := keep - len(b); room > 0 && n > 0 {
			b = appendCapped(b, tmp[:min(n, room)], keep)
		}
		size += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if b == nil {
				b = []byte{}
			}
			return b, size, nil
		}
		if err != nil {
			return nil, size, err
		}
	}
}
