package kernel

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// frameNames names the frames after the delimiter, for errors.
var frameNames = [...]string{"signature", "header", "parent header", "metadata"}

// delimiter separates routing identities from the message on the wire.
// https://jupyter-client.readthedocs.io/en/stable/messaging.html#the-wire-protocol
var delimiter = []byte("<IDS|MSG>")

// Wire errors; a message failing with one of them is dropped and counted.
var (
	ErrBadSignature = errors.New("kernel: bad message signature")
	ErrMalformed    = errors.New("kernel: malformed message")
)

// session signs and checks messages with the connection's key and carries
// the client's session id. It is safe for concurrent use.
type session struct {
	id       string
	username string
	key      []byte
	pool     sync.Pool // of hash.Hash keyed with key
}

func newSession(key []byte, username string) *session {
	return newSessionID(newMsgID(), key, username)
}

// newSessionID is newSession keeping a client's session id, which is also
// its ZeroMQ identity, across restarts.
func newSessionID(id string, key []byte, username string) *session {
	s := &session{id: id, username: username, key: key}
	s.pool.New = func() any { return hmac.New(sha256.New, s.key) }
	return s
}

// sign returns the hex HMAC-SHA256 of the four JSON parts, or nil when the
// connection has no key (signing disabled).
func (s *session) sign(parts ...[]byte) []byte {
	if len(s.key) == 0 {
		return nil
	}
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	var sum [sha256.Size]byte
	out := make([]byte, hex.EncodedLen(sha256.Size))
	hex.Encode(out, h.Sum(sum[:0]))
	s.pool.Put(h)
	return out
}

// newMAC returns a fresh HMAC-SHA256 keyed with the connection key, or nil
// when the connection has no key; for a channel hashing a frame as it
// streams past.
func (s *session) newMAC() func() hash.Hash {
	if len(s.key) == 0 {
		return nil
	}
	return func() hash.Hash { return hmac.New(sha256.New, s.key) }
}

// encode returns the ZeroMQ frames of m, signed.
func (s *session) encode(m *Message) ([][]byte, error) {
	header, err := json.Marshal(m.Header)
	if err != nil {
		return nil, fmt.Errorf("kernel: encode header: %w", err)
	}
	parent, err := json.Marshal(m.ParentHeader)
	if err != nil {
		return nil, fmt.Errorf("kernel: encode parent header: %w", err)
	}
	meta := []byte("{}")
	if len(m.Metadata) > 0 {
		if meta, err = json.Marshal(m.Metadata); err != nil {
			return nil, fmt.Errorf("kernel: encode metadata: %w", err)
		}
	}
	content, err := marshalContent(m.Content)
	if err != nil {
		return nil, fmt.Errorf("kernel: encode %s content: %w", m.Header.MsgType, err)
	}
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	frames = append(frames, delimiter, s.sign(header, parent, meta, content), header, parent, meta, content)
	frames = append(frames, m.Buffers...)
	return frames, nil
}

// decode parses and verifies ZeroMQ frames. The signature is computed over
// the exact bytes received and compared in constant time; a message with a
// bad or missing signature is rejected with ErrBadSignature.
func (s *session) decode(frames [][]byte) (*Message, error) {
	return s.decodeWire(&wireMsg{frames: frames}, 0)
}

// decodeWire is decode for a message whose long frames a channel may have
// cut at limit bytes (see channel.read). The signature is then checked
// against the HMAC the channel computed over the full frames. A cut stream
// message keeps its name and the text that arrived, ending with a note of
// how much was dropped; any other cut message becomes a stderr stream
// message saying that its content was dropped. Such a message is marked cut.
func (s *session) decodeWire(w *wireMsg, limit int) (*Message, error) {
	frames := w.frames
	delim := -1
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			delim = i
			break
		}
	}
	if delim < 0 {
		return nil, fmt.Errorf("%w: no <IDS|MSG> delimiter in %d frames", ErrMalformed, len(frames))
	}
	// Count before slicing: signature, header, parent, metadata, content.
	if len(frames)-delim-1 < 5 {
		return nil, fmt.Errorf("%w: %d frames after the delimiter, want at least 5", ErrMalformed, len(frames)-delim-1)
	}
	sig, header, parent, meta, content := frames[delim+1], frames[delim+2], frames[delim+3], frames[delim+4], frames[delim+5]
	if len(s.key) > 0 {
		want := w.sig
		if want == nil {
			want = s.sign(header, parent, meta, content)
		}
		if !hmac.Equal(bytes.ToLower(sig), want) {
			return nil, ErrBadSignature
		}
	}
	var (
		cutSize    int64 // the full size of a cut content or buffer frame
		contentCut bool
	)
	for _, c := range w.cut {
		switch {
		case c.index < delim:
			return nil, fmt.Errorf("%w: routing identity of %d bytes, over the %d-byte frame limit", ErrMalformed, c.size, limit)
		case c.index <= delim+4:
			return nil, fmt.Errorf("%w: %s of %d bytes, over the %d-byte frame limit", ErrMalformed, frameNames[c.index-delim-1], c.size, limit)
		default:
			cutSize = max(cutSize, c.size)
			contentCut = contentCut || c.index == delim+5
		}
	}
	m := &Message{RawContent: json.RawMessage(content)}
	if delim > 0 {
		m.Identities = frames[:delim:delim]
	}
	// Called directly: through json.Unmarshal each header would be scanned
	// twice (once to validate, once more by UnmarshalJSON).
	if err := m.Header.UnmarshalJSON(header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if m.Header.MsgType == "" {
		return nil, fmt.Errorf("%w: header has no msg_type", ErrMalformed)
	}
	// An empty parent header ({}) is how a message with no parent says so.
	if err := m.ParentHeader.UnmarshalJSON(parent); err != nil {
		return nil, fmt.Errorf("%w: parent header: %v", ErrMalformed, err)
	}
	if len(meta) > 2 { // "{}" is the common case; skip the allocation
		if err := json.Unmarshal(meta, &m.Metadata); err != nil {
			return nil, fmt.Errorf("%w: metadata: %v", ErrMalformed, err)
		}
	}
	if rest := frames[delim+6:]; len(rest) > 0 {
		m.Buffers = rest
	}
	if cutSize > 0 {
		m.cutShort(limit, cutSize, contentCut)
		return m, nil
	}
	m.decodeContent()
	if _, raw := m.Content.(json.RawMessage); raw && !json.Valid(content) {
		return nil, fmt.Errorf("%w: content of %s is not JSON", ErrMalformed, m.Header.MsgType)
	}
	return m, nil
}

