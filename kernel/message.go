package kernel

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ProtocolVersion is the Jupyter messaging protocol version trialbook speaks.
const ProtocolVersion = "5.4"

// dateLayout writes header dates the way Python parses them: at most six
// fractional digits and an explicit zone.
// https://jupyter-client.readthedocs.io/en/stable/messaging.html#message-header
const dateLayout = "2006-01-02T15:04:05.000000Z07:00"

// Header is a message header (and, for replies and children, the parent header).
type Header struct {
	MsgID    string
	Session  string
	Username string
	Date     time.Time
	MsgType  string
	Version  string
	// SubshellID is set by kernels that support subshells (JEP 91); empty otherwise.
	SubshellID string
}

type wireHeader struct {
	MsgID      string `json:"msg_id"`
	Session    string `json:"session"`
	Username   string `json:"username"`
	Date       string `json:"date,omitempty"`
	MsgType    string `json:"msg_type"`
	Version    string `json:"version"`
	SubshellID string `json:"subshell_id,omitempty"`
}

// IsZero reports whether h is the empty header ({} on the wire), as a parent
// header is for a message that has no parent.
func (h Header) IsZero() bool { return h == Header{} }

// MarshalJSON writes {} for the zero header and Python-parsable dates otherwise.
func (h Header) MarshalJSON() ([]byte, error) {
	if h.IsZero() {
		return []byte("{}"), nil
	}
	w := wireHeader{MsgID: h.MsgID, Session: h.Session, Username: h.Username, MsgType: h.MsgType, Version: h.Version, SubshellID: h.SubshellID}
	if !h.Date.IsZero() {
		w.Date = h.Date.Format(dateLayout)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a header. A date that does not parse leaves Date zero
// rather than rejecting the message: some kernels write dates without a zone
// or with more than six fractional digits.
// https://jupyter-client.readthedocs.io/en/stable/messaging.html#message-header
func (h *Header) UnmarshalJSON(b []byte) error {
	var w wireHeader
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = Header{MsgID: w.MsgID, Session: w.Session, Username: w.Username, MsgType: w.MsgType, Version: w.Version, SubshellID: w.SubshellID}
	if w.Date != "" {
		h.Date = parseDate(w.Date)
	}
	return nil
}

func parseDate(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Message is one Jupyter message, apart from any transport.
type Message struct {
	// Identities are the routing prefixes before <IDS|MSG> (ZeroMQ only).
	Identities   [][]byte
	Header       Header
	ParentHeader Header
	Metadata     map[string]any
	// Content is a typed pointer for the types in the table of contentFor
	// (*Stream, *ExecuteReply, ...) and json.RawMessage for others (comms,
	// types trialbook does not know).
	Content any
	// RawContent is the content JSON as received (nil for messages built
	// here, and for a stream message cut at StartOptions.MaxMessage, whose
	// Content has the text that arrived).
	RawContent json.RawMessage
	Buffers    [][]byte

	cut bool // a frame was over the channel's limit; see cutShort
}

// Type returns the message's msg_type.
func (m *Message) Type() string { return m.Header.MsgType }

// ParentID returns the msg_id of the message this one answers, or "".
func (m *Message) ParentID() string { return m.ParentHeader.MsgID }

func newMsgID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newMessage builds a request from this session.
func (s *session) newMessage(msgType string, content any) *Message {
	return &Message{
		Header: Header{
			MsgID:    newMsgID(),
			Session:  s.id,
			Username: s.username,
			Date:     time.Now().UTC(),
			MsgType:  msgType,
			Version:  ProtocolVersion,
		},
		Metadata: map[string]any{},
		Content:  content,
	}
}

// reply builds a message answering parent (an input_reply to an
// input_request): it copies the identities and sets the parent header, so
// nobody assembles a parent header by hand.
func (s *session) reply(parent *Message, msgType string, content any) *Message {
	m := s.newMessage(msgType, content)
	m.Identities = parent.Identities
	m.ParentHeader = parent.Header
	return m
}

// decodeContent fills m.Content from m.RawContent using the table in
// contentFor; unknown types, and known types whose content does not decode,
// are kept as raw JSON.
func (m *Message) decodeContent() {
	v := contentFor(m.Header.MsgType)
	if v == nil {
		m.Content = m.RawContent
		return
	}
	if err := json.Unmarshal(m.RawContent, v); err != nil {
		m.Content = m.RawContent
		return
	}
	m.Content = v
}

// contentFor is the one table from msg_type to content type.
// https://jupyter-client.readthedocs.io/en/stable/messaging.html
func contentFor(msgType string) any {
	switch msgType {
	case "kernel_info_request":
		return &KernelInfoRequest{}
	case "kernel_info_reply":
		return &KernelInfoReply{}
	case "execute_request":
		return &ExecuteRequest{}
	case "execute_reply":
		return &ExecuteReply{}
	case "execute_input":
		return &ExecuteInput{}
	case "execute_result":
		return &ExecuteResult{}
	case "display_data":
		return &DisplayData{}
	case "update_display_data":
		return &UpdateDisplayData{}
	case "stream":
		return &Stream{}
	case "error":
		return &Error{}
	case "status":
		return &Status{}
	case "clear_output":
		return &ClearOutput{}
	case "input_request":
		return &InputRequest{}
	case "input_reply":
		return &InputReply{}
	case "interrupt_request":
		return &InterruptRequest{}
	case "interrupt_reply":
		return &InterruptReply{}
	case "shutdown_request":
		return &ShutdownRequest{}
	case "shutdown_reply":
		return &ShutdownReply{}
	case "iopub_welcome":
		return &IOPubWelcome{}
	}
	return nil
}

// MimeBundle maps a MIME type to its data: a string, or JSON for */json types.
type MimeBundle map[string]any

// Text returns the bundle's text/plain value, or "".
func (b MimeBundle) Text() string {
	s, _ := b["text/plain"].(string)
	return s
}

type KernelInfoRequest struct{}

type LanguageInfo struct {
	Name              string `json:"name"`
	Version           string `json:"version,omitempty"`
	Mimetype          string `json:"mimetype,omitempty"`
	FileExtension     string `json:"file_extension,omitempty"`
	PygmentsLexer     string `json:"pygments_lexer,omitempty"`
	CodemirrorMode    any    `json:"codemirror_mode,omitempty"`
	NbconvertExporter string `json:"nbconvert_exporter,omitempty"`
}

type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

type KernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          LanguageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	Debugger              bool         `json:"debugger,omitempty"`
	HelpLinks             []HelpLink   `json:"help_links,omitempty"`
}

type ExecuteRequest struct {
	Code            string         `json:"code"`
	Silent          bool           `json:"silent"`
	StoreHistory    bool           `json:"store_history"`
	UserExpressions map[string]any `json:"user_expressions"`
	AllowStdin      bool           `json:"allow_stdin"`
	StopOnError     bool           `json:"stop_on_error"`
}

// ExecuteReply is the shell reply to an execute_request. Status is "ok",
// "error" (Ename, Evalue, Traceback set) or "aborted" (the kernel skipped
// the request because an earlier one failed with stop_on_error).
type ExecuteReply struct {
	Status          string           `json:"status"`
	ExecutionCount  int              `json:"execution_count"`
	Ename           string           `json:"ename,omitempty"`
	Evalue          string           `json:"evalue,omitempty"`
	Traceback       []string         `json:"traceback,omitempty"`
	UserExpressions map[string]any   `json:"user_expressions,omitempty"`
	Payload         []map[string]any `json:"payload,omitempty"`
}

// Err returns nil for an "ok" reply, an *ExecError for "error" and
// ErrAborted for "aborted".
func (r *ExecuteReply) Err() error {
	switch r.Status {
	case "ok":
		return nil
	case "aborted":
		return ErrAborted
	case "error":
		return &ExecError{Ename: r.Ename, Evalue: r.Evalue, Traceback: r.Traceback}
	}
	return fmt.Errorf("kernel: execute_reply with unknown status %q", r.Status)
}

type ExecuteInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

type ExecuteResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           MimeBundle     `json:"data"`
	Metadata       map[string]any `json:"metadata"`
}

type DisplayData struct {
	Data      MimeBundle     `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient map[string]any `json:"transient,omitempty"`
}

// DisplayID returns transient.display_id, or "".
func (d *DisplayData) DisplayID() string {
	s, _ := d.Transient["display_id"].(string)
	return s
}

type UpdateDisplayData DisplayData

// DisplayID returns transient.display_id, or "".
func (d *UpdateDisplayData) DisplayID() string { return (*DisplayData)(d).DisplayID() }

type Stream struct {
	Name string `json:"name"` // "stdout" or "stderr"
	Text string `json:"text"`
}

type Error struct {
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type Status struct {
	ExecutionState string `json:"execution_state"` // "busy", "idle", "starting"
}

type ClearOutput struct {
	Wait bool `json:"wait"`
}

type InputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

type InputReply struct {
	Value string `json:"value"`
}

type InterruptRequest struct{}

type InterruptReply struct {
	Status string `json:"status"`
}

type ShutdownRequest struct {
	Restart bool `json:"restart"`
}

type ShutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

// IOPubWelcome is sent on iopub by kernels whose iopub is an XPUB socket as
// soon as a subscription arrives (JEP 65), so a client knows it is live.
type IOPubWelcome struct {
	Subscription string `json:"subscription"`
}

// marshalContent encodes content; nil becomes {}.
func marshalContent(c any) ([]byte, error) {
	switch v := c.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		if len(bytes.TrimSpace(v)) == 0 {
			return []byte("{}"), nil
		}
		return v, nil
	}
	return json.Marshal(c)
}
