package runner

import (
	"os/exec"
	"strings"
	"testing"

	"trialbook/ipynb"
)

var paramCases = []Param{
	{Name: "a", Value: "1"}, {Name: "b", Value: "-2.5"}, {Name: "c", Value: "True"}, {Name: "d", Value: "None"},
	{Name: "e", Value: "hello world"}, {Name: "f", Value: `quote " and \ back`}, {Name: "g", Value: "1e3"},
	{Name: "h", Value: "1_000"}, {Name: "i", Value: "nan"}, {Name: "j", Value: "-inf"}, {Name: "k", Value: "é日😀\t\n"},
	{Name: "l", Value: " 42 "}, {Name: "m", Value: "0x10"}, {Name: "n", Value: "1e400"}, {Name: "o", Value: ""},
	{Name: "p", Value: "123456789012345678901234567890"}, {Name: "q", Value: ".5"}, {Name: "r", Value: "false"},
	{Name: "s", Value: "1.0"}, {Name: "t", Value: "\x7f\x01"},
}

func TestInjectedSourceMatchesPapermill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	args := []string{"testdata/nb_papermill_params.py"}
	for _, p := range paramCases {
		args = append(args, p.Name, p.Value)
	}
	want, err := exec.Command(venvPython(t), args...).Output()
	if err != nil {
		t.Fatalf("papermill: %v", err)
	}
	nb := ipynb.New()
	if _, err := InjectParameters(nb, paramCases); err != nil {
		t.Fatal(err)
	}
	if got := nb.Cells[0].Source; got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Errorf("line %d: got %q, papermill %q", i+1, gl[i], wl[i])
			}
		}
		if len(gl) != len(wl) {
			t.Errorf("got %d lines, papermill %d", len(gl), len(wl))
		}
	}
}

func TestInjectParametersPlacement(t *testing.T) {
	nb := ipynb.New()
	nb.Cells = []*ipynb.Cell{ipynb.NewMarkdownCell("title"), ipynb.NewCodeCell("alpha = 0.1"), ipynb.NewCodeCell("print(alpha)")}
	nb.Cells[1].Metadata["tags"] = []any{"parameters"}
	at, err := InjectParameters(nb, []Param{{Name: "alpha", Value: "0.5"}})
	if err != nil {
		t.Fatal(err)
	}
	if at != 2 || !nb.Cells[2].HasTag("injected-parameters") || nb.Cells[2].Source != "# Parameters\nalpha = 0.5\n" {
		t.Fatalf("injected at %d: %+v", at, nb.Cells[2])
	}
	// A second injection replaces the first instead of adding another cell.
	at, err = InjectParameters(nb, []Param{{Name: "alpha", Value: "0.7"}, {Name: "name", Value: "x", Raw: true}})
	if err != nil {
		t.Fatal(err)
	}
	if at != 2 || len(nb.Cells) != 4 || nb.Cells[2].Source != "# Parameters\nalpha = 0.7\nname = \"x\"\n" {
		t.Errorf("re-injection: at %d, %d cells, source %q", at, len(nb.Cells), nb.Cells[2].Source)
	}
	pm := nb.Metadata["papermill"].(map[string]any)["parameters"].(map[string]any)
	if pm["alpha"] != 0.7 || pm["name"] != "x" {
		t.Errorf("metadata.papermill.parameters = %v", pm)
	}
	// No parameters cell: at the top.
	nb = ipynb.New()
	nb.Cells = []*ipynb.Cell{ipynb.NewCodeCell("x")}
	if at, _ := InjectParameters(nb, []Param{{Name: "a", Value: "1"}}); at != 0 || len(nb.Cells) != 2 {
		t.Errorf("without a parameters cell: injected at %d of %d cells, want 0 of 2", at, len(nb.Cells))
	}
	if _, err := InjectParameters(nb, []Param{{Name: "1bad", Value: "1"}}); err == nil || !strings.Contains(err.Error(), "Python identifier") {
		t.Errorf("bad name: err = %v", err)
	}
}
