package ipynb

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// OutputBuilder turns a kernel's iopub messages into cell outputs the way
// nbclient's NotebookClient.process_message does. One builder serves one
// execution of a notebook: display ids are tracked across all its cells, so
// update_display_data from a later cell rewrites the output of an earlier
// one.
//
// It also caps the bytes one cell keeps (MaxBytes): past the cap, output is
// dropped and a note says so, so a cell that prints gigabytes costs the
// notebook at most MaxBytes.
type OutputBuilder struct {
	nb *Notebook
	// MaxBytes caps what one cell keeps; 0 means no cap. Error outputs are
	// always kept, so the reason a cell failed is never lost.
	MaxBytes int

	// Updated, when set, is told about every cell whose outputs an
	// update_display_data (or a re-shown display id) rewrote in place.
	Updated func(index int)

	// displays maps display_id → cell index → indices into that cell's
	// outputs, as nbclient's _display_id_map.
	displays map[string]map[int][]int

	cell         int
	clearPending bool
	kept         int // bytes kept by the current cell
	dropped      int64
	note         *Output
}

// NewOutputBuilder returns a builder for outputs of nb's cells.
func NewOutputBuilder(nb *Notebook, maxBytes int) *OutputBuilder {
	return &OutputBuilder{nb: nb, MaxBytes: maxBytes, displays: map[string]map[int][]int{}, cell: -1}
}

// StartCell begins collecting outputs for nb.Cells[index]: its outputs and
// execution count are cleared, as nbclient does before executing a cell.
func (b *OutputBuilder) StartCell(index int) {
	b.cell = index
	b.clearPending = false
	c := b.nb.Cells[index]
	c.Outputs = []*Output{}
	c.ExecutionCount = nil
	b.resetCap()
	b.clearDisplayMapping(index)
}

// Dropped reports how many bytes of the current cell's output were dropped
// by the cap.
func (b *OutputBuilder) Dropped() int64 { return b.dropped }

func (b *OutputBuilder) resetCap() {
	b.kept, b.dropped, b.note = 0, 0, nil
}

// iopubContent holds the content fields any output message may carry.
type iopubContent struct {
	ExecutionCount *json.RawMessage `json:"execution_count"`
	Transient      *struct {
		DisplayID *string `json:"display_id"`
	} `json:"transient"`
	Name           string          `json:"name"`
	Text           string          `json:"text"`
	Data           json.RawMessage `json:"data"`
	Metadata       json.RawMessage `json:"metadata"`
	Wait           bool            `json:"wait"`
	EName          string          `json:"ename"`
	EValue         string          `json:"evalue"`
	Traceback      []string        `json:"traceback"`
	ExecutionState string          `json:"execution_state"`
}

// Add applies one iopub message (its msg_type and content) belonging to the
// current cell. It returns the output it appended, or nil when the message
// appended none (status, execute_input, clear_output, update_display_data,
// comm messages, unknown types, or output dropped by the cap).
func (b *OutputBuilder) Add(msgType string, content json.RawMessage) (*Output, error) {
	if b.cell < 0 {
		return nil, fmt.Errorf("output builder: %s before StartCell", msgType)
	}
	switch msgType {
	case "status", "comm_open", "comm_msg", "comm_close", "shutdown_reply", "debug_event":
		return nil, nil
	}
	var c iopubContent
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("%s content: %w", msgType, err)
	}
	return b.add(msgType, c)
}

// AddStream is Add for a stream message whose content the caller has
// already decoded (the kernel client does), saving a second decode of what
// may be megabytes of text.
func (b *OutputBuilder) AddStream(name, text string) (*Output, error) {
	if b.cell < 0 {
		return nil, fmt.Errorf("output builder: stream before StartCell")
	}
	return b.add("stream", iopubContent{Name: name, Text: text})
}

func (b *OutputBuilder) add(msgType string, c iopubContent) (*Output, error) {
	cell := b.nb.Cells[b.cell]
	var displayID string
	if c.Transient != nil && c.Transient.DisplayID != nil {
		displayID = *c.Transient.DisplayID
	}
	isDisplay := msgType == "execute_result" || msgType == "display_data" || msgType == "update_display_data"
	if displayID != "" && isDisplay {
		if err := b.updateDisplay(displayID, msgType, c); err != nil {
			return nil, err
		}
	}
	if c.ExecutionCount != nil {
		n, err := optInt(decodeNumber(*c.ExecutionCount))
		if err != nil {
			return nil, fmt.Errorf("%s content.execution_count: %w", msgType, err)
		}
		cell.ExecutionCount = n
	}
	switch msgType {
	case "clear_output":
		if c.Wait {
			b.clearPending = true
		} else {
			b.clear()
		}
		return nil, nil
	case "execute_input", "update_display_data":
		return nil, nil
	}
	out, size, err := outputFromMsg(msgType, c)
	if err != nil || out == nil {
		return nil, err
	}
	if b.clearPending {
		b.clear()
		b.clearPending = false
	}
	out = b.capped(out, size)
	if out == nil {
		return nil, nil
	}
	if displayID != "" {
		m := b.displays[displayID]
		if m == nil {
			m = map[int][]int{}
			b.displays[displayID] = m
		}
		m[b.cell] = append(m[b.cell], len(cell.Outputs))
	}
	cell.Outputs = append(cell.Outputs, out)
	return out, nil
}

