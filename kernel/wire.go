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
	"sync"
)

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
		want := s.sign(header, parent, meta, content)
		if !hmac.Equal(bytes.ToLower(sig), want) {
			return nil, ErrBadSignature
		}
	}
	m := &Message{RawContent: json.RawMessage(content)}
	if delim > 0 {
		m.Identities = frames[:delim:delim]
	}
	if err := json.Unmarshal(header, &m.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if m.Header.MsgType == "" {
		return nil, fmt.Errorf("%w: header has no msg_type", ErrMalformed)
	}
	// An empty parent header ({}) is how a message with no parent says so.
	if err := json.Unmarshal(parent, &m.ParentHeader); err != nil {
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
	m.decodeContent()
	if _, raw := m.Content.(json.RawMessage); raw && !json.Valid(content) {
		return nil, fmt.Errorf("%w: content of %s is not JSON", ErrMalformed, m.Header.MsgType)
	}
	return m, nil
}
