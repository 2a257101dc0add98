package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	s := newSession([]byte("secret"), "ada")
	m := s.newMessage("execute_request", &ExecuteRequest{Code: "print('é')", UserExpressions: map[string]any{}})
	m.Identities = [][]byte{[]byte("id-1")}
	m.Buffers = [][]byte{{0, 1, 2}}
	frames, err := s.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.MsgID != m.Header.MsgID || got.Type() != "execute_request" || got.Header.Session != s.id {
		t.Errorf("header %+v, want %+v", got.Header, m.Header)
	}
	if !got.Header.Date.Equal(m.Header.Date.Truncate(time.Microsecond)) {
		t.Errorf("date %v, want %v", got.Header.Date, m.Header.Date)
	}
	req, ok := got.Content.(*ExecuteRequest)
	if !ok || req.Code != "print('é')" {
		t.Errorf("content %#v", got.Content)
	}
	if len(got.Identities) != 1 || string(got.Identities[0]) != "id-1" {
		t.Errorf("identities %q", got.Identities)
	}
	if len(got.Buffers) != 1 || !bytes.Equal(got.Buffers[0], []byte{0, 1, 2}) {
		t.Errorf("buffers %v", got.Buffers)
	}
	if !got.ParentHeader.IsZero() {
		t.Errorf("parent header %+v, want empty", got.ParentHeader)
	}
}

func TestReplyCopiesParentAndIdentities(t *testing.T) {
	s := newSession([]byte("k"), "ada")
	req := s.newMessage("input_request", &InputRequest{Prompt: "?"})
	req.Identities = [][]byte{[]byte("route")}
	rep := s.reply(req, "input_reply", &InputReply{Value: "x"})
	if rep.ParentHeader != req.Header || string(rep.Identities[0]) != "route" || rep.Header.MsgID == req.Header.MsgID {
		t.Errorf("reply %+v does not answer %+v", rep, req)
	}
}

