package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Span is where one event's line lies in the journal file, newline included.
type Span struct {
	Offset int64
	Len    int32
}

// tailChunk is how much of a journal Tail reads at once, so that catching up
// on a long journal never holds more than this of its bytes.
const tailChunk = 1 << 20

// Tail reads a journal that another process may be appending to, a piece at a
// time: each Read hands over the events of the lines completed since the last
// one. It is what Follow and the bridge's snapshot cache share. A Tail is not
// safe for concurrent use.
type Tail struct {
	path    string
	offset  int64 // bytes of complete lines read so far
	line    int   // number of the line at offset, from 1
	lastSeq int64
	file    os.FileInfo // the file read so far; nil before the first
}

// NewTail reads path from its first event.
func NewTail(path string) *Tail { return &Tail{path: path, line: 1} }

// Offset is the number of bytes of complete lines read so far.
func (t *Tail) Offset() int64 { return t.offset }

// File is the journal as the last Read found it (size, modification time),
// nil before it first existed.
func (t *Tail) File() os.FileInfo { return t.file }

// Seq is the seq of the last event read, 0 before any.
func (t *Tail) Seq() int64 { return t.lastSeq }

// Read calls fn with each event of the lines completed since the last Read,
// in order, and with where its line lies. A trailing partial line is left for
// a later Read (a writer may be half way through it). A journal that does not
// exist yet reads as no events; one that shrank, or that another file
// replaced or that vanished since the last Read, is ErrReplaced. At an invalid
// line Read returns a *LineError and stays there, so a later Read says so
// again. An error from fn stops Read and is returned as is; the event fn was
// given counts as read.
func (t *Tail) Read(fn func(Event, Span) error) error {
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		if t.file != nil {
			return fmt.Errorf("%s: %w (it no longer exists)", t.path, ErrReplaced)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read journal %s: %w", t.path, err)
	}
	if t.file != nil && !os.SameFile(t.file, st) {
		return fmt.Errorf("%s: %w", t.path, ErrReplaced)
	}
	size := st.Size()
	if size < t.offset {
		return fmt.Errorf("%s: %w", t.path, ErrReplaced)
	}
	t.file = st

	chunk := int64(tailChunk)
	var buf []byte
	for t.offset < size {
		want := min(size-t.offset, chunk)
		if int64(cap(buf)) < want {
			buf = make([]byte, want)
		}
		buf = buf[:want]
		n, err := f.ReadAt(buf, t.offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read journal %s: %w", t.path, err)
		}
		data, base, used := buf[:n], t.offset, 0
		for {
			i := bytes.IndexByte(data[used:], '\n')
			if i < 0 {
				break
			}
			line, start := data[used:used+i], base+int64(used)
			used += i + 1
			if len(bytes.TrimSpace(line)) == 0 {
				t.offset, t.line = start+int64(i)+1, t.line+1
				continue // a blank line carries nothing; tolerated so hand-edited journals still open
			}
			e, err := decodeLine(line, t.lastSeq)
			if err != nil {
				return &LineError{Path: t.path, Line: t.line, Err: err}
			}
			t.offset, t.line, t.lastSeq = start+int64(i)+1, t.line+1, e.Seq
			if err := fn(e, Span{Offset: start, Len: int32(i + 1)}); err != nil {
				return err
			}
		}
		if used == 0 {
			if int64(n) == size-t.offset {
				return nil // only a partial line is left
			}
			chunk *= 2 // a line longer than a chunk
		}
	}
	return nil
}
