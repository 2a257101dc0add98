// Package gateway drives kernels that a Jupyter Server (or Enterprise
// Gateway) runs, over its REST API and kernel websocket, with the same
// kernel.Kernel client as local kernels.
//
//	c := &gateway.Client{URL: "http://127.0.0.1:8888", Token: token}
//	k, err := c.StartKernel(ctx, "python3", kernel.StartOptions{})
//	defer k.Shutdown(context.Background())
//	reply, err := k.Execute(ctx, "print(1)", kernel.ExecuteOptions{OnMessage: ...})
//
// The websocket speaks the server's default JSON protocol: one message per
// text frame, with a "channel" field; messages with binary buffers arrive
// as binary frames in the legacy layout (a count, offsets, the JSON, the
// buffers).
// https://jupyter-server.readthedocs.io/en/latest/developers/websocket-protocols.html
//
// Memory is bounded as on the ZeroMQ path: each websocket message is
// streamed through a small buffer (read.go), keeping at most
// StartOptions.MaxMessage bytes of its content and of each buffer; a
// longer message is cut as kernel cuts one (a stream message keeps its
// name and the text that arrived, with a "[... N bytes dropped by
// trialbook ...]" note; any other becomes a stderr note), counted in
// Kernel.Stats().Truncated. Note that Jupyter Server itself drops stream
// output over ZMQChannelsWebsocketConnection.iopub_data_rate_limit
// (1 MB/s by default) and sends a note of its own instead.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/gorilla/websocket"

	"trialbook/kernel"
)

// Client talks to one Jupyter Server.
type Client struct {
	URL   string // e.g. http://127.0.0.1:8888 (with any base_url path)
	Token string // the server's token; "" if it needs none
	HTTP  *http.Client
}

// StartKernel asks the server for a new kernel from its kernelspec name
// ("" for the server's default) and returns it attached and ready.
func (c *Client) StartKernel(ctx context.Context, name string, opts kernel.StartOptions) (*kernel.Kernel, error) {
	body, _ := json.Marshal(map[string]string{"name": name})
	var model struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/kernels", body, &model); err != nil {
		return nil, fmt.Errorf("gateway: start kernel %q: %w%s", name, err, c.hint(ctx, name, err))
	}
	r := &remote{c: c, id: model.ID, limit: opts.MessageLimit()}
	k, err := kernel.Attach(ctx, model.Name, r, opts)
	if err != nil {
		// Leave nothing running on the server.
		_ = r.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}
	return k, nil
}

