package ipynb

import (
	"bytes"
	"sort"
)

// Snapshotter marshals one notebook over and over (the runner saves after
// every cell) and re-encodes only the cells that changed: the bytes of each
// cell are kept and reused while the cell is unchanged. Its output is
// exactly Marshal's.
//
// A cell counts as changed when Invalidate was called for it, or when its
// id, type, source, execution count or number of outputs or metadata keys
// differ from the last encoding. Code that edits a cell's outputs or
// metadata values in place calls Invalidate.
type Snapshotter struct {
	nb    *Notebook
	cells map[*Cell]*encodedCell
}

type encodedCell struct {
	fp   cellPrint
	json []byte
}

// cellPrint is what a cheap look at a cell can tell apart. It holds the
// source itself (comparing a string to the same string is a pointer check),
// which also keeps the old source alive so that its memory cannot be reused
// by a different source of the same length.
type cellPrint struct {
	id, cellType string
	src          string
	count        int
	hasCount     bool
	outputs      int
	meta         int
	attachments  int
}

func printOf(c *Cell) cellPrint {
	p := cellPrint{id: c.ID, cellType: c.CellType, src: c.Source,
		outputs: len(c.Outputs), meta: len(c.Metadata), attachments: len(c.Attachments)}
	if c.ExecutionCount != nil {
		p.count, p.hasCount = *c.ExecutionCount, true
	}
	return p
}

// NewSnapshotter returns a Snapshotter for nb.
func NewSnapshotter(nb *Notebook) *Snapshotter {
	return &Snapshotter{nb: nb, cells: map[*Cell]*encodedCell{}}
}

// Reset forgets every cell's bytes, for when cells may have been edited
// anywhere.
func (s *Snapshotter) Reset() { clear(s.cells) }

// Invalidate marks c as changed.
func (s *Snapshotter) Invalidate(c *Cell) { delete(s.cells, c) }

// cellDepth is the indentation depth of a cell inside "cells": [...].
const cellDepth = 2

// Marshal returns the notebook's bytes, as Notebook.Marshal would.
func (s *Snapshotter) Marshal() ([]byte, error) {
	top := s.nb.headerValue()
	keys := make([]string, 0, len(top)+1)
	for k := range top {
		keys = append(keys, k)
	}
	keys = append(keys, "cells")
	sort.Strings(keys)

	live := make(map[*Cell]bool, len(s.nb.Cells))
	w := &pyWriter{}
	w.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.newline(1)
		writePyString(&w.buf, k)
		w.buf.WriteString(": ")
		if k != "cells" {
			if err := w.value(top[k], 1); err != nil {
				return nil, err
			}
			continue
		}
		if len(s.nb.Cells) == 0 {
			w.buf.WriteString("[]")
			continue
		}
		w.buf.WriteByte('[')
		for j, c := range s.nb.Cells {
			if j > 0 {
				w.buf.WriteByte(',')
			}
			w.newline(cellDepth)
			live[c] = true
			fp := printOf(c)
			enc := s.cells[c]
			if enc == nil || enc.fp != fp {
				cw := &pyWriter{}
				if err := cw.value(c.toValue(s.nb.NBFormatMinor >= 5), cellDepth); err != nil {
					return nil, err
				}
				enc = &encodedCell{fp: fp, json: bytes.Clone(cw.buf.Bytes())}
				s.cells[c] = enc
			}
			w.buf.Write(enc.json)
		}
		w.newline(1)
		w.buf.WriteByte(']')
	}
	w.newline(0)
	w.buf.WriteString("}\n")
	for c := range s.cells {
		if !live[c] {
			delete(s.cells, c)
		}
	}
	return w.buf.Bytes(), nil
}
