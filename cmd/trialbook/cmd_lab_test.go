package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"trialbook/bridge"
	extensionassets "trialbook/extension-assets"
)

func labInstall(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = mainCode(append([]string{"lab"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func readOverrides(t *testing.T, prefix string) (extensionassets.Settings, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(prefix, "share", "jupyter", "lab", "settings", "overrides.d", "trialbook.json"))
	if os.IsNotExist(err) {
		return extensionassets.Settings{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]extensionassets.Settings
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[extensionassets.PluginID], true
}

func installed(t *testing.T, prefix string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(prefix, "share", "jupyter", "labextensions", extensionassets.Name, "package.json"))
	return err == nil
}

func TestLabInstallFindsRunningServe(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	dir, err := bridge.RuntimeDir(xdg, "")
	if err != nil {
		t.Fatal(err)
	}
	// An older server, then the newest: the newest wins. Both "run" as this
	// process so that they count as alive.
	for i, tok := range []string{"older", "newest"} {
		info := bridge.RuntimeInfo{
			URL: "http://127.0.0.1:876" + string(rune('0'+i)) + "/", Token: tok, PID: os.Getpid(),
			Started: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC),
		}
		if _, err := bridge.WriteRuntimeFile(dir, 8760+i, info); err != nil {
			t.Fatal(err)
		}
	}
	prefix := t.TempDir()
	code, stdout, stderr := labInstall(t, "install", "--prefix", prefix, "--notebook-root", "exps")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if !installed(t, prefix) {
		t.Fatal("the extension was not installed")
	}
	got, ok := readOverrides(t, prefix)
	want := extensionassets.Settings{ServiceURL: "http://127.0.0.1:8761", Token: "newest", NotebookRoot: "exps"}
	if !ok || got != want {
		t.Errorf("settings = %+v (written %v), want %+v", got, ok, want)
	}
	if !strings.Contains(stdout, "token from the runtime file") {
		t.Errorf("stdout does not say where the token came from:\n%s", stdout)
	}
}

func TestLabInstallFromFlags(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	tests := []struct {
		args []string
		want extensionassets.Settings
	}{
		{[]string{"--url", "http://127.0.0.1:9000/?token=abc"}, extensionassets.Settings{ServiceURL: "http://127.0.0.1:9000", Token: "abc"}},
		{[]string{"--url", "http://localhost:9000", "--token", "xyz"}, extensionassets.Settings{ServiceURL: "http://localhost:9000", Token: "xyz"}},
		{[]string{"--url", "http://127.0.0.1:9000/?token=abc", "--token", "flag-wins"}, extensionassets.Settings{ServiceURL: "http://127.0.0.1:9000", Token: "flag-wins"}},
	}
	for _, tt := range tests {
		prefix := t.TempDir()
		code, stdout, stderr := labInstall(t, append([]string{"install", "--prefix", prefix}, tt.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s%s", tt.args, code, stdout, stderr)
		}
		if got, _ := readOverrides(t, prefix); got != tt.want {
			t.Errorf("%v: settings = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestLabInstallWithoutServe(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	prefix := t.TempDir()
	t.Setenv("VIRTUAL_ENV", prefix) // the default prefix
	code, stdout, stderr := labInstall(t, "install")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if !installed(t, prefix) {
		t.Fatal("the extension was not installed into $VIRTUAL_ENV")
	}
	if _, ok := readOverrides(t, prefix); ok {
		t.Error("settings were written without a service to point at")
	}
	if !strings.Contains(stdout, "no running `trialbook serve` found") {
		t.Errorf("stdout does not say how to connect:\n%s", stdout)
	}
}

func TestLabInstallRefusesBadInput(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	prefix := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, "usage: trialbook lab install"},
		{[]string{"uninstall"}, 2, "usage: trialbook lab install"},
		{[]string{"install", "--prefix", prefix, "--url", "ftp://127.0.0.1/"}, 1, "want the URL `trialbook serve` printed"},
		{[]string{"install", "--prefix", prefix, "--url", "http://127.0.0.1:9000/"}, 1, "has no ?token="},
		{[]string{"install", "--prefix", prefix, "--token", "t"}, 1, "--token needs --url"},
		{[]string{"install", "--prefix", filepath.Join(prefix, "missing")}, 1, "not a folder"},
		{[]string{"install", "--prefix", prefix, "extra"}, 2, "usage"},
	}
	for _, tt := range tests {
		code, _, stderr := labInstall(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("lab %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
	if installed(t, prefix) {
		t.Error("a refused install wrote the extension")
	}
}
