package kernel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// zmtpWire writes frames as one ZMTP message, the way a kernel's socket does.
func zmtpWire(frames [][]byte) []byte {
	var b []byte
	for i, f := range frames {
		var flag byte
		if i < len(frames)-1 {
			flag = 0x01
		}
		if len(f) > 255 {
			b = append(b, flag|0x02)
			b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		} else {
			b = append(b, flag, byte(len(f)))
		}
		b = append(b, f...)
	}
	return b
}

// readWire reads one message from wire through a channel keeping limit
// bytes of a frame, and decodes it with s.
func readWire(t *testing.T, s *session, wire []byte, limit int) (*Message, *wireMsg, error) {
	t.Helper()
	ch := &channel{name: "iopub", conn: &wireConn{r: bufio.NewReader(bytes.NewReader(wire))}, limit: limit, newMAC: s.newMAC()}
	w, err := ch.recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	m, err := s.decodeWire(w, limit)
	return m, w, err
}

func TestChannelCutsLongStreamAndChecksItsSignature(t *testing.T) {
	s := newSession([]byte("secret"), "ada")
	text := strings.Repeat("héllo \"wörld\"\n", 20000) // about 300 KB of JSON, with escapes
	m := s.newMessage("stream", &Stream{Name: "stderr", Text: text})
	m.Identities = [][]byte{[]byte("kernel.1.stream")}
	frames, err := s.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 4096
	got, w, err := readWire(t, s, zmtpWire(frames), limit)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range w.frames {
		if len(f) > limit {
			t.Errorf("a frame of %d bytes kept, over the limit %d", len(f), limit)
		}
	}
	if !got.cut || got.Type() != "stream" {
		t.Fatalf("message %s cut %v, want a cut stream", got.Type(), got.cut)
	}
	st := got.Content.(*Stream)
	prefix, note, ok := strings.Cut(st.Text, "\n[... ")
	if !ok || !strings.Contains(note, "bytes dropped by trialbook") {
		t.Fatalf("no note in %q", st.Text[max(0, len(st.Text)-200):])
	}
	if st.Name != "stderr" || len(prefix) < limit/2 || !strings.HasPrefix(text, prefix) || !utf8.ValidString(prefix) {
		t.Errorf("name %q, text prefix of %d bytes (a prefix of the text: %v)", st.Name, len(prefix), strings.HasPrefix(text, prefix))
	}
	if got.RawContent != nil {
		t.Errorf("a cut stream message has raw content %.100s", got.RawContent)
	}

	// The HMAC covers the full frame: a change past the kept bytes fails it.
	tampered := zmtpWire(frames)
	tampered[len(tampered)-10] ^= 1
	if _, _, err := readWire(t, s, tampered, limit); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a change in the dropped bytes: err %v, want ErrBadSignature", err)
	}
	// Without a cut the same message arrives whole.
	whole, _, err := readWire(t, s, zmtpWire(frames), 0)
	if err != nil || whole.cut || whole.Content.(*Stream).Text != text {
		t.Errorf("no limit: err %v cut %v", err, whole.cut)
	}
}

func TestChannelDropsLongNonStreamContent(t *testing.T) {
	s := newSession([]byte("secret"), "ada")
	png := strings.Repeat("A", 100_000)
	m := s.newMessage("display_data", json.RawMessage(`{"data":{"image/png":"`+png+`"},"metadata":{}}`))
	m.Buffers = [][]byte{bytes.Repeat([]byte{7}, 10)}
	frames, err := s.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := readWire(t, s, zmtpWire(frames), 1000)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := got.Content.(*Stream)
	if !ok || got.Type() != "stream" || st.Name != "stderr" || !strings.Contains(st.Text, "dropped the content of a display_data message") || got.Buffers != nil {
		t.Errorf("got %s %#v buffers %d, want a stderr note", got.Type(), got.Content, len(got.Buffers))
	}

	// A header over the limit is malformed, not guessed at.
	long := newSession([]byte("secret"), strings.Repeat("u", 3000))
	if frames, err = long.encode(long.newMessage("status", &Status{ExecutionState: "idle"})); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readWire(t, long, zmtpWire(frames), 2000); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "header") {
		t.Errorf("cut header: err %v, want ErrMalformed naming the header", err)
	}
}

