package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"trialbook/ipynb"
	"trialbook/kernel"
)

// repoRoot walks up from the test's directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func venvPython(t testing.TB) string {
	t.Helper()
	py := filepath.Join(repoRoot(t), ".venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no %s; run `make setup`", py)
	}
	return py
}

func testSpec(t testing.TB) *kernel.Spec {
	t.Helper()
	venvPython(t)
	s, err := kernel.FindSpec("python3", kernel.SearchOptions{
		Paths: []string{}, Prefix: filepath.Join(repoRoot(t), ".venv"), UserDir: t.TempDir(), SystemDirs: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startKernel(t testing.TB) *kernel.Kernel {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a kernel")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k, err := kernel.Start(ctx, testSpec(t), kernel.StartOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Shutdown(context.Background()) })
	return k
}

// validate runs the real nbformat validator on files.
func validate(t *testing.T, files ...string) {
	t.Helper()
	cmd := exec.Command(venvPython(t), append([]string{"testdata/nb_nbclient.py", "validate"}, files...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nbformat.validate: %v\n%s", err, b)
	}
}

// normalise removes from a notebook what legitimately differs between two
// executions of it, by trialbook or by nbclient:
//   - metadata.execution: wall-clock timestamps;
//   - " at 0x7f…" object addresses in reprs, and ipykernel's per-process
//     temp file names (/tmp/ipykernel_PID/…) in tracebacks;
//   - how a stream is cut into messages: ipykernel flushes stdout and stderr
//     on a timer, so "a\nb\n" may arrive as one stream output or two. Runs
//     of stream outputs with the same name are joined (which is also what
//     JupyterLab does when it shows them).
//
// Nothing else is touched: output order, mime bundles, execution counts,
// errors and tracebacks must be equal.
func normalise(nb *ipynb.Notebook) {
	for _, c := range nb.Cells {
		delete(c.Metadata, "execution")
		var outs []*ipynb.Output
		for _, o := range c.Outputs {
			o.Text = scrub(o.Text)
			o.EValue = scrub(o.EValue)
			for i, t := range o.Traceback {
				o.Traceback[i] = scrub(t)
			}
			for k, v := range o.Data {
				if s, ok := v.(string); ok {
					o.Data[k] = scrub(s)
				}
			}
			if n := len(outs); n > 0 && o.OutputType == ipynb.StreamOutput && outs[n-1].OutputType == ipynb.StreamOutput && outs[n-1].Name == o.Name {
				outs[n-1].Text += o.Text
				continue
			}
			outs = append(outs, o)
		}
		c.Outputs = outs
	}
}

var (
	addressPattern  = regexp.MustCompile(` at 0x[0-9a-f]+`)
	ipykernelTmpDir = regexp.MustCompile(`/tmp/ipykernel_[0-9]+/[0-9]+\.py`)
)

func scrub(s string) string {
	s = addressPattern.ReplaceAllString(s, " at 0x…")
	return ipykernelTmpDir.ReplaceAllString(s, "/tmp/ipykernel_…/….py")
}

func TestConformanceWithNbclient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kernels and nbclient")
	}
	py := venvPython(t)
	corpus, _ := filepath.Glob("testdata/corpus/*.ipynb")
	if len(corpus) < 10 {
		t.Fatalf("corpus has %d notebooks, want the full set", len(corpus))
	}
	nbcDir := t.TempDir()
	args := append([]string{"testdata/nb_nbclient.py", "execute-many", nbcDir, "--allow-errors"}, corpus...)
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("nbclient: %v\n%s", err, out)
	}
	goDir := t.TempDir()
	spec := testSpec(t)
	var written []string
	for _, path := range corpus {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			nb, err := ipynb.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// A fresh kernel per notebook, as nbclient starts one, so
			// execution counts start at 1 on both sides.
			k, err := kernel.Start(ctx, spec, kernel.StartOptions{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Shutdown(context.Background())
			out := filepath.Join(goDir, name)
			if err := Run(ctx, k, nb, Options{AllowErrors: true, Path: out, Timeout: time.Minute}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			written = append(written, out)
			got, err := ipynb.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ipynb.ReadFile(filepath.Join(nbcDir, name))
			if err != nil {
				t.Fatal(err)
			}
			normalise(got)
			normalise(want)
			gb, _ := got.Marshal()
			wb, _ := want.Marshal()
			if !bytes.Equal(gb, wb) {
				t.Errorf("trialbook and nbclient differ after normalising:\n%s", lineDiff(gb, wb))
			}
		})
	}
	if len(written) > 0 {
		validate(t, written...)
	}
}

func lineDiff(got, want []byte) string {
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
			lo := max(0, i-3)
			return "first difference at line " + itoa(i+1) + "\ncontext (trialbook):\n" + strings.Join(gl[lo:min(len(gl), i+4)], "\n") +
				"\n--- nbclient:\n" + strings.Join(wl[lo:min(len(wl), i+4)], "\n")
		}
	}
	return "(same lines, different bytes)"
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestConformanceStopOnError: without allow-errors both stop at the first
// failing cell and leave the rest as they were.
func TestConformanceStopOnError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a kernel and nbclient")
	}
	py := venvPython(t)
	in := "testdata/corpus/errors.ipynb"
	nbcOut := filepath.Join(t.TempDir(), "nbclient.ipynb")
	if out, err := exec.Command(py, "testdata/nb_nbclient.py", "execute", in, nbcOut, "--keep-going").CombinedOutput(); err != nil {
		t.Fatalf("nbclient: %v\n%s", err, out)
	}
	nb, err := ipynb.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	k := startKernel(t)
	err = Run(context.Background(), k, nb, Options{})
	var ce *CellError
	if !errors.As(err, &ce) || ce.Index != 1 || ce.EName != "ValueError" {
		t.Fatalf("Run = %v, want cell 1's ValueError", err)
	}
	want, err := ipynb.ReadFile(nbcOut)
	if err != nil {
		t.Fatal(err)
	}
	normalise(nb)
	normalise(want)
	gb, _ := nb.Marshal()
	wb, _ := want.Marshal()
	if !bytes.Equal(gb, wb) {
		t.Errorf("trialbook and nbclient differ after normalising:\n%s", lineDiff(gb, wb))
	}
}
