package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSpec(t *testing.T, dataDir, name, display string) {
	t.Helper()
	dir := filepath.Join(dataDir, "kernels", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	js := `{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "` + display + `", "language": "python"}`
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSpecsSearchOrder(t *testing.T) {
	root := t.TempDir()
	jp, user, prefix, sys := filepath.Join(root, "jp"), filepath.Join(root, "user"), filepath.Join(root, "env"), filepath.Join(root, "sys")
	writeSpec(t, jp, "R", "R from JUPYTER_PATH")
	writeSpec(t, user, "python3", "user python")
	writeSpec(t, filepath.Join(prefix, "share", "jupyter"), "python3", "env python")
	writeSpec(t, filepath.Join(prefix, "share", "jupyter"), "julia", "env julia")
	writeSpec(t, sys, "python3", "system python")
	writeSpec(t, sys, "gpu", "system gpu")
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	for _, tc := range []struct {
		name      string
		vars      map[string]string
		want      string // name=display, in order
		wantFirst string // first dir searched
	}{
		{"env before user in an environment", nil,
			"r=R from JUPYTER_PATH julia=env julia python3=env python gpu=system gpu", filepath.Join(jp, "kernels")},
		{"JUPYTER_PREFER_ENV_PATH=0 puts the user first", map[string]string{"JUPYTER_PREFER_ENV_PATH": "0"},
			"r=R from JUPYTER_PATH python3=user python julia=env julia gpu=system gpu", filepath.Join(jp, "kernels")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := SearchOptions{Paths: []string{jp}, UserDir: user, Prefix: prefix, SystemDirs: []string{sys}, Getenv: env(tc.vars)}
			specs, err := Specs(opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range specs {
				got = append(got, s.Name+"="+s.DisplayName)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got  %s\nwant %s", strings.Join(got, " "), tc.want)
			}
			if d := opts.Dirs(); d[0] != tc.wantFirst || len(d) != 4 {
				t.Errorf("dirs %v", d)
			}
		})
	}
}

func TestJupyterPathFromEnv(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	opts := SearchOptions{UserDir: root, SystemDirs: []string{}, Prefix: filepath.Join(root, "env"), Getenv: func(k string) string {
		if k == "JUPYTER_PATH" {
			return a + string(os.PathListSeparator) + b
		}
		return ""
	}}
	d := opts.Dirs()
	if len(d) < 2 || d[0] != filepath.Join(a, "kernels") || d[1] != filepath.Join(b, "kernels") {
		t.Errorf("dirs %v, want JUPYTER_PATH entries first", d)
	}
}

func TestFindSpecMissingNamesWhatWasFound(t *testing.T) {
	root := t.TempDir()
	writeSpec(t, root, "python3", "py")
	writeSpec(t, root, "ir", "R")
	opts := SearchOptions{Paths: []string{root}, UserDir: filepath.Join(root, "nouser"), Prefix: filepath.Join(root, "noenv"), SystemDirs: []string{}}
	_, err := FindSpec("julia", opts)
	if !errors.Is(err, ErrNoSuchKernel) {
		t.Fatalf("err = %v, want ErrNoSuchKernel", err)
	}
	for _, want := range []string{`"julia"`, "ir, python3", filepath.Join(root, "kernels"), filepath.Join(root, "nouser", "kernels")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	s, err := FindSpec("", opts)
	if err != nil || s.Name != "python3" || s.InterruptMode != "signal" {
		t.Errorf("FindSpec(\"\") = %+v, %v; want python3 with signal interrupts", s, err)
	}
}

func TestBadKernelJSONNamesTheFile(t *testing.T) {
	root := t.TempDir()
	writeSpec(t, root, "good", "ok")
	bad := filepath.Join(root, "kernels", "bad")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "kernel.json"), []byte(`{"argv": "python"`), 0o644)
	noargv := filepath.Join(root, "kernels", "noargv")
	os.MkdirAll(noargv, 0o755)
	os.WriteFile(filepath.Join(noargv, "kernel.json"), []byte(`{"argv": [], "display_name": "x"}`), 0o644)
	specs, err := Specs(SearchOptions{Paths: []string{root}, UserDir: filepath.Join(root, "u"), Prefix: filepath.Join(root, "e"), SystemDirs: []string{}})
	if len(specs) != 1 || specs[0].Name != "good" {
		t.Errorf("specs %v, want the good one still listed", specs)
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "kernel.json")+":1:18") || !strings.Contains(err.Error(), "argv is empty") {
		t.Errorf("err = %v, want both broken files named", err)
	}
}

func TestDefaultPrefixFindsRepoVenv(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the repository's .venv")
	}
	v := repoVenv(t)
	got := defaultPrefix(func(string) string { return "" })
	if got != v {
		t.Errorf("default prefix %q, want %q (the .venv above the test's directory)", got, v)
	}
}
