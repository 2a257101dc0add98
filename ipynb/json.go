package ipynb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Values inside metadata, mime bundles and unknown fields are kept as generic
// JSON: map[string]any, []any, string, json.Number, bool and nil, exactly as
// decodeValue returns them. json.Number keeps the literal so that writing it
// back can reproduce Python's json module (ints stay arbitrary-precision,
// floats are printed with repr).

// SyntaxError is malformed notebook JSON, with the position where reading
// stopped.
type SyntaxError struct {
	Line, Col int // 1-based
	Offset    int64
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// decodeValue parses one JSON document into generic values. Like Python's
// json module it also accepts the bare tokens NaN, Infinity and -Infinity,
// which Python writes for non-finite floats.
func decodeValue(data []byte) (any, error) {
	src, shifts := markNonFinite(data)
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, positioned(data, shifts, err)
	}
	// Python's json.loads rejects trailing data too ("Extra data").
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, syntaxAt(data, origOffset(shifts, dec.InputOffset()), "extra data after the closing brace")
	}
	if len(shifts) > 0 {
		v = unmarkNonFinite(v)
	}
	return v, nil
}

// A bare NaN/Infinity token is quoted as a string starting with
// nonFiniteJSON (a NUL then a tag) while encoding/json parses, and turned
// back into a number after; no real notebook string starts that way.
const (
	nonFiniteJSON    = `\u0000trialbook-nonfinite:`
	nonFiniteDecoded = "\x00trialbook-nonfinite:"
)

type shift struct {
	at    int64 // offset in the rewritten input just after the replacement
	delta int64 // bytes the replacement added
}

// markNonFinite quotes bare NaN, Infinity and -Infinity tokens (outside
// strings) so encoding/json accepts them.
func markNonFinite(data []byte) ([]byte, []shift) {
	if !bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
		return data, nil
	}
	var out bytes.Buffer
	var shifts []shift
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out.WriteByte(c)
			continue
		}
		if c == '"' {
			inString = true
			out.WriteByte(c)
			continue
		}
		replaced := false
		for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(data[i:], []byte(tok)) {
				rep := `"` + nonFiniteJSON + tok + `"`
				out.WriteString(rep)
				shifts = append(shifts, shift{at: int64(out.Len()), delta: int64(len(rep) - len(tok))})
				i += len(tok) - 1
				replaced = true
				break
			}
		}
		if !replaced {
			out.WriteByte(c)
		}
	}
	return out.Bytes(), shifts
}

func origOffset(shifts []shift, off int64) int64 {
	var d int64
	for _, s := range shifts {
		if s.at <= off {
			d += s.delta
		}
	}
	return off - d
}

func unmarkNonFinite(v any) any {
	switch x := v.(type) {
	case string:
		if tok, ok := strings.CutPrefix(x, nonFiniteDecoded); ok {
			return json.Number(tok)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = unmarkNonFinite(e)
		}
	case []any:
		for i, e := range x {
			x[i] = unmarkNonFinite(e)
		}
	}
	return v
}

func positioned(data []byte, shifts []shift, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// encoding/json reports the offset just past the offending byte.
		return syntaxAt(data, origOffset(shifts, se.Offset)-1, se.Error())
	case errors.As(err, &te):
		return syntaxAt(data, origOffset(shifts, te.Offset), te.Error())
	case errors.Is(err, io.EOF):
		return syntaxAt(data, int64(len(data)), "empty file, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return syntaxAt(data, int64(len(data)), "unexpected end of JSON input")
	}
	return err
}

// syntaxAt describes the byte at off by line and column (1-based, columns
// counted in characters).
func syntaxAt(data []byte, off int64, msg string) *SyntaxError {
	off = max(0, min(off, int64(len(data))))
	line, col := 1, 1
	for _, r := range string(data[:off]) {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Line: line, Col: col, Offset: off, Msg: msg}
}

// pyWriter writes JSON the way Python's json.dumps(obj, indent=1,
// sort_keys=True, ensure_ascii=False, separators=(",", ": ")) does, which is
// what nbformat.write uses.
type pyWriter struct {
	buf bytes.Buffer
}

