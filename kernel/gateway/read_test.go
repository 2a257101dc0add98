package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gorilla/websocket"

	"trialbook/kernel"
)

// serverMessage writes a message as Jupyter Server's legacy protocol does:
// json.dumps of jupyter_client's deserialized dict, "channel" added last.
func serverMessage(msgType, parentID, content, channel string) string {
	return fmt.Sprintf(`{"header": {"msg_id": "m1", "msg_type": %q, "username": "u", "session": "s", "date": "2026-11-25T22:00:00.123456Z", "version": "5.3"}, "msg_id": "m1", "msg_type": %q, `+
		`"parent_header": {"msg_id": %q, "msg_type": "execute_request", "username": "u", "session": "c", "date": "2026-11-25T22:00:00.000001Z", "version": "5.3"}, "metadata": {}, `+
		`"content": %s, "buffers": [], "channel": %q}`, msgType, msgType, parentID, content, channel)
}

func readText(t *testing.T, limit int, msg string) (string, *kernel.Message) {
	t.Helper()
	ch, m, err := newReader(limit).read(websocket.TextMessage, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	// Chunk boundaries anywhere give the same message.
	ch1, m1, err := newReader(limit).read(websocket.TextMessage, iotest.OneByteReader(strings.NewReader(msg)))
	if err != nil || ch1 != ch || !bytes.Equal(m1.RawContent, m.RawContent) || fmt.Sprint(m1.Content) != fmt.Sprint(m.Content) {
		t.Fatalf("read one byte at a time: %q %+v %v, want %q %+v", ch1, m1, err, ch, m)
	}
	return ch, m
}

// streamContent is a stream message's content as the server writes it
// (ensure_ascii, so non-ASCII text arrives as \u escapes).
func streamContent(name, text string) string {
	b, _ := json.Marshal(text)
	var esc strings.Builder
	for _, r := range string(b) {
		switch {
		case r > 0xffff:
			r1, r2 := 0xd800+((r-0x10000)>>10), 0xdc00+((r-0x10000)&0x3ff)
			fmt.Fprintf(&esc, `\u%04x\u%04x`, r1, r2)
		case r > 0x7f:
			fmt.Fprintf(&esc, `\u%04x`, r)
		default:
			esc.WriteRune(r)
		}
	}
	return fmt.Sprintf(`{"name": %q, "text": %s}`, name, esc.String())
}

func TestReadWhole(t *testing.T) {
	text := strings.Repeat("héllo \"quoted\" \\ tab\t 🎉 line\n", 4000) // > 64 KiB: several reads
	content := streamContent("stdout", text)
	for _, limit := range []int{0, len(content)} {
		ch, m := readText(t, limit, serverMessage("stream", "p1", content, "iopub"))
		s, ok := m.Content.(*kernel.Stream)
		if ch != "iopub" || !ok || s.Name != "stdout" || s.Text != text || string(m.RawContent) != content {
			t.Fatalf("limit %d: channel %q content %T, want the stream whole", limit, ch, m.Content)
		}
		if m.ParentID() != "p1" || m.Header.MsgID != "m1" || m.Header.Date.IsZero() {
			t.Errorf("limit %d: header %+v parent %+v", limit, m.Header, m.ParentHeader)
		}
	}
	// Keys in another order, other values in the way.
	msg := `{"channel": "shell", "buffers": [], "extra": [1, {"a": "}]\""}, -2.5e3, true, null], "content": {"status": "ok", "execution_count": 7}, ` +
		`"parent_header": {"msg_id": "p2"}, "metadata": {"k": [1]}, "header": {"msg_id": "m2", "msg_type": "execute_reply"}}`
	ch, m := readText(t, 1, msg)
	rep, ok := m.Content.(*kernel.ExecuteReply)
	if ch != "shell" || !ok || rep.Status != "ok" || rep.ExecutionCount != 7 || m.ParentID() != "p2" || m.Metadata["k"] == nil {
		t.Errorf("channel %q message %+v", ch, m)
	}
}

func TestReadCutStream(t *testing.T) {
	const limit = 4096
	text := strings.Repeat("ab\"c\\dé🎉\n", 3000)
	content := streamContent("stderr", text)
	ch, m := readText(t, limit, serverMessage("stream", "p1", content, "iopub"))
	s, ok := m.Content.(*kernel.Stream)
	if ch != "iopub" || !ok || s.Name != "stderr" || m.Type() != "stream" || m.ParentID() != "p1" {
		t.Fatalf("channel %q message %+v", ch, m)
	}
	note := fmt.Sprintf("bytes dropped by trialbook: a stream message of %d bytes, over the %d-byte message limit]\n", len(content), limit)
	kept, _, found := strings.Cut(s.Text, "\n[... ")
	if !found || !strings.HasSuffix(s.Text, note) || !strings.HasPrefix(text, kept) || len(kept) < limit/8 {
		t.Errorf("text: %d bytes kept, ending %q; want a prefix of the text and the note %q", len(kept), s.Text[max(0, len(s.Text)-200):], note)
	}
	// Just over the limit is cut; at the limit it is whole.
	text = strings.Repeat("y", limit-len(streamContent("stdout", "")))
	if _, m := readText(t, limit, serverMessage("stream", "p1", streamContent("stdout", text), "iopub")); m.Content.(*kernel.Stream).Text != text {
		t.Error("a message at the limit was cut")
	}
	// One more byte: all the text arrives, the closing brace does not.
	if _, m := readText(t, limit, serverMessage("stream", "p1", streamContent("stdout", text+"y"), "iopub")); !strings.HasPrefix(m.Content.(*kernel.Stream).Text, text+"y\n[... 1 bytes dropped") {
		t.Errorf("a message one byte over the limit: %q", m.Content.(*kernel.Stream).Text[len(text)-50:])
	}
}

func TestReadCutOther(t *testing.T) {
	const limit = 2048
	big := strings.Repeat("z", 10_000)
	for _, c := range []struct{ typ, channel, content string }{
		{"execute_result", "iopub", `{"data": {"text/plain": "'` + big + `'"}, "metadata": {}, "execution_count": 3}`},
		{"execute_reply", "shell", `{"status": "ok", "execution_count": 3, "user_expressions": {"a": "` + big + `"}}`},
	} {
		ch, m := readText(t, limit, serverMessage(c.typ, "p9", c.content, c.channel))
		s, ok := m.Content.(*kernel.Stream)
		want := fmt.Sprintf("[trialbook dropped the content of a %s message: %d bytes, over the %d-byte message limit]\n", c.typ, len(c.content), limit)
		if ch != c.channel || !ok || s.Name != "stderr" || s.Text != want || m.ParentID() != "p9" || m.Header.MsgID != "m1" {
			t.Errorf("%s: channel %q content %+v, want %q on %s", c.typ, ch, m.Content, want, c.channel)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	good := serverMessage("status", "p", `{"execution_state": "idle"}`, "iopub")
	for _, bad := range []string{
		"", "[]", "{", `{"header": `, good[:len(good)-1], `{"content": {}}`,
		`{"header": {"msg_id": "m"}}`, // no msg_type
		`{"header": {"msg_type": "status"},}`,
		`{"header": {"msg_type": "status"} "channel": "iopub"}`,
		`{"header": {"msg_type": "status"}, "channel": 7}`,
		`{"header": {"msg_type": "comm_msg"}, "content": {"a": tru`,
		`{"header": {"msg_type": "comm_msg"}, "content": {"a": ]}`,
		`{"header": {"msg_type": "comm_msg"}, "content": nul}`,                         // unknown type: content must be JSON
		`{"header": {"msg_type": "status", "x": "` + strings.Repeat("h", 5000) + `"}}`, // header over the limit
	} {
		_, _, err := newReader(1024).read(websocket.TextMessage, strings.NewReader(bad))
		if !errors.Is(err, errMalformed) {
			t.Errorf("%.60q: err %v, want it malformed", bad, err)
		}
	}
	// A failing connection is not a malformed message.
	broken := io.MultiReader(strings.NewReader(good[:40]), iotest.ErrReader(errors.New("connection reset")))
	if _, _, err := newReader(0).read(websocket.TextMessage, broken); err == nil || errors.Is(err, errMalformed) {
		t.Errorf("err %v, want the connection's error", err)
	}
}

// binaryFrame lays out a message as the server's serialize_binary_message.
func binaryFrame(msg string, buffers ...[]byte) []byte {
	parts := append([][]byte{[]byte(msg)}, buffers...)
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(parts)))
	off := 4 * (len(parts) + 1)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(off))
		off += len(p)
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestReadBinary(t *testing.T) {
	msg := strings.Replace(serverMessage("comm_msg", "p", `{"comm_id": "c", "data": {}}`, "iopub"), `"buffers": [], `, "", 1)
	bufs := [][]byte{[]byte("abc"), {}, bytes.Repeat([]byte{0, 1, 2}, 30_000)}
	frame := binaryFrame(msg, bufs...)
	for _, r := range []io.Reader{bytes.NewReader(frame), iotest.OneByteReader(bytes.NewReader(frame))} {
		ch, m, err := newReader(1<<20).read(websocket.BinaryMessage, r)
		if err != nil || ch != "iopub" || m.Type() != "comm_msg" || len(m.Buffers) != 3 {
			t.Fatalf("%q %+v %v", ch, m, err)
		}
		for i := range bufs {
			if !bytes.Equal(m.Buffers[i], bufs[i]) {
				t.Errorf("buffer %d: %d bytes, want %d", i, len(m.Buffers[i]), len(bufs[i]))
			}
		}
	}
	// A buffer over the limit, last or not, drops the content and buffers.
	for _, big := range [][][]byte{{make([]byte, 5000)}, {make([]byte, 5000), []byte("x")}} {
		ch, m, err := newReader(2048).read(websocket.BinaryMessage, bytes.NewReader(binaryFrame(msg, big...)))
		s, ok := m.Content.(*kernel.Stream)
		if err != nil || ch != "iopub" || !ok || !strings.Contains(s.Text, "dropped the content of a comm_msg message: 5000 bytes") || m.Buffers != nil {
			t.Errorf("%q %+v %v", ch, m, err)
		}
	}
	for _, bad := range [][]byte{nil, {0, 0}, {0, 0, 0, 0}, {0, 0, 0, 9}, {0, 0, 0, 1, 0, 0, 0, 99}, {0, 0, 0, 2, 0, 0, 0, 12, 0, 0, 0, 11}, frame[:len(frame)-len(bufs[2])-2]} {
		if _, _, err := newReader(0).read(websocket.BinaryMessage, bytes.NewReader(bad)); !errors.Is(err, errMalformed) {
			t.Errorf("%v: err %v, want it malformed", bad[:min(len(bad), 16)], err)
		}
	}
}

// FuzzRead: any text message reads without a panic; read whole, what is
// read agrees with encoding/json on the same bytes; read one byte at a
// time, the same; cut at a limit, the channel and header are unchanged.
func FuzzRead(f *testing.F) {
	f.Add(serverMessage("stream", "p", streamContent("stdout", "hi\n"), "iopub"), 0)
	f.Add(serverMessage("execute_reply", "p", `{"status": "ok"}`, "shell"), 1100)
	f.Add(`{"channel":"stdin","header":{"msg_type":"input_request"},"content":{"prompt":"\u00e9\"x"}}`, 0)
	f.Add(`{"header": {"msg_type": "x"}, "content": [1, "2", {"3": null}], "channel": "iopub"}`, 0)
	f.Fuzz(func(t *testing.T, msg string, limit int) {
		limit %= 4096
		ch, m, err := newReader(0).read(websocket.TextMessage, strings.NewReader(msg))
		var std map[string]json.RawMessage
		if json.Unmarshal([]byte(msg), &std) != nil {
			return // not JSON: only no panic
		}
		if err != nil {
			return // valid JSON that is no message: a bad header, metadata...
		}
		var wantCh string
		_ = json.Unmarshal(std["channel"], &wantCh)
		var h kernel.Header
		_ = h.UnmarshalJSON(std["header"])
		content := std["content"]
		if content == nil {
			content = json.RawMessage("{}")
		}
		if ch != wantCh || m.Type() != h.MsgType || !bytes.Equal(m.RawContent, content) {
			t.Fatalf("read %q %q %q, encoding/json %q %q %q", ch, m.Type(), m.RawContent, wantCh, h.MsgType, content)
		}
		ch1, m1, err := newReader(0).read(websocket.TextMessage, iotest.OneByteReader(strings.NewReader(msg)))
		if err != nil || ch1 != ch || !bytes.Equal(m1.RawContent, m.RawContent) {
			t.Fatalf("one byte at a time: %q %q %v", ch1, m1.RawContent, err)
		}
		ch2, m2, err := newReader(limit).read(websocket.TextMessage, strings.NewReader(msg))
		if err != nil || ch2 != ch || m2.ParentID() != m.ParentID() {
			t.Fatalf("at limit %d: %q %+v %v", limit, ch2, m2, err)
		}
	})
}

// randomValue writes a random JSON value with random white space.
func randomValue(r *rand.Rand, depth int) string {
	ws := []string{"", " ", "\n\t ", "\r\n"}[r.IntN(4)]
	switch k := r.IntN(7); {
	case depth > 3 || k == 0:
		return []string{"0", "-1.5e+3", "true", "false", "null", "12345678901234567890"}[r.IntN(6)]
	case k <= 2:
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString([]string{"a", "\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83c\\udf89", "é", "]}", ",:", "\\/"}[r.IntN(10)])
		}
		return `"` + b.String() + `"`
	case k <= 4:
		var parts []string
		for range r.IntN(5) {
			parts = append(parts, ws+randomValue(r, depth+1)+ws)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		var parts []string
		for range r.IntN(5) {
			parts = append(parts, ws+randomValue(r, 4)+ws+":"+ws+randomValue(r, depth+1))
		}
		// Keys are strings: replace any non-string key.
		for i, p := range parts {
			if !strings.HasPrefix(strings.TrimSpace(p), `"`) {
				parts[i] = `"k"` + p[strings.Index(p, ":"):]
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

// Random messages (any JSON in their content and in keys the client
// skips, keys in any order) read as encoding/json reads them.
func TestReadRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		keys := []string{
			`"header": {"msg_type": "comm_msg", "msg_id": "m"}`,
			`"parent_header": {"msg_id": "p"}`,
			`"content": ` + randomValue(r, 0),
			`"channel": "iopub"`,
			`"x": ` + randomValue(r, 0),
			`"buffers": ` + randomValue(r, 0),
		}
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		msg := "{" + strings.Join(keys, ", ") + "}"
		var std map[string]json.RawMessage
		if err := json.Unmarshal([]byte(msg), &std); err != nil {
			t.Fatalf("generated %q: %v", msg, err)
		}
		ch, m := readText(t, 0, msg)
		if ch != "iopub" || m.ParentID() != "p" || !bytes.Equal(m.RawContent, std["content"]) {
			t.Fatalf("%q: read %q %q, want %q", msg, ch, m.RawContent, std["content"])
		}
	}
}

// BenchmarkRead compares the streaming reader with what Recv did before,
// json.Unmarshal of the whole message, on a small and a large message.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{100, 1 << 20} {
		msg := serverMessage("stream", "p", streamContent("stdout", strings.Repeat("line of text\n", n/13+1)), "iopub")
		b.Run(fmt.Sprintf("reader/%d", len(msg)), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			rd := newReader(0)
			for b.Loop() {
				if _, _, err := rd.read(websocket.TextMessage, strings.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("unmarshal/%d", len(msg)), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				var w wireMsg
				if err := json.Unmarshal([]byte(msg), &w); err != nil {
					b.Fatal(err)
				}
				m := &kernel.Message{Header: w.Header, ParentHeader: w.ParentHeader, RawContent: w.Content}
				m.DecodeContent()
			}
		})
	}
}
