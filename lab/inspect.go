package lab

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"trialbook/ipynb"
	"trialbook/journal"
)

// What a reviewer sees of a trial's notebook outside Jupyter: every cell's
// source and a compact view of its outputs (the JupyterLab dashboard's
// trial page, GET …/trials/{n}/cells). The notebook itself stays the record.

// Caps on a compact output: text keeps its tail, an image over the cap is
// left out with a note.
const (
	compactTextBytes  = 4000
	compactImageBytes = 1 << 20
)

// ErrNoTrial is returned for a trial number the journal does not know.
var ErrNoTrial = errors.New("no such trial")

// TrialCells is a trial notebook's cells.
type TrialCells struct {
	Trial    int    `json:"trial"`
	Notebook string `json:"notebook"` // relative to the experiment folder
	// Written is false while the notebook does not exist yet (a trial only
	// proposed): Cells is then empty.
	Written bool           `json:"written"`
	Cells   []NotebookCell `json:"cells"`
}

// NotebookCell is one cell with its outputs made compact.
type NotebookCell struct {
	Index          int             `json:"index"` // its index in the notebook: the journal's cell number
	Type           string          `json:"type"`  // code, markdown, raw
	Role           string          `json:"role,omitempty"`
	Source         string          `json:"source"`
	ExecutionCount *int            `json:"executionCount,omitempty"`
	Outputs        []CompactOutput `json:"outputs"`
}

// CompactOutput is one output, reduced to what a summary shows.
type CompactOutput struct {
	// Type: text (stream or text/plain), image, or error.
	Type string `json:"type"`
	Name string `json:"name,omitempty"` // stdout or stderr, for a stream
	Text string `json:"text,omitempty"` // the tail of the text; an error's ename: evalue and traceback
	MIME string `json:"mime,omitempty"` // an image's type: image/png, image/jpeg, image/svg+xml
	Data string `json:"data,omitempty"` // an image, base64
	// Truncated says the text was cut to its tail, or an image was left out.
	Truncated bool `json:"truncated,omitempty"`
}

// ReadTrialCells reads trial n's notebook in the experiment folder dir,
// given the experiment's events. An unknown trial is ErrNoTrial.
func ReadTrialCells(dir string, events []journal.Event, n int) (*TrialCells, error) {
	snap := journal.Fold(events)
	row, ok := snap.Trial(n)
	if !ok {
		return nil, fmt.Errorf("trial %d: %w", n, ErrNoTrial)
	}
	tc := &TrialCells{Trial: n, Notebook: row.Notebook, Cells: []NotebookCell{}}
	nb, err := readTrialNotebook(dir, row.Notebook)
	if errors.Is(err, fs.ErrNotExist) {
		return tc, nil
	}
	if err != nil {
		return nil, err
	}
	tc.Written = true
	for i, c := range nb.Cells {
		tc.Cells = append(tc.Cells, compactCell(i, c))
	}
	return tc, nil
}

// readTrialNotebook reads a notebook the journal names, which must lie
// inside the experiment folder.
func readTrialNotebook(dir, notebook string) (*ipynb.Notebook, error) {
	if notebook == "" {
		return nil, fs.ErrNotExist
	}
	if !filepath.IsLocal(filepath.FromSlash(notebook)) {
		return nil, fmt.Errorf("the journal names notebook %q outside the experiment folder", notebook)
	}
	return ipynb.ReadFile(filepath.Join(dir, filepath.FromSlash(notebook)))
}

func compactCell(i int, c *ipynb.Cell) NotebookCell {
	nc := NotebookCell{Index: i, Type: c.CellType, Source: c.Source, ExecutionCount: c.ExecutionCount, Outputs: []CompactOutput{}}
	if meta, ok := c.Metadata[metaKey].(map[string]any); ok {
		nc.Role, _ = meta["role"].(string)
	}
	for _, o := range c.Outputs {
		if co, ok := compactOutput(o); ok {
			nc.Outputs = append(nc.Outputs, co)
		}
	}
	return nc
}

func compactOutput(o *ipynb.Output) (CompactOutput, bool) {
	switch o.OutputType {
	case ipynb.StreamOutput:
		return clipped(CompactOutput{Type: "text", Name: o.Name}, o.Text), true
	case ipynb.ErrorOutput:
		text := o.EName + ": " + o.EValue
		if len(o.Traceback) > 0 {
			text = ansi.ReplaceAllString(strings.Join(o.Traceback, "\n"), "")
		}
		return clipped(CompactOutput{Type: "error"}, text), true
	case ipynb.DisplayDataOutput, ipynb.ExecuteResultOutput:
		for _, mime := range []string{"image/png", "image/jpeg", "image/svg+xml"} {
			v, ok := o.Data[mime]
			if !ok {
				continue
			}
			data := mimeString(v)
			if mime == "image/svg+xml" {
				data = base64.StdEncoding.EncodeToString([]byte(data))
			}
			if len(data) > compactImageBytes {
				return CompactOutput{Type: "image", MIME: mime, Truncated: true, Text: fmt.Sprintf("an image of %d bytes, too large to show here: open the notebook", len(data))}, true
			}
			return CompactOutput{Type: "image", MIME: mime, Data: strings.ReplaceAll(data, "\n", "")}, true
		}
		if v, ok := o.Data["text/plain"]; ok {
			return clipped(CompactOutput{Type: "text"}, mimeString(v)), true
		}
		// Only rich types (HTML, widgets): name them.
		keys := make([]string, 0, len(o.Data))
		for k := range o.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return CompactOutput{Type: "text", Text: "(" + strings.Join(keys, ", ") + ": open the notebook)"}, len(keys) > 0
	}
	return CompactOutput{}, false
}

// mimeString is a bundle value as text: a string, or JSON for a JSON type.
func mimeString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// clipped is o with text's last compactTextBytes.
func clipped(o CompactOutput, text string) CompactOutput {
	o.Text = tail(text, compactTextBytes)
	o.Truncated = len(o.Text) < len(text)
	return o
}
