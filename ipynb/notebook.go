// Package ipynb reads and writes Jupyter notebooks (nbformat 4) the way
// Python's nbformat does, and builds cell outputs from kernel messages the
// way nbclient does.
//
// Reading accepts nbformat 4.0 to 4.5 and upgrades to 4.5 as
// nbformat.v4.upgrade does (cells get ids). Writing produces the exact bytes
// nbformat.write produces. Fields this package does not know are kept in
// Extra maps and written back unchanged.
package ipynb

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Current format written by this package.
const (
	Major = 4
	Minor = 5
)

// ErrUnsupportedVersion is returned for a notebook that is not nbformat 4.0–4.5.
var ErrUnsupportedVersion = errors.New("unsupported nbformat version")

// Cell types.
const (
	CodeCell     = "code"
	MarkdownCell = "markdown"
	RawCell      = "raw"
)

// Output types.
const (
	StreamOutput        = "stream"
	DisplayDataOutput   = "display_data"
	ExecuteResultOutput = "execute_result"
	ErrorOutput         = "error"
)

// Notebook is an nbformat 4 notebook.
type Notebook struct {
	NBFormat      int
	NBFormatMinor int
	Metadata      map[string]any
	Cells         []*Cell
	// Extra holds top-level fields this package does not know, as read.
	Extra map[string]any
}

// Cell is one cell. ExecutionCount and Outputs exist only for code cells.
type Cell struct {
	ID             string
	CellType       string
	Source         string
	Metadata       map[string]any
	ExecutionCount *int
	Outputs        []*Output
	// Attachments is nil when the cell has none (the key is then absent).
	Attachments map[string]any
	Extra       map[string]any
}

// Output is one output of a code cell. Which fields are set depends on
// OutputType: Name and Text for stream; Data and Metadata for display_data;
// those and ExecutionCount for execute_result; EName, EValue and Traceback
// for error.
type Output struct {
	OutputType     string
	Name           string
	Text           string
	Data           map[string]any
	Metadata       map[string]any
	ExecutionCount *int
	EName          string
	EValue         string
	Traceback      []string
	Extra          map[string]any
}

// New returns an empty 4.5 notebook.
func New() *Notebook {
	return &Notebook{NBFormat: Major, NBFormatMinor: Minor, Metadata: map[string]any{}}
}

// NewCodeCell returns a code cell with a fresh id.
func NewCodeCell(source string) *Cell {
	return &Cell{ID: NewCellID(), CellType: CodeCell, Source: source, Metadata: map[string]any{}, Outputs: []*Output{}}
}

// NewMarkdownCell returns a markdown cell with a fresh id.
func NewMarkdownCell(source string) *Cell {
	return &Cell{ID: NewCellID(), CellType: MarkdownCell, Source: source, Metadata: map[string]any{}}
}

// NewCellID returns a random id shaped like nbformat's: 8 hex digits.
func NewCellID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// Tags returns the cell's metadata.tags strings.
func (c *Cell) Tags() []string {
	l, _ := c.Metadata["tags"].([]any)
	var tags []string
	for _, t := range l {
		if s, ok := t.(string); ok {
			tags = append(tags, s)
		}
	}
	return tags
}

// HasTag reports whether the cell carries tag in metadata.tags.
func (c *Cell) HasTag(tag string) bool { return slices.Contains(c.Tags(), tag) }

// ReadFile reads a notebook file; errors name the file.
func ReadFile(path string) (*Notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nb, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb, nil
}