// Header dates must parse in Python: at most 6 fractional digits and a zone.
func TestHeaderDateFormat(t *testing.T) {
	h := Header{MsgID: "a", MsgType: "status", Date: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var w struct{ Date string }
	json.Unmarshal(b, &w)
	if got, want := w.Date, "2026-01-02T03:04:05.123456Z"; got != want {
		t.Errorf("date %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$`).MatchString(w.Date) {
		t.Errorf("date %q is not Python-parsable", w.Date)
	}
	if got := string(mustJSON(t, Header{})); got != "{}" {
		t.Errorf("empty header = %s, want {}", got)
	}
}

func TestLenientDates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-01-02T03:04:05.123456Z", time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"2026-01-02T03:04:05.123456+00:00", time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"2026-01-02T03:04:05.123456", time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{"yesterday", time.Time{}},
	} {
		var h Header
		if err := json.Unmarshal([]byte(`{"msg_id":"a","msg_type":"status","date":"`+tc.in+`"}`), &h); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if !h.Date.Equal(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.in, h.Date, tc.want)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	s := newSession([]byte("secret"), "ada")
	good, err := s.encode(s.newMessage("status", &Status{ExecutionState: "idle"}))
	if err != nil {
		t.Fatal(err)
	}
	clone := func() [][]byte {
		out := make([][]byte, len(good))
		for i := range good {
			out[i] = append([]byte(nil), good[i]...)
		}
		return out
	}
	forged := clone()
	forged[1] = newSession([]byte("other"), "x").sign(forged[2], forged[3], forged[4], forged[5])
	tampered := clone()
	tampered[5] = []byte(`{"execution_state":"busy"}`)
	unsigned := clone()
	unsigned[1] = nil
	for _, tc := range []struct {
		name   string
		frames [][]byte
		want   error
	}{
		{"forged signature", forged, ErrBadSignature},
		{"content changed after signing", tampered, ErrBadSignature},
		{"missing signature", unsigned, ErrBadSignature},
		{"no delimiter", good[1:], ErrMalformed},
		{"too few frames", good[:4], ErrMalformed},
		{"nothing", nil, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.decode(tc.frames); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// Signature hex may arrive upper-cased.
	upper := clone()
	upper[1] = bytes.ToUpper(upper[1])
	if _, err := s.decode(upper); err != nil {
		t.Errorf("upper-case signature: %v", err)
	}
}

func TestUnknownTypesKeptRaw(t *testing.T) {
	s := newSession(nil, "ada")
	m := s.newMessage("comm_msg", json.RawMessage(`{"comm_id":"c","data":{"x":[1,2]}}`))
	frames, _ := s.encode(m)
	got, err := s.decode(frames)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := got.Content.(json.RawMessage)
	if !ok || string(raw) != `{"comm_id":"c","data":{"x":[1,2]}}` {
		t.Errorf("content %#v, want the raw JSON", got.Content)
	}
}

// FuzzDecode feeds arbitrary frames (separated by 0xFF 0x00 in the input)
// to the decoder: it must never panic, and what it accepts must re-encode.
func FuzzDecode(f *testing.F) {
	s := newSession([]byte("fuzz-key"), "fuzz")
	for _, m := range seedMessages(s) {
		frames, err := s.encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Join(frames, fuzzSep))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := bytes.Split(data, fuzzSep)
		for _, sess := range []*session{s, newSession(nil, "nokey")} {
			m, err := sess.decode(frames)
			if err != nil {
				continue
			}
			if _, err := sess.encode(m); err != nil {
				// Content that decoded must encode again.
				t.Errorf("re-encode %s: %v", m.Type(), err)
			}
		}
	})
}

var fuzzSep = []byte{0xff, 0x00}

func seedMessages(s *session) []*Message {
	req := s.newMessage("execute_request", &ExecuteRequest{Code: "1+1", UserExpressions: map[string]any{}})
	out := []*Message{
		req,
		s.newMessage("kernel_info_request", &KernelInfoRequest{}),
		s.newMessage("comm_open", json.RawMessage(`{"comm_id":"x","target_name":"t","data":{}}`)),
	}
	for _, c := range []struct {
		t string
		c any
	}{
		{"status", &Status{ExecutionState: "busy"}},
		{"stream", &Stream{Name: "stdout", Text: "hi\n"}},
		{"display_data", &DisplayData{Data: MimeBundle{"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, Metadata: map[string]any{}}},
		{"execute_result", &ExecuteResult{ExecutionCount: 1, Data: MimeBundle{"text/plain": "2"}}},
		{"error", &Error{Ename: "ValueError", Evalue: "x", Traceback: []string{"a", "b"}}},
		{"execute_reply", &ExecuteReply{Status: "ok", ExecutionCount: 1}},
		{"input_request", &InputRequest{Prompt: "? "}},
		{"iopub_welcome", &IOPubWelcome{}},
	} {
		m := s.reply(req, c.t, c.c)
		m.Identities = [][]byte{[]byte("peer")}
		out = append(out, m)
	}
	return out
}

// TestWriteSeedCorpus writes the fuzz seed corpus to testdata with -update.
func TestWriteSeedCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzDecode")
	}
	s := newSession([]byte("fuzz-key"), "fuzz")
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range seedMessages(s) {
		frames, _ := s.encode(m)
		b := []byte("go test fuzz v1\n[]byte(" + strconvQuote(bytes.Join(frames, fuzzSep)) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, "seed-"+m.Type()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Hostile shapes: a delimiter with nothing after it, a huge claimed
	// identity list, invalid UTF-8 and JSON.
	for name, raw := range map[string][]byte{
		"delimiter-only": []byte("<IDS|MSG>"),
		"bad-json":       bytes.Join([][]byte{[]byte("<IDS|MSG>"), nil, []byte("{"), []byte("{}"), []byte("{}"), []byte("{}")}, fuzzSep),
		"bad-utf8":       bytes.Join([][]byte{[]byte("<IDS|MSG>"), nil, []byte(`{"msg_type":"stream","msg_id":"\xff"}`), []byte("{}"), []byte("{}"), []byte(`{"name":"stdout","text":"\xfe"}`)}, fuzzSep),
	} {
		b := []byte("go test fuzz v1\n[]byte(" + strconvQuote(raw) + ")\n")
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutputCap(t *testing.T) {
	stream := func(text string) *Message {
		return &Message{Header: Header{MsgType: "stream"}, Content: &Stream{Name: "stdout", Text: text}}
	}
	c := outputCap{limit: 10}
	var got []string
	for _, text := range []string{"abcd", "éfghij", "klm"} { // é is 2 bytes
		if m := c.apply(stream(text)); m != nil {
			got = append(got, m.Content.(*Stream).Text)
			var raw Stream
			if err := json.Unmarshal(m.RawContent, &raw); m.RawContent != nil && (err != nil || raw.Text != got[len(got)-1]) {
				t.Errorf("RawContent %s does not match the capped text", m.RawContent)
			}
		}
	}
	want := []string{"abcd", "éfghi\n[output truncated: more than 10 bytes]\n"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q, want %q", got, want)
	}
	disp := &Message{Header: Header{MsgType: "display_data"}, Content: &DisplayData{}}
	if c.apply(disp) != disp {
		t.Error("display_data past the cap was dropped; only streams are capped")
	}
}
