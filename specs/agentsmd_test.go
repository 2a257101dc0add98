package specs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderGolden renders AGENTS.md for each problem in testdata/problems
// and compares it with testdata/golden/NAME.md.
func TestRenderGolden(t *testing.T) {
	ctx := context.Background()
	opts := LoadOptions{JPath: []string{"testdata/lib"}, ExtVars: map[string]string{"data": "../data/small.csv"}}
	files, err := filepath.Glob("testdata/problems/*.jsonnet")
	if err != nil || len(files) < 5 {
		t.Fatalf("want problems in testdata/problems, got %d (%v)", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".jsonnet")
		t.Run(name, func(t *testing.T) {
			p, err := Load(ctx, file, opts)
			if err != nil {
				t.Fatal(err)
			}
			prof, err := ProfileData(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			md, err := RenderAgentsMD(p, prof)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata/golden", name+".md"), md)
		})
	}
}

// TestRenderExamples renders the examples in examples/; their data live
// outside the repository (house prices) or are written by make (breast
// cancer), so each skips when its data is missing.
func TestRenderExamples(t *testing.T) {
	ctx := context.Background()
	for _, ex := range []struct{ dir, data, hint string }{
		{"house-prices", "../../shared/data/house-prices/train.csv", "../shared/data is missing beside the repository"},
		{"breast-cancer", "../examples/breast-cancer/breast-cancer.csv", "run 'make examples-data' to write it"},
	} {
		t.Run(ex.dir, func(t *testing.T) {
			if _, err := os.Stat(ex.data); err != nil {
				t.Skipf("%s: %s", ex.data, ex.hint)
			}
			p, err := Load(ctx, filepath.Join("../examples", ex.dir), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			prof, err := ProfileData(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			md, err := RenderAgentsMD(p, prof)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata/golden", "example-"+ex.dir+".md"), md)
		})
	}
}

func TestRenderOverrides(t *testing.T) {
	p, err := Load(context.Background(), "testdata/problems/overrides.jsonnet", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md, err := RenderAgentsMD(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "#") {
			headings = append(headings, line)
		}
	}
	want := []string{"# Customer spend", "## Rules", "## Goal", "## Glossary", "## Validation and scoring",
		"## What the setup cell defines", "## Handing back predictions", "## What a trial notebook contains", "## Budget", "## If you are connected through MCP"}
	if strings.Join(headings, "\n") != strings.Join(want, "\n") {
		t.Errorf("headings\n%s\nwant\n%s", strings.Join(headings, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{"Never use `churn`", "Trials are cheap here.\n\n- Trials: at most 20", "Short instructions for the spend model."} {
		if !strings.Contains(md, s) {
			t.Errorf("AGENTS.md lacks %q", s)
		}
	}
	if strings.Contains(md, "## Data") {
		t.Error("the data section was dropped with null but is still there")
	}
}

// TestRenderTaskShapes checks that the hand-back section tells each task
// its own shapes.
func TestRenderTaskShapes(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"regression", "1-D, one number per row of `X`"},
		{"binary", "the probability of `CLASSES[1]`"},
		{"multiclass", "2-D `(len(X), len(CLASSES))`"},
	} {
		p, err := Load(context.Background(), "testdata/problems/"+tc.file+".jsonnet", LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		md, err := RenderAgentsMD(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(md, tc.want) {
			t.Errorf("%s: AGENTS.md lacks %q", tc.file, tc.want)
		}
	}
}

// TestKernelLibrariesMatchRequirements keeps the libraries AGENTS.md
// promises equal to the pins the kernel environment installs.
func TestKernelLibrariesMatchRequirements(t *testing.T) {
	b, err := os.ReadFile("../requirements/kernel.txt")
	if err != nil {
		t.Fatal(err)
	}
	var pinned []Library
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, version, ok := strings.Cut(line, "==")
		if !ok {
			t.Fatalf("requirements/kernel.txt: %q is not pinned with ==", line)
		}
		if name == "ipykernel" {
			continue
		}
		pinned = append(pinned, Library{name, version})
	}
	got := KernelLibraries()
	if len(got) != len(pinned) {
		t.Fatalf("KernelLibraries() = %v, requirements/kernel.txt pins %v", got, pinned)
	}
	for i := range got {
		if got[i] != pinned[i] {
			t.Errorf("KernelLibraries()[%d] = %v, requirements/kernel.txt pins %v", i, got[i], pinned[i])
		}
	}
}

// TestRenderConfinement checks that AGENTS.md says what confines the kernel
// as it is on the run: a sandbox, or none and why, and the caps.
func TestRenderConfinement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      *Confinement
		want    []string
		notWant []string
	}{
		{"unknown", nil, []string{"**Work offline.**"}, []string{"sandbox", "cannot reach"}},
		{"sandboxed", &Confinement{Sandboxed: true, Writable: []string{"trials/NNN/", "/tmp"}, Memory: 2 << 30, Processes: 512},
			[]string{"runs in a sandbox with no network", "write only to `trials/NNN/`, `/tmp`", "`DATA_DIR` is read-only", "memory 2 GiB, 512 processes and threads"},
			[]string{"No sandbox"}},
		{"not sandboxed", &Confinement{Why: "bubblewrap is not installed."},
			[]string{"**No sandbox on this run** (bubblewrap is not installed)", "may be able to reach the network"},
			[]string{"runs in a sandbox", "Resource caps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Load(context.Background(), "testdata/problems/regression.jsonnet", LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Kernel.InForce = tc.in
			md, err := RenderAgentsMD(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			rules := md[strings.Index(md, "## Rules"):]
			for _, w := range tc.want {
				if !strings.Contains(rules, w) {
					t.Errorf("the rules lack %q:\n%s", w, rules)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(rules, w) {
					t.Errorf("the rules say %q:\n%s", w, rules)
				}
			}
		})
	}
}
