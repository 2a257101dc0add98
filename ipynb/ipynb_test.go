package ipynb

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate testdata/golden with the .venv's nbformat")

// venvPython finds the repository's .venv python by walking up to go.mod.
func venvPython(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			py := filepath.Join(dir, ".venv", "bin", "python")
			if _, err := os.Stat(py); err != nil {
				t.Skipf("no %s; run `make setup`", py)
			}
			return py
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory")
		}
		dir = parent
	}
}

// fixIDs replaces the ids that reading had to invent (none in the file, or a
// duplicate) with "id<index>", as testdata/nb_golden.py does on the Python side.
func fixIDs(t *testing.T, raw []byte, nb *Notebook) {
	t.Helper()
	v, err := decodeValue(raw)
	if err != nil {
		t.Fatal(err)
	}
	inCells := v.(map[string]any)["cells"].([]any)
	seen := map[string]bool{}
	for i, c := range nb.Cells {
		if !cellIDPattern.MatchString(c.ID) {
			t.Errorf("cell %d: id %q is not a valid nbformat id", i, c.ID)
		}
		var orig *string
		if s, ok := inCells[i].(map[string]any)["id"].(string); ok {
			orig = &s
		}
		if orig == nil || seen[*orig] {
			if orig != nil && c.ID == *orig {
				t.Errorf("cell %d: duplicate id %q was not repaired", i, c.ID)
			}
			c.ID = "id" + itoa(i)
			continue
		}
		seen[*orig] = true
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestWriteMatchesPythonNbformat(t *testing.T) {
	if *update {
		py := venvPython(t)
		out, err := exec.Command(py, "testdata/nb_golden.py", "testdata/read", "testdata/golden").CombinedOutput()
		if err != nil {
			t.Fatalf("nb_golden.py: %v\n%s", err, out)
		}
	}
	files, _ := filepath.Glob("testdata/read/*.ipynb")
	if len(files) == 0 {
		t.Fatal("no notebooks in testdata/read")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			nb, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if nb.NBFormat != 4 || nb.NBFormatMinor != 5 {
				t.Errorf("version = %d.%d, want 4.5", nb.NBFormat, nb.NBFormatMinor)
			}
			fixIDs(t, raw, nb)
			got, err := nb.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("testdata/golden", filepath.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("written bytes differ from Python's nbformat.write:\n%s", firstDiff(got, want))
			}
			// Reading what we wrote and writing again changes nothing.
			again, err := Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			got2, _ := again.Marshal()
			if !bytes.Equal(got, got2) {
				t.Errorf("second round trip differs:\n%s", firstDiff(got2, got))
			}
		})
	}
}

// TestGoldenFilesAreCurrent regenerates the golden files with the .venv's
// nbformat into a temporary directory, so a golden edited by hand or made by
// another nbformat version is caught.
func TestGoldenFilesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	py := venvPython(t)
	dir := t.TempDir()
	if out, err := exec.Command(py, "testdata/nb_golden.py", "testdata/read", dir).CombinedOutput(); err != nil {
		t.Fatalf("nb_golden.py: %v\n%s", err, out)
	}
	files, _ := filepath.Glob("testdata/golden/*.ipynb")
	for _, f := range files {
		want, _ := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		got, _ := os.ReadFile(f)
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale; run go test ./ipynb -run TestWriteMatchesPythonNbformat -update\n%s", f, firstDiff(got, want))
		}
	}
}

func firstDiff(got, want []byte) string {
	gl := strings.Split(string(got), "\n")
	wl := strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "line " + itoa(i+1) + ":\n got: " + g + "\nwant: " + w
		}
	}
	return "(equal lines, different bytes)"
}

func TestPyFloat(t *testing.T) {
	tests := []struct {
		lit, want string
	}{
		{"0.1", "0.1"}, {"1.0", "1.0"}, {"1e16", "1e+16"}, {"1e15", "1000000000000000.0"},
		{"1.5e-7", "1.5e-07"}, {"0.0001", "0.0001"}, {"0.00001", "1e-05"}, {"-0.0", "-0.0"},
		{"1E5", "100000.0"}, {"2.50", "2.5"}, {"1e400", "Infinity"}, {"-1e400", "-Infinity"},
		{"123456789012345678901234567890", "123456789012345678901234567890"}, {"-0", "0"},
		{"1.7976931348623157e308", "1.7976931348623157e+308"}, {"5e-324", "5e-324"},
		{"123456.789e3", "123456789.0"}, {"0.30000000000000004", "0.30000000000000004"},
	}
	for _, tt := range tests {
		got, err := pyNumber(tt.lit)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("pyNumber(%q) = %q, want %q", tt.lit, got, tt.want)
		}
	}
}

func TestSplitLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a\n"}},
		{"a\r\nb\rc\n\nd", []string{"a\r\n", "b\r", "c\n", "\n", "d"}},
		{"x\vy\x1cz\u2028w", []string{"x\v", "y\x1c", "z\u2028", "w"}},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range splitLines(tt.in) {
			got = append(got, l.(string))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
		is             error
	}{
		{"syntax", "{\n \"cells\": [\n  {,}\n ]\n}", "line 3, column 4", nil},
		{"truncated", "{\"cells\": [", "unexpected end", nil},
		{"empty", "", "empty file", nil},
		{"trailing", "{\"nbformat\": 4, \"nbformat_minor\": 5, \"metadata\": {}, \"cells\": []} x", "extra data", nil},
		{"v3", `{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}`, "3.0; trialbook reads 4.0 to 4.5", ErrUnsupportedVersion},
		{"v4.6", `{"nbformat": 4, "nbformat_minor": 6, "metadata": {}, "cells": []}`, "4.6", ErrUnsupportedVersion},
		{"no version", `{"metadata": {}, "cells": []}`, `"nbformat" is missing`, ErrUnsupportedVersion},
		{"bad cell type", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"id": "a", "cell_type": "cod", "metadata": {}, "source": ""}]}`, `cells[0].cell_type: want "code", "markdown" or "raw", got "cod"`, nil},
		{"bad source", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"id": "a", "cell_type": "code", "metadata": {}, "source": 3, "outputs": []}]}`, `cells[0].source: want a string or a list of strings, got a number`, nil},
		{"bad output", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"id": "a", "cell_type": "code", "metadata": {}, "source": "", "execution_count": null, "outputs": [{"output_type": "strem"}]}]}`, `cells[0].outputs[0].output_type: want stream`, nil},
		{"array", `[]`, "want a JSON object at the top level, got a list", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	var se *SyntaxError
	_, err := Parse([]byte("{\n \"a\": tru\n}"))
	if !errors.As(err, &se) || se.Line != 2 {
		t.Errorf("Parse error = %v, want a *SyntaxError on line 2", err)
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	_, err := ReadFile("testdata/does-not-exist.ipynb")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
	p := filepath.Join(t.TempDir(), "bad.ipynb")
	if err := os.WriteFile(p, []byte("{\n\n  oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(p)
	if err == nil || !strings.Contains(err.Error(), p+": line 3, column 3") {
		t.Errorf("err = %v, want it to name %s and line 3, column 3", err, p)
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nb.ipynb")
	nb := New()
	nb.Cells = append(nb.Cells, NewCodeCell("print(1)"))
	if err := nb.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	nb.Cells[0].Source = "print(2)"
	if err := nb.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Cells[0].Source; got != "print(2)" {
		t.Errorf("source = %q, want print(2)", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the notebook (no temp files left)", len(entries))
	}
}

func TestSnapshotterMatchesMarshal(t *testing.T) {
	raw, err := os.ReadFile("testdata/read/v45_mixed.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSnapshotter(nb)
	check := func(what string) {
		t.Helper()
		got, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := nb.Marshal()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: snapshot differs from Marshal:\n%s", what, firstDiff(got, want))
		}
	}
	check("first")
	check("unchanged")
	nb.Cells[1].Source = "changed source"
	check("source edited")
	n := 9
	nb.Cells[1].ExecutionCount = &n
	check("count changed")
	nb.Cells[1].Outputs[0].Text = "same length? no, longer text"
	s.Invalidate(nb.Cells[1])
	check("output edited and invalidated")
	nb.Cells = append(nb.Cells, NewCodeCell("new"))
	nb.Metadata["added"] = "x"
	check("cell and metadata added")
	nb.Cells = nb.Cells[:0]
	check("no cells")
}

// TestWrittenNotebooksValidate runs nbformat's own validator on what this
// package writes for every schema-valid fixture (v45_mixed carries unknown
// fields on purpose, which the schema forbids at the top level).
func TestWrittenNotebooksValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	py := venvPython(t)
	files, _ := filepath.Glob("testdata/read/*.ipynb")
	dir := t.TempDir()
	var written []string
	for _, f := range files {
		if strings.HasSuffix(f, "v45_mixed.ipynb") {
			continue
		}
		nb, err := ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		nb.Cells = append(nb.Cells, NewCodeCell("print('added')"), NewMarkdownCell("added"))
		out := filepath.Join(dir, filepath.Base(f))
		if err := nb.WriteFile(out); err != nil {
			t.Fatal(err)
		}
		written = append(written, out)
	}
	script := "import sys, nbformat\nfor p in sys.argv[1:]:\n    nbformat.validate(nbformat.read(p, as_version=nbformat.NO_CONVERT))\n"
	if out, err := exec.Command(py, append([]string{"-c", script}, written...)...).CombinedOutput(); err != nil {
		t.Errorf("nbformat.validate: %v\n%s", err, out)
	}
}