// Parse reads a notebook from JSON. Malformed JSON gives a *SyntaxError with
// line and column; a version other than 4.0–4.5 wraps ErrUnsupportedVersion.
func Parse(data []byte) (*Notebook, error) {
	v, err := decodeValue(data)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object at the top level, got %s", kind(v))
	}
	nb := &Notebook{Extra: map[string]any{}}
	major, ok := intField(top, "nbformat")
	if !ok {
		return nil, fmt.Errorf("%w: \"nbformat\" is missing or not an integer, want 4", ErrUnsupportedVersion)
	}
	minor, ok := intField(top, "nbformat_minor")
	if !ok {
		return nil, fmt.Errorf("%w: \"nbformat_minor\" is missing or not an integer, want 0 to 5", ErrUnsupportedVersion)
	}
	if major != Major || minor < 0 || minor > Minor {
		return nil, fmt.Errorf("%w: %d.%d; trialbook reads 4.0 to 4.5 (convert older notebooks with `jupyter nbconvert --to notebook`)", ErrUnsupportedVersion, major, minor)
	}
	nb.NBFormat, nb.NBFormatMinor = major, minor
	for k, val := range top {
		switch k {
		case "nbformat", "nbformat_minor":
		case "metadata":
			m, ok := val.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("metadata: want an object, got %s", kind(val))
			}
			nb.Metadata = m
		case "cells":
			l, ok := val.([]any)
			if !ok {
				return nil, fmt.Errorf("cells: want a list, got %s", kind(val))
			}
			for i, cv := range l {
				c, err := parseCell(cv)
				if err != nil {
					return nil, fmt.Errorf("cells[%d]%w", i, err)
				}
				nb.Cells = append(nb.Cells, c)
			}
		default:
			nb.Extra[k] = val
		}
	}
	if nb.Metadata == nil {
		return nil, errors.New("metadata: missing; every nbformat 4 notebook has a metadata object")
	}
	if nb.Cells == nil {
		nb.Cells = []*Cell{}
	}
	stripTransient(nb)
	nb.upgrade()
	return nb, nil
}

// upgrade brings a 4.x notebook to 4.5 as nbformat.v4.upgrade does, and, as
// nbformat's validator does when reading 4.5, gives missing or duplicate
// cell ids new ones.
func (nb *Notebook) upgrade() {
	if nb.NBFormatMinor < Minor {
		for _, c := range nb.Cells {
			c.ID = NewCellID()
		}
		nb.NBFormatMinor = Minor
	}
	nb.RepairCellIDs()
}

// RepairCellIDs gives every cell without an id, or with an id already used
// by an earlier cell, a new one.
func (nb *Notebook) RepairCellIDs() {
	seen := map[string]bool{}
	for _, c := range nb.Cells {
		for c.ID == "" || seen[c.ID] {
			c.ID = NewCellID()
		}
		seen[c.ID] = true
	}
}

// stripTransient drops what nbformat never stores (rwbase.strip_transient).
func stripTransient(nb *Notebook) {
	delete(nb.Metadata, "orig_nbformat")
	delete(nb.Metadata, "orig_nbformat_minor")
	delete(nb.Metadata, "signature")
	for _, c := range nb.Cells {
		delete(c.Metadata, "trusted")
	}
}

type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func parseCell(v any) (*Cell, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{"", "want an object, got " + kind(v)}
	}
	c := &Cell{Extra: map[string]any{}}
	for k, val := range m {
		var err error
		switch k {
		case "id":
			c.ID, ok = val.(string)
			if !ok || !cellIDPattern.MatchString(c.ID) {
				err = fmt.Errorf("want 1 to 64 letters, digits, '-' or '_', got %s", describe(val))
			}
		case "cell_type":
			c.CellType, ok = val.(string)
			if !ok || (c.CellType != CodeCell && c.CellType != MarkdownCell && c.CellType != RawCell) {
				err = fmt.Errorf("want \"code\", \"markdown\" or \"raw\", got %s", describe(val))
			}
		case "source":
			c.Source, err = multiline(val)
		case "metadata":
			c.Metadata, ok = val.(map[string]any)
			if !ok {
				err = fmt.Errorf("want an object, got %s", kind(val))
			}
		case "execution_count":
			c.ExecutionCount, err = optInt(val)
		case "outputs":
			l, ok := val.([]any)
			if !ok {
				err = fmt.Errorf("want a list, got %s", kind(val))
				break
			}
			c.Outputs = []*Output{}
			for i, ov := range l {
				o, oerr := parseOutput(ov)
				if oerr != nil {
					return nil, fmt.Errorf(".outputs[%d]%w", i, oerr)
				}
				c.Outputs = append(c.Outputs, o)
			}
		case "attachments":
			c.Attachments, ok = val.(map[string]any)
			if !ok {
				err = fmt.Errorf("want an object, got %s", kind(val))
				break
			}
			for _, a := range c.Attachments {
				if bundle, ok := a.(map[string]any); ok {
					rejoinBundle(bundle)
				}
			}
		default:
			c.Extra[k] = val
		}
		if err != nil {
			return nil, &fieldError{"." + k, err.Error()}
		}
	}
	if c.CellType == "" {
		return nil, &fieldError{".cell_type", "missing; want \"code\", \"markdown\" or \"raw\""}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]any{}
	}
	if c.CellType == CodeCell && c.Outputs == nil {
		c.Outputs = []*Output{}
	}
	return c, nil
}

var cellIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,64}$`)

func parseOutput(v any) (*Output, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{"", "want an object, got " + kind(v)}
	}
	o := &Output{Extra: map[string]any{}}
	for k, val := range m {
		var err error
		switch k {
		case "output_type":
			o.OutputType, ok = val.(string)
			if !ok {
				err = fmt.Errorf("want a string, got %s", kind(val))
			}
		case "name":
			o.Name, ok = val.(string)
			if !ok {
				err = fmt.Errorf("want \"stdout\" or \"stderr\", got %s", describe(val))
			}
		case "text":
			o.Text, err = multiline(val)
		case "data":
			o.Data, ok = val.(map[string]any)
			if !ok {
				err = fmt.Errorf("want an object, got %s", kind(val))
			}
		case "metadata":
			o.Metadata, ok = val.(map[string]any)
			if !ok {
				err = fmt.Errorf("want an object, got %s", kind(val))
			}
		case "execution_count":
			o.ExecutionCount, err = optInt(val)
		case "ename":
			o.EName, ok = val.(string)
			if !ok {
				err = fmt.Errorf("want a string, got %s", kind(val))
			}
		case "evalue":
			o.EValue, ok = val.(string)
			if !ok {
				err = fmt.Errorf("want a string, got %s", kind(val))
			}
		case "traceback":
			l, ok := val.([]any)
			if !ok {
				err = fmt.Errorf("want a list of strings, got %s", kind(val))
				break
			}
			o.Traceback = []string{}
			for _, t := range l {
				s, ok := t.(string)
				if !ok {
					err = fmt.Errorf("want a list of strings, found %s", kind(t))
					break
				}
				o.Traceback = append(o.Traceback, s)
			}
		default:
			o.Extra[k] = val
		}
		if err != nil {
			return nil, &fieldError{"." + k, err.Error()}
		}
	}
	switch o.OutputType {
	case StreamOutput, ErrorOutput:
	case DisplayDataOutput, ExecuteResultOutput:
		if o.Data == nil {
			o.Data = map[string]any{}
		}
		if o.Metadata == nil {
			o.Metadata = map[string]any{}
		}
		rejoinBundle(o.Data)
	default:
		return nil, &fieldError{".output_type", fmt.Sprintf("want stream, display_data, execute_result or error, got %q", o.OutputType)}
	}
	return o, nil
}

// multiline accepts a string or a list of strings (joined), as nbformat's
// rejoin_lines does.
func multiline(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		var b strings.Builder
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("want a string or a list of strings, found %s in the list", kind(e))
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("want a string or a list of strings, got %s", kind(v))
}

func isJSONMime(mime string) bool {
	return mime == "application/json" || (strings.HasPrefix(mime, "application/") && strings.HasSuffix(mime, "+json"))
}

// rejoinBundle joins list-of-lines values of non-JSON mime types.
func rejoinBundle(b map[string]any) {
	for k, v := range b {
		l, ok := v.([]any)
		if !ok || isJSONMime(k) {
			continue
		}
		var sb strings.Builder
		all := true
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				all = false
				break
			}
			sb.WriteString(s)
		}
		if all {
			b[k] = sb.String()
		}
	}
}

// splitBundle splits text values into lines for writing (rwbase._split_mimebundle).
func splitBundle(b map[string]any) map[string]any {
	out := make(map[string]any, len(b))
	for k, v := range b {
		if s, ok := v.(string); ok && (strings.HasPrefix(k, "text/") || k == "application/javascript" || k == "image/svg+xml") {
			out[k] = splitLines(s)
		} else {
			out[k] = v
		}
	}
	return out
}

func intField(m map[string]any, k string) (int, bool) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	return i, err == nil
}

func optInt(v any) (*int, error) {
	if v == nil {
		return nil, nil
	}
	n, ok := v.(json.Number)
	if ok {
		if i, err := strconv.Atoi(string(n)); err == nil {
			return &i, nil
		}
	}
	return nil, fmt.Errorf("want an integer or null, got %s", describe(v))
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return string(x)
	}
	return kind(v)
}

// Marshal returns the notebook exactly as Python's nbformat.write writes it,
// trailing newline included.
func (nb *Notebook) Marshal() ([]byte, error) {
	w := &pyWriter{}
	if err := w.value(nb.toValue(), 0); err != nil {
		return nil, err
	}
	w.buf.WriteByte('\n')
	return w.buf.Bytes(), nil
}

func (nb *Notebook) toValue() map[string]any {
	top := nb.headerValue()
	cells := make([]any, len(nb.Cells))
	for i, c := range nb.Cells {
		cells[i] = c.toValue(nb.NBFormatMinor >= 5)
	}
	top["cells"] = cells
	return top
}

// headerValue is everything but the cells.
func (nb *Notebook) headerValue() map[string]any {
	top := make(map[string]any, len(nb.Extra)+4)
	for k, v := range nb.Extra {
		top[k] = v
	}
	meta := map[string]any{}
	for k, v := range nb.Metadata {
		switch k {
		case "orig_nbformat", "orig_nbformat_minor", "signature":
		default:
			meta[k] = v
		}
	}
	top["metadata"] = meta
	top["nbformat"] = nb.NBFormat
	top["nbformat_minor"] = nb.NBFormatMinor
	return top
}

func (c *Cell) toValue(withID bool) map[string]any {
	m := make(map[string]any, len(c.Extra)+6)
	for k, v := range c.Extra {
		m[k] = v
	}
	if withID && c.ID != "" {
		m["id"] = c.ID
	}
	m["cell_type"] = c.CellType
	m["source"] = splitLines(c.Source)
	meta := map[string]any{}
	for k, v := range c.Metadata {
		if k != "trusted" {
			meta[k] = v
		}
	}
	m["metadata"] = meta
	if c.Attachments != nil {
		att := make(map[string]any, len(c.Attachments))
		for k, v := range c.Attachments {
			if b, ok := v.(map[string]any); ok {
				att[k] = splitBundle(b)
			} else {
				att[k] = v
			}
		}
		m["attachments"] = att
	}
	if c.CellType == CodeCell {
		m["execution_count"] = intOrNil(c.ExecutionCount)
		outs := make([]any, len(c.Outputs))
		for i, o := range c.Outputs {
			outs[i] = o.toValue()
		}
		m["outputs"] = outs
	}
	return m
}

func (o *Output) toValue() map[string]any {
	m := make(map[string]any, len(o.Extra)+5)
	for k, v := range o.Extra {
		m[k] = v
	}
	m["output_type"] = o.OutputType
	switch o.OutputType {
	case StreamOutput:
		m["name"] = o.Name
		m["text"] = splitLines(o.Text)
	case DisplayDataOutput, ExecuteResultOutput:
		m["data"] = splitBundle(o.Data)
		meta := o.Metadata
		if meta == nil {
			meta = map[string]any{}
		}
		m["metadata"] = meta
		if o.OutputType == ExecuteResultOutput {
			m["execution_count"] = intOrNil(o.ExecutionCount)
		}
	case ErrorOutput:
		m["ename"] = o.EName
		m["evalue"] = o.EValue
		tb := o.Traceback
		if tb == nil {
			tb = []string{}
		}
		m["traceback"] = tb
	}
	return m
}

func intOrNil(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// WriteFile writes the notebook to path atomically: a temporary file in the
// same directory, fsync'd, then renamed over path, so a reader (or a crash)
// sees either the old file or the whole new one.
func (nb *Notebook) WriteFile(path string) error {
	data, err := nb.Marshal()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return WriteFileAtomic(path, data)
}
