package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// LineError is a journal line that is not a valid event. Path and Line (from
// 1) say where; a reader that meets one stops, since the events after it could
// not be trusted to follow on from the ones before.
type LineError struct {
	Path string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// parsed is what scanning a journal's bytes found.
type parsed struct {
	events []Event
	// complete is the number of bytes that hold complete, newline-ended lines.
	complete int64
	// lines is the number of complete lines (blank ones included).
	lines int
}

// parseLines decodes every complete line of data (those ending in '\n') and
// leaves a trailing partial line alone: it is either a write still under way
// (another process appending) or a torn one (a writer killed mid-write), and
// only the writer may decide which. firstLine numbers data's first line;
// lastSeq is the seq of the event just before data, for the order check.
func parseLines(path string, data []byte, firstLine int, lastSeq int64) (parsed, error) {
	var p parsed
	for {
		i := bytes.IndexByte(data[p.complete:], '\n')
		if i < 0 {
			return p, nil
		}
		line := data[p.complete : p.complete+int64(i)]
		lineNo := firstLine + p.lines
		p.lines++
		p.complete += int64(i) + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue // a blank line carries nothing; tolerated so hand-edited journals still open
		}
		e, err := decodeLine(line, lastSeq)
		if err != nil {
			return p, &LineError{Path: path, Line: lineNo, Err: err}
		}
		lastSeq = e.Seq
		p.events = append(p.events, e)
	}
}

// decodeLine decodes one event and checks that it follows lastSeq.
func decodeLine(line []byte, lastSeq int64) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("not a JSON event: %w", err)
	}
	if e.Type == "" {
		return Event{}, errors.New(`event has no "type"`)
	}
	if e.Seq <= lastSeq {
		return Event{}, fmt.Errorf("seq %d does not follow seq %d: seqs must increase", e.Seq, lastSeq)
	}
	return e, nil
}

// ReadFile reads every complete event of a journal. It may be called while
// another process appends: a partial last line is ignored, not reported. A
// journal that does not exist reads as no events and an error wrapping
// fs.ErrNotExist.
func ReadFile(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	p, err := parseLines(path, data, 1, 0)
	if err != nil {
		return nil, err
	}
	return p.events, nil
}