func (b *OutputBuilder) clear() {
	b.nb.Cells[b.cell].Outputs = []*Output{}
	b.clearDisplayMapping(b.cell)
	b.resetCap()
}

func (b *OutputBuilder) clearDisplayMapping(index int) {
	for _, m := range b.displays {
		if _, ok := m[index]; ok {
			m[index] = nil
		}
	}
}

// updateDisplay rewrites data and metadata of every output shown earlier
// with displayID, in any cell.
func (b *OutputBuilder) updateDisplay(displayID, msgType string, c iopubContent) error {
	m, ok := b.displays[displayID]
	if !ok {
		return nil
	}
	if msgType == "update_display_data" {
		msgType = "display_data"
	}
	out, _, err := outputFromMsg(msgType, c)
	if err != nil {
		return err
	}
	for ci, idxs := range m {
		if ci >= len(b.nb.Cells) {
			continue
		}
		outs := b.nb.Cells[ci].Outputs
		for _, oi := range idxs {
			if oi < len(outs) {
				outs[oi].Data = out.Data
				outs[oi].Metadata = out.Metadata
			}
		}
		if len(idxs) > 0 && b.Updated != nil {
			b.Updated(ci)
		}
	}
	return nil
}

// outputFromMsg is nbformat.v4.output_from_msg. size is what the output
// counts against the cap.
func outputFromMsg(msgType string, c iopubContent) (*Output, int, error) {
	switch msgType {
	case "stream":
		return &Output{OutputType: StreamOutput, Name: c.Name, Text: c.Text}, len(c.Text), nil
	case "display_data", "execute_result":
		data, err := objectOrEmpty(c.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("%s content.data: %w", msgType, err)
		}
		meta, err := objectOrEmpty(c.Metadata)
		if err != nil {
			return nil, 0, fmt.Errorf("%s content.metadata: %w", msgType, err)
		}
		o := &Output{OutputType: msgType, Data: data, Metadata: meta}
		if msgType == "execute_result" {
			if c.ExecutionCount != nil {
				n, err := optInt(decodeNumber(*c.ExecutionCount))
				if err != nil {
					return nil, 0, fmt.Errorf("execute_result content.execution_count: %w", err)
				}
				o.ExecutionCount = n
			}
		}
		return o, len(c.Data) + len(c.Metadata), nil
	case "error":
		tb := c.Traceback
		if tb == nil {
			tb = []string{}
		}
		size := len(c.EName) + len(c.EValue)
		for _, t := range tb {
			size += len(t)
		}
		return &Output{OutputType: ErrorOutput, EName: c.EName, EValue: c.EValue, Traceback: tb}, size, nil
	}
	// nbclient logs "unhandled iopub msg" and moves on; kernels add types.
	return nil, 0, nil
}

func objectOrEmpty(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	v, err := decodeValue(raw)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want an object, got %s", kind(v))
	}
	return m, nil
}

func decodeNumber(raw json.RawMessage) any {
	v, err := decodeValue(raw)
	if err != nil {
		return string(raw)
	}
	return v
}

// capped applies MaxBytes to out: it returns out, a truncated copy, or nil
// when nothing of it is kept. The first time the cap bites, a note is
// appended; FinishCell brings the note's count up to date.
func (b *OutputBuilder) capped(out *Output, size int) *Output {
	if b.MaxBytes <= 0 || out.OutputType == ErrorOutput {
		return out
	}
	room := b.MaxBytes - b.kept
	if size <= room {
		b.kept += size
		return out
	}
	b.dropped += int64(size)
	var keep *Output
	if out.OutputType == StreamOutput && room > 0 {
		cut := room
		for cut > 0 && !utf8.RuneStart(out.Text[cut]) {
			cut--
		}
		keep = &Output{OutputType: StreamOutput, Name: out.Name, Text: out.Text[:cut]}
		b.kept += cut
		b.dropped -= int64(cut)
	}
	b.kept = max(b.kept, b.MaxBytes)
	if b.note == nil {
		cell := b.nb.Cells[b.cell]
		if keep != nil {
			cell.Outputs = append(cell.Outputs, keep)
			keep = nil
		}
		b.note = &Output{OutputType: StreamOutput, Name: "stderr"}
		cell.Outputs = append(cell.Outputs, b.note)
	}
	b.note.Text = b.noteText()
	return keep
}

func (b *OutputBuilder) noteText() string {
	return fmt.Sprintf("\n[trialbook] output truncated: this cell's output passed the %s cap; %s more was not kept.\n",
		humanBytes(int64(b.MaxBytes)), humanBytes(b.dropped))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
