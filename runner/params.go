package runner

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"trialbook/ipynb"
)

// Param is one notebook parameter, as given on a command line (-p NAME VALUE).
type Param struct {
	Name  string
	Value string
	// Raw keeps Value a string (papermill's -r) instead of typing it.
	Raw bool
}

// ParamValue is a parameter typed the way papermill types command-line
// values: True, False and None are Python's constants, then an int, then a
// float, else a string.
type ParamValue struct {
	kind  byte // 'b' bool, 'n' None, 'i' int, 'f' float, 's' string
	b     bool
	i     *big.Int
	f     float64
	s     string
	input string
}

var (
	pyIntPattern   = regexp.MustCompile(`^[+-]?[0-9]+(_[0-9]+)*$`)
	pyFloatPattern = regexp.MustCompile(`^[+-]?(([0-9]+(_[0-9]+)*)?\.?([0-9]+(_[0-9]+)*)?([eE][+-]?[0-9]+(_[0-9]+)*)?|(?i:nan|inf|infinity))$`)
	pyIdentPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// TypeParam types a command-line value as papermill's _resolve_type does.
func TypeParam(v string) ParamValue {
	switch v {
	case "True", "False":
		return ParamValue{kind: 'b', b: v == "True", input: v}
	case "None":
		return ParamValue{kind: 'n', input: v}
	}
	t := strings.TrimSpace(v)
	if pyIntPattern.MatchString(t) {
		i, ok := new(big.Int).SetString(strings.ReplaceAll(strings.TrimPrefix(t, "+"), "_", ""), 10)
		if ok {
			return ParamValue{kind: 'i', i: i, input: v}
		}
	}
	if pyFloatPattern.MatchString(t) && strings.ContainsAny(t, "0123456789nNiI") {
		f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
		if err == nil || math.IsInf(f, 0) {
			return ParamValue{kind: 'f', f: f, input: v}
		}
	}
	return ParamValue{kind: 's', s: v, input: v}
}

// Python returns the value as Python source, as papermill's PythonTranslator
// writes it.
func (p ParamValue) Python() string {
	switch p.kind {
	case 'b':
		if p.b {
			return "True"
		}
		return "False"
	case 'n':
		return "None"
	case 'i':
		return p.i.String()
	case 'f':
		switch {
		case math.IsNaN(p.f):
			return "float('nan')"
		case math.IsInf(p.f, 1):
			return "float('inf')"
		case math.IsInf(p.f, -1):
			return "float('-inf')"
		}
		return ipynb.PythonFloat(p.f)
	}
	return pythonString(p.s)
}

// JSON returns the value for the notebook's metadata.papermill.parameters.
func (p ParamValue) JSON() any {
	switch p.kind {
	case 'b':
		return p.b
	case 'n':
		return nil
	case 'i':
		return json.Number(p.i.String())
	case 'f':
		return p.f
	}
	return p.s
}

// pythonString is papermill's translate_escaped_str: the string encoded with
// Python's unicode_escape codec, double quotes escaped, in double quotes.
func pythonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '"':
			b.WriteString(`\"`)
		case r < 0x20 || (r >= 0x7f && r < 0x100):
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// InjectParameters adds a cell tagged injected-parameters that assigns
// params, as papermill does: it replaces an earlier injected cell, or goes
// right after the first cell tagged parameters, or else at the top. The
// parameters are also recorded in metadata.papermill.parameters. It returns
// the index of the injected cell.
func InjectParameters(nb *ipynb.Notebook, params []Param) (int, error) {
	var src strings.Builder
	src.WriteString("# Parameters\n")
	recorded := map[string]any{}
	for _, p := range params {
		if !pyIdentPattern.MatchString(p.Name) {
			return 0, fmt.Errorf("parameter name %q: want a Python identifier (letters, digits, _; not starting with a digit)", p.Name)
		}
		v := TypeParam(p.Value)
		if p.Raw {
			v = ParamValue{kind: 's', s: p.Value, input: p.Value}
		}
		fmt.Fprintf(&src, "%s = %s\n", p.Name, v.Python())
		recorded[p.Name] = v.JSON()
	}
	cell := ipynb.NewCodeCell(src.String())
	cell.Metadata["tags"] = []any{"injected-parameters"}

	at := -1
	for i, c := range nb.Cells {
		if c.HasTag("injected-parameters") {
			nb.Cells[i] = cell
			at = i
			break
		}
	}
	if at < 0 {
		at = 0
		for i, c := range nb.Cells {
			if c.HasTag("parameters") {
				at = i + 1
				break
			}
		}
		nb.Cells = append(nb.Cells[:at], append([]*ipynb.Cell{cell}, nb.Cells[at:]...)...)
	}
	pm, _ := nb.Metadata["papermill"].(map[string]any)
	if pm == nil {
		pm = map[string]any{}
		nb.Metadata["papermill"] = pm
	}
	pm["parameters"] = recorded
	return at, nil
}