func TestChannelUnsignedCut(t *testing.T) {
	s := newSession(nil, "ada")
	m := s.newMessage("stream", &Stream{Name: "stdout", Text: strings.Repeat("x", 5000)})
	frames, err := s.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := readWire(t, s, zmtpWire(frames), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Content.(*Stream); st.Name != "stdout" || !strings.HasPrefix(st.Text, strings.Repeat("x", 900)) || !strings.Contains(st.Text, "dropped by trialbook") {
		t.Errorf("text %q", st.Text[:min(len(st.Text), 80)])
	}
}

// Wherever the content is cut, the recovered text is a valid prefix of the
// text: never a half escape or half a rune.
func TestStreamPrefixAtEveryCut(t *testing.T) {
	text := "a\"b\\c\nd\u00e9\u2603\U0001F600\x01e\u2028/\t<>&"
	for _, order := range []string{"name-first", "text-first"} {
		content, _ := json.Marshal(&Stream{Name: "stderr", Text: text})
		if order == "text-first" {
			content, _ = json.Marshal(map[string]string{"text": text, "zname": "stderr"})
			content = bytes.Replace(content, []byte(`"zname"`), []byte(`"name"`), 1)
		}
		for i := range len(content) {
			name, got := streamPrefix(content[:i], "")
			if !strings.HasPrefix(text, got) || !utf8.ValidString(got) {
				t.Errorf("%s cut at %d (%q): text %q is not a valid prefix", order, i, content[:i], got)
			}
			if order == "name-first" && i > len(`{"name":"stderr",`) && name != "stderr" {
				t.Errorf("cut at %d: name %q", i, name)
			}
		}
		if _, got := streamPrefix(content[:len(content)-1], ""); order == "name-first" && got != text {
			t.Errorf("%s: cut only at the closing brace, text %q", order, got)
		}
	}
	// Python's json with ensure_ascii writes a surrogate pair for an emoji:
	// both halves or neither.
	ascii := []byte(`{"name": "stdout", "text": "\ud83d\ude00 \u00e9\n\ud83d"}`)
	want := "\U0001F600 \u00e9\n\ufffd"
	for i := range len(ascii) {
		_, got := streamPrefix(ascii[:i], "")
		if !strings.HasPrefix(want, got) {
			t.Errorf("ensure_ascii cut at %d (%s): text %q is not a prefix of %q", i, ascii[:i], got, want)
		}
	}
	if _, got := streamPrefix(ascii, "!"); got != want+"!" {
		t.Errorf("ensure_ascii whole: %q, want %q", got, want+"!")
	}
}

// FuzzStreamPrefix: any cut of any content recovers valid UTF-8 ending in
// the note, and a whole stream content recovers exactly its text.
func FuzzStreamPrefix(f *testing.F) {
	f.Add(`{"name": "stdout", "text": "\ud83d\ude00 \u00e9\n"}`, 20)
	f.Add(`{"name":"stderr","text":"a\\b\"c\u0001"}`, 30)
	f.Add("{\"text\":\"\xff\xfe\"}", 12)
	f.Fuzz(func(t *testing.T, content string, cut int) {
		raw := []byte(content)
		cut = min(max(cut, 0), len(raw))
		_, got := streamPrefix(raw[:cut], "!")
		if !utf8.ValidString(got) || !strings.HasSuffix(got, "!") {
			t.Errorf("cut %d of %q: %q", cut, content, got)
		}
		var st Stream
		if json.Unmarshal(raw, &st) == nil && cut == len(raw) && strings.HasPrefix(content, `{"name":`) && !strings.Contains(content[8:], `"name"`) && strings.Count(content, `"text"`) == 1 {
			if _, whole := streamPrefix(raw, ""); whole != st.Text {
				t.Errorf("whole %q: %q, want %q", content, whole, st.Text)
			}
		}
	})
}