// cutShort turns m, whose content (or a buffer) of size bytes was cut at
// limit, into a stream message that says so. A stream message whose
// content was cut keeps its name and the text that arrived, decoded into
// one buffer with the note, and has no RawContent; any other message loses
// its content and buffers.
func (m *Message) cutShort(limit int, size int64, content bool) {
	m.cut = true
	if m.Header.MsgType == "stream" && content {
		raw := m.RawContent
		note := fmt.Sprintf("\n[... %d bytes dropped by trialbook: a stream message of %d bytes, over the %d-byte message limit]\n",
			size-int64(len(raw)), size, limit)
		name, text := streamPrefix(raw, note)
		m.Content, m.RawContent = &Stream{Name: name, Text: text}, nil
		return
	}
	st := &Stream{Name: "stderr", Text: fmt.Sprintf("[trialbook dropped the content of a %s message: %d bytes, over the %d-byte message limit]\n", m.Header.MsgType, size, limit)}
	m.Header.MsgType = "stream"
	m.Buffers = nil
	m.Content = st
	m.RawContent, _ = json.Marshal(st)
}

// streamPrefix recovers the stream name ("stdout" when it did not arrive)
// and the text that arrived, followed by note, from the first bytes of a
// stream message's content JSON: {"name": ..., "text": ...}, name first as
// ipykernel writes it.
func streamPrefix(raw []byte, note string) (name, text string) {
	name = "stdout"
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return name, note
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return name, note
		}
		if key, _ := t.(string); key == "text" {
			// The text is what was cut; decode it in one pass, in place.
			return name, jsonStringPrefix(raw[dec.InputOffset():], note)
		}
		v, err := dec.Token()
		if err != nil {
			return name, note
		}
		if s, ok := v.(string); ok && t == "name" {
			name = s
		}
	}
	return name, note
}

// jsonStringPrefix decodes the whole characters of a JSON string that was
// cut short (raw holds ': "' and the string's start; a half escape or half
// a rune at the end is left out) and appends note, into one buffer.
// Invalid UTF-8 becomes U+FFFD, as encoding/json does.
// https://www.rfc-editor.org/rfc/rfc8259#section-7
func jsonStringPrefix(raw []byte, note string) string {
	var b strings.Builder
	i := bytes.IndexByte(raw, '"')
	if i < 0 {
		return note
	}
	body := raw[i+1:]
	b.Grow(len(body) + len(note))
	for len(body) > 0 {
		// A run of plain characters, copied whole when it is valid UTF-8.
		n := bytes.IndexAny(body, "\\\"")
		if n < 0 {
			n = len(body)
		}
		run := body[:n]
		if n == len(body) {
			// Leave out a rune cut at the end.
			for k := 1; k <= utf8.UTFMax && k <= len(run); k++ {
				if r := run[len(run)-k:]; utf8.RuneStart(r[0]) {
					if !utf8.FullRune(r) {
						run = run[:len(run)-k]
					}
					break
				}
			}
		}
		if utf8.Valid(run) {
			b.Write(run)
		} else {
			for _, r := range string(run) {
				b.WriteRune(r)
			}
		}
		if n == len(body) || body[n] == '"' {
			break
		}
		r, size := jsonEscape(body[n:])
		if size == 0 {
			break // cut inside the escape
		}
		b.WriteRune(r)
		body = body[n+size:]
	}
	b.WriteString(note)
	return b.String()
}

// jsonEscape decodes the escape at the start of e (a backslash), and returns
// its length, or 0 when e ends before the escape does.
func jsonEscape(e []byte) (rune, int) {
	if len(e) < 2 {
		return 0, 0
	}
	switch e[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := hex4(e[2:])
		if !ok {
			return 0, 0
		}
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		// A surrogate pair is one character: both halves, or neither.
		switch {
		case len(e) == 6 || len(e) == 7 && e[6] == '\\':
			return 0, 0 // the second half may have been cut
		case e[6] != '\\' || e[7] != 'u' || r >= 0xdc00:
			return utf8.RuneError, 6
		case len(e) < 12:
			return 0, 0
		}
		lo, ok := hex4(e[8:])
		if !ok || lo < 0xdc00 || lo >= 0xe000 {
			return utf8.RuneError, 6
		}
		return utf16.DecodeRune(r, lo), 12
	}
	return rune(e[1]), 2 // \" \\ \/
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(v), err == nil
}