// AttachKernel attaches to a kernel the server already runs, by its id.
func (c *Client) AttachKernel(ctx context.Context, id string, opts kernel.StartOptions) (*kernel.Kernel, error) {
	var model struct {
		Name string `json:"name"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/kernels/"+url.PathEscape(id), nil, &model); err != nil {
		return nil, fmt.Errorf("gateway: kernel %s: %w", id, err)
	}
	return kernel.Attach(ctx, model.Name, &remote{c: c, id: id, limit: opts.MessageLimit()}, opts)
}

// hint explains a failed start: a wrong token, or a kernel the server lacks.
func (c *Client) hint(ctx context.Context, name string, err error) string {
	if strings.Contains(err.Error(), "403") {
		return " (is the token right? pass the server's token)"
	}
	var specs struct {
		Default     string                     `json:"default"`
		Kernelspecs map[string]json.RawMessage `json:"kernelspecs"`
	}
	if c.do(ctx, http.MethodGet, "/api/kernelspecs", nil, &specs) != nil || name == "" {
		return ""
	}
	if _, ok := specs.Kernelspecs[name]; ok {
		return ""
	}
	names := make([]string, 0, len(specs.Kernelspecs))
	for n := range specs.Kernelspecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf(" (the server has no kernel %q; it has: %s)", name, strings.Join(names, ", "))
}

// do sends one REST request and decodes the JSON answer into out (if any).
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	u, err := url.Parse(strings.TrimRight(c.URL, "/") + path)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "token "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}
		_ = json.Unmarshal(b, &e)
		msg := strings.TrimSpace(e.Message + " " + e.Reason)
		if msg == "" {
			msg = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// remote is one server kernel, controlled through REST.
type remote struct {
	c     *Client
	id    string
	limit int // StartOptions.MessageLimit, applied by the transport
}

var _ kernel.Remote = (*remote)(nil)

func (r *remote) path(suffix string) string { return "/api/kernels/" + url.PathEscape(r.id) + suffix }

func (r *remote) Interrupt(ctx context.Context) error {
	return r.c.do(ctx, http.MethodPost, r.path("/interrupt"), []byte("{}"), nil)
}

func (r *remote) Restart(ctx context.Context) error {
	err := r.c.do(ctx, http.MethodPost, r.path("/restart"), []byte("{}"), nil)
	if err == nil {
		return nil
	}
	// A kernel that died is restarted by the server's own restarter, and a
	// restart asked for meanwhile fails; what we wanted has happened if the
	// kernel is alive again (or on its way).
	var model struct {
		State string `json:"execution_state"`
	}
	if gerr := r.c.do(ctx, http.MethodGet, r.path(""), nil, &model); gerr == nil && model.State != "dead" {
		return nil
	}
	return err
}

func (r *remote) Shutdown(ctx context.Context) error {
	return r.c.do(ctx, http.MethodDelete, r.path(""), nil, nil)
}

// Open connects the kernel's channels websocket.
func (r *remote) Open(ctx context.Context) (kernel.Transport, error) {
	u, err := url.Parse(strings.TrimRight(r.c.URL, "/") + r.path("/channels"))
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	q := u.Query()
	q.Set("session_id", newSessionID())
	u.RawQuery = q.Encode()
	h := http.Header{}
	if r.c.Token != "" {
		h.Set("Authorization", "token "+r.c.Token)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %s: %w", u.Redacted(), resp.Status, err)
		}
		return nil, fmt.Errorf("websocket %s: %w", u.Redacted(), err)
	}
	// No read limit: a message of any size is streamed through the
	// transport's reader, which keeps at most the message limit of it, so a
	// cell printing gigabytes at once neither costs its size in memory nor
	// ends the connection.
	conn.SetReadLimit(0)
	return &transport{conn: conn, rd: newReader(r.limit)}, nil
}

// transport is a kernel websocket.
type transport struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	rd   *reader // used by Recv only
}

var _ kernel.Transport = (*transport)(nil)

// wireMsg is a message in the server's JSON protocol.
type wireMsg struct {
	Header       kernel.Header   `json:"header"`
	ParentHeader kernel.Header   `json:"parent_header"`
	Metadata     map[string]any  `json:"metadata"`
	Content      json.RawMessage `json:"content"`
	Buffers      []any           `json:"buffers"`
	Channel      string          `json:"channel"`
}

func (t *transport) Send(channel string, m *kernel.Message) error {
	content, err := m.MarshalContent()
	if err != nil {
		return err
	}
	meta := m.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	b, err := json.Marshal(wireMsg{Header: m.Header, ParentHeader: m.ParentHeader, Metadata: meta, Content: content, Buffers: []any{}, Channel: channel})
	if err != nil {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.conn.WriteMessage(websocket.TextMessage, b)
}

// Recv reads the next message, streaming it from the websocket (see
// reader): a message over the limit is cut short as the ZeroMQ channels
// cut one (kernel.Message.CutShort).
// An unreadable message comes back as an error wrapping
// kernel.ErrMalformed: the kernel counts it and asks for the next.
func (t *transport) Recv() (string, *kernel.Message, error) {
	typ, r, err := t.conn.NextReader()
	if err != nil {
		return "", nil, err
	}
	return t.rd.read(typ, r)
}

func (t *transport) Close() error {
	t.wmu.Lock()
	_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadlineSoon())
	t.wmu.Unlock()
	return t.conn.Close()
}
