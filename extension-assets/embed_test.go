package extensionassets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sourceDigest is scripts/sources-digest.mjs in Go: keep the two in step.
func sourceDigest(t *testing.T, root string) string {
	t.Helper()
	files := []string{"package.json", "package-lock.json", "tsconfig.json"}
	for _, dir := range []string{"src", "style", "schema"} {
		err := fs.WalkDir(os.DirFS(root), dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && !strings.HasPrefix(p, "src/test/") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s\n%d\n", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestBuildIsUpToDate(t *testing.T) {
	stamp, err := fs.ReadFile(FS(), "sources.sha256")
	if err != nil {
		t.Fatalf("the embedded build has no sources.sha256: run `make extension` and commit extension-assets/labextension: %v", err)
	}
	got, want := strings.TrimSpace(string(stamp)), sourceDigest(t, ".")
	if got != want {
		t.Fatalf("extension-assets/labextension was built from other sources (stamp %s, sources now %s): run `make extension` and commit extension-assets/labextension", got, want)
	}
}

// TestBuildIsLoadable checks what JupyterLab needs to load the extension:
// package.json naming its remote entry, the entry itself, and the settings
// schema.
func TestBuildIsLoadable(t *testing.T) {
	b, err := fs.ReadFile(FS(), "package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Name       string `json:"name"`
		Jupyterlab struct {
			Build struct {
				Load      string `json:"load"`
				Extension string `json:"extension"`
				Style     string `json:"style"`
			} `json:"_build"`
		} `json:"jupyterlab"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("labextension/package.json: %v", err)
	}
	if pkg.Name != Name {
		t.Errorf("name = %q, want %q", pkg.Name, Name)
	}
	load := pkg.Jupyterlab.Build.Load
	if load == "" || pkg.Jupyterlab.Build.Extension == "" {
		t.Fatalf("labextension/package.json has no jupyterlab._build.load/extension: not a built labextension: %s", b)
	}
	entry, err := fs.ReadFile(FS(), path.Clean(load))
	if err != nil {
		t.Fatalf("remote entry %s: %v", load, err)
	}
	if !strings.Contains(string(entry), Name) {
		t.Errorf("remote entry %s does not register %s", load, Name)
	}
	schema, err := fs.ReadFile(FS(), "schemas/"+Name+"/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatalf("plugin.json: %v", err)
	}
	for _, k := range []string{"serviceUrl", "token", "notebookRoot"} {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("plugin.json has no %q setting", k)
		}
	}
	// Every file package.json names must be there: stale builds leave dangling names.
	entries, err := fs.ReadDir(FS(), "static")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Errorf("static/ holds %d files", len(entries))
	}
}

func TestInstall(t *testing.T) {
	prefix := t.TempDir()
	// An old install with a file the new one lacks must not survive.
	old := filepath.Join(prefix, "share", "jupyter", "labextensions", Name, "static", "old.js")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := Settings{ServiceURL: "http://127.0.0.1:8765", Token: "abc", NotebookRoot: "exps"}
	p, err := Install(prefix, &want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("%s survived the install (err %v)", old, err)
	}
	err = fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		got, err := os.ReadFile(filepath.Join(prefix, "share", "jupyter", "labextensions", Name, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		orig, _ := fs.ReadFile(FS(), p)
		if string(got) != string(orig) {
			return fmt.Errorf("%s differs", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.Overrides)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]Settings
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got[PluginID] != want {
		t.Errorf("overrides = %+v, want %+v", got[PluginID], want)
	}
	fi, err := os.Stat(p.Overrides)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("overrides mode = %v, want 0600: it holds the token", fi.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(prefix, "share", "jupyter", "labextensions", ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary folders left: %v", leftovers)
	}
}