func (w *pyWriter) newline(depth int) {
	w.buf.WriteByte('\n')
	for range depth {
		w.buf.WriteByte(' ')
	}
}

func (w *pyWriter) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		w.buf.WriteString("null")
	case bool:
		if x {
			w.buf.WriteString("true")
		} else {
			w.buf.WriteString("false")
		}
	case string:
		writePyString(&w.buf, x)
	case json.Number:
		s, err := pyNumber(string(x))
		if err != nil {
			return err
		}
		w.buf.WriteString(s)
	case int:
		w.buf.WriteString(strconv.Itoa(x))
	case int64:
		w.buf.WriteString(strconv.FormatInt(x, 10))
	case float64:
		w.buf.WriteString(pyFloat(x))
	case map[string]any:
		if len(x) == 0 {
			w.buf.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Byte order of UTF-8 is code point order, which is what Python sorts by.
		sort.Strings(keys)
		w.buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.newline(depth + 1)
			writePyString(&w.buf, k)
			w.buf.WriteString(": ")
			if err := w.value(x[k], depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		w.newline(depth)
		w.buf.WriteByte('}')
	case []any:
		if len(x) == 0 {
			w.buf.WriteString("[]")
			return nil
		}
		w.buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			w.newline(depth + 1)
			if err := w.value(e, depth+1); err != nil {
				return err
			}
		}
		w.newline(depth)
		w.buf.WriteByte(']')
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return w.value(l, depth)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return w.value(m, depth)
	default:
		// Anything else a caller put into metadata: go through encoding/json
		// and back so it is written with the same rules as the rest.
		raw, err := json.Marshal(x)
		if err != nil {
			return err
		}
		g, err := decodeValue(raw)
		if err != nil {
			return err
		}
		return w.value(g, depth)
	}
	return nil
}

// writePyString escapes like json.dumps with ensure_ascii=False: only the
// quote, the backslash and control characters below U+0020 are escaped.
// Invalid UTF-8 (which a Python str cannot hold) becomes U+FFFD.
func writePyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 {
					fmt.Fprintf(b, `\u%04x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// pyNumber reproduces what Python prints for a number it parsed from lit:
// integers as arbitrary-precision ints, anything with a fraction or exponent
// as a float through repr.
func pyNumber(lit string) (string, error) {
	switch lit {
	case "NaN", "Infinity", "-Infinity":
		return lit, nil
	}
	if !strings.ContainsAny(lit, ".eE") {
		neg := strings.HasPrefix(lit, "-")
		digits := strings.TrimLeft(strings.TrimPrefix(lit, "-"), "0")
		if digits == "" {
			return "0", nil
		}
		if neg {
			return "-" + digits, nil
		}
		return digits, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("number %q: %w", lit, err)
	}
	return pyFloat(f), nil
}

// PythonFloat formats f as Python's repr(f) does (json.dumps writes
// NaN, Infinity and -Infinity for the non-finite values).
func PythonFloat(f float64) string { return pyFloat(f) }

// pyFloat formats like Python's float.__repr__ (shortest round-trip digits,
// fixed notation for exponents in [-4, 16), scientific otherwise) and like
// json.dumps for non-finite values.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			return sign + "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			return sign + digits[:decpt] + "." + digits[decpt:]
		}
	}
	m := digits[:1]
	if len(digits) > 1 {
		m += "." + digits[1:]
	}
	esign := "+"
	if exp < 0 {
		esign, exp = "-", -exp
	}
	return fmt.Sprintf("%s%se%s%02d", sign, m, esign, exp)
}

// splitLines is Python's str.splitlines(keepends=True).
func splitLines(s string) []any {
	var out []any
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		end := -1
		switch r {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				end = i + 2
			} else {
				end = i + 1
			}
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			end = i + size
		}
		if end < 0 {
			i += size
			continue
		}
		out = append(out, s[start:end])
		start, i = end, end
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	if out == nil {
		out = []any{}
	}
	return out
}
