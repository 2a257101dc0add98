package bridge

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryRequestNeedsTheToken(t *testing.T) {
	e := newEnv(t, Options{Token: "s3cret"})
	e.experiment("hp", "three-trials")
	tests := []struct {
		name   string
		path   string
		auth   string
		method string
		want   int
	}{
		{"header", "/api/experiments", "token s3cret", "GET", 200},
		{"bearer", "/api/experiments", "Bearer s3cret", "GET", 200},
		{"none", "/api/experiments", "", "GET", 401},
		{"wrong", "/api/experiments", "token s3cre", "GET", 401},
		{"wrong scheme", "/api/experiments", "Basic czNjcmV0", "GET", 401},
		{"empty", "/api/experiments", "token ", "GET", 401},
		{"query outside the websocket", "/api/experiments?token=s3cret", "", "GET", 401},
		{"snapshot", "/api/experiments/hp", "", "GET", 401},
		{"trial", "/api/experiments/hp/trials/1", "", "GET", 401},
		{"agents-md", "/api/experiments/hp/agents-md", "", "GET", 401},
		{"create", "/api/experiments", "", "POST", 401},
		{"start", "/api/experiments/hp/start", "", "POST", 401},
		{"unknown path", "/api/nothing", "", "GET", 401},
		{"home with query token", "/?token=s3cret", "", "GET", 200},
		{"home without", "/", "", "GET", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, "", map[string]string{"Authorization": tt.auth})
			if r.status != tt.want {
				t.Errorf("%s %s with %q: %d %s, want %d", tt.method, tt.path, tt.auth, r.status, r.body, tt.want)
			}
			if tt.want == 401 && strings.Contains(string(r.body), "leaderboard") {
				t.Error("a refused request got data")
			}
		})
	}
	// The websocket takes the token from the query or the header, and
	// nothing else.
	if _, resp, err := e.ws("experiment=hp", nil); err == nil || resp.StatusCode != 401 {
		t.Errorf("websocket without token: err %v", err)
	}
	if _, resp, err := e.ws("experiment=hp&token=nope", nil); err == nil || resp.StatusCode != 401 {
		t.Errorf("websocket with a wrong token: err %v", err)
	}
	c, _, err := e.ws("experiment=hp", http.Header{"Authorization": {"token s3cret"}})
	if err != nil {
		t.Fatalf("websocket with the header: %v", err)
	}
	c.Close()
}

func TestARandomTokenIsMadeWhenNoneIsGiven(t *testing.T) {
	a := newEnv(t, Options{})
	b := newEnv(t, Options{})
	if len(a.srv.Token()) < 32 || a.srv.Token() == b.srv.Token() {
		t.Errorf("tokens %q and %q: want long, random ones", a.srv.Token(), b.srv.Token())
	}
}

func TestHostHeaderGuardsAgainstDNSRebinding(t *testing.T) {
	e := newEnv(t, Options{Hosts: []string{"devbox.local"}})
	port := e.http.URL[strings.LastIndex(e.http.URL, ":")+1:]
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"LOCALHOST:" + port, 200},
		{"[::1]:" + port, 200},
		{"localhost", 200},
		{"devbox.local:" + port, 200},
		{"evil.example:" + port, 403},
		{"127.0.0.1.evil.example:" + port, 403},
		{"localhost.evil.example", 403},
		{"0.0.0.0:" + port, 403},
	}
	for _, tt := range tests {
		r := e.do("GET", "/api/experiments", "", map[string]string{"Host": tt.host})
		if r.status != tt.want {
			t.Errorf("Host %s: %d %s, want %d", tt.host, r.status, r.body, tt.want)
		}
	}
	// The websocket too.
	if _, resp, err := e.ws("token="+e.srv.Token(), http.Header{"Host": {"evil.example:" + port}}); err == nil || resp.StatusCode != 403 {
		t.Errorf("websocket with a foreign Host: %v", err)
	}
}

func TestOriginAllowListAndCORS(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		origin string
		want   int
		cors   bool
	}{
		{"", 200, false}, // not a browser page
		{"http://localhost:8888", 200, true},
		{"http://127.0.0.1:8888", 200, true},
		{"HTTP://LOCALHOST:8888", 200, true},
		{"http://localhost:8889", 403, false},
		{"https://localhost:8888", 403, false},
		{"http://evil.example", 403, false},
		{"null", 403, false}, // sandboxed iframes and file:// pages
	}
	for _, tt := range tests {
		r := e.do("GET", "/api/experiments", "", map[string]string{"Origin": tt.origin})
		if r.status != tt.want {
			t.Errorf("Origin %q: %d %s, want %d", tt.origin, r.status, r.body, tt.want)
		}
		got := r.header.Get("Access-Control-Allow-Origin")
		if tt.cors != (got == tt.origin && got != "") {
			t.Errorf("Origin %q: Access-Control-Allow-Origin %q", tt.origin, got)
		}
		if got == "*" {
			t.Errorf("wildcard CORS")
		}
	}
	// A preflight carries no token and is answered for allowed origins only.
	pre := e.do("OPTIONS", "/api/experiments", "", map[string]string{"Authorization": "", "Origin": "http://localhost:8888", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if pre.status != 204 || !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	if pre := e.do("OPTIONS", "/api/experiments", "", map[string]string{"Authorization": "", "Origin": "http://evil.example"}); pre.status != 403 || pre.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", pre.status, pre.header)
	}

	// --allow-origin replaces the defaults.
	custom := newEnv(t, Options{AllowOrigins: []string{"https://hub.example.org"}})
	if r := custom.do("GET", "/api/experiments", "", map[string]string{"Origin": "https://hub.example.org"}); r.status != 200 {
		t.Errorf("custom origin: %d", r.status)
	}
	if r := custom.do("GET", "/api/experiments", "", map[string]string{"Origin": "http://localhost:8888"}); r.status != 403 {
		t.Errorf("default origin with a custom list: %d", r.status)
	}
	if _, err := New(Options{Root: t.TempDir(), AllowOrigins: []string{"localhost:8888"}}); err == nil || !strings.Contains(err.Error(), "scheme://host") {
		t.Errorf("an origin without a scheme: err = %v", err)
	}
}

func TestCrossSiteWebsocketIsRefused(t *testing.T) {
	e := newEnv(t, Options{})
	e.experiment("hp", "running")
	// A page on another site that somehow has the token still cannot open
	// the stream: browsers always send its Origin.
	for _, query := range []string{"experiment=hp", ""} {
		_, resp, err := e.ws(query+"&token="+e.srv.Token(), http.Header{"Origin": {"http://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("cross-site websocket %q: err %v", query, err)
		}
	}
	// The JupyterLab page may.
	c, _, err := e.ws("experiment=hp&token="+e.srv.Token(), http.Header{"Origin": {"http://localhost:8888"}})
	if err != nil {
		t.Fatalf("websocket from JupyterLab's origin: %v", err)
	}
	defer c.Close()
	if m := next(t, c); m.Kind != "snapshot" {
		t.Errorf("first message %q", m.Kind)
	}
}

func TestClientPathsStayInsideTheRoot(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret", journalName), `{"seq":1,"time":"2026-01-01T00:00:00Z","type":"experiment.created"}`+"\n")
	writeFile(t, filepath.Join(outside, "secret", "AGENTS.md"), "secret\n")
	writeFile(t, filepath.Join(outside, "secret.csv"), "a,b\n1,2\n")
	e := newEnv(t, Options{Controller: &recorder{}})
	dir := e.experiment("hp", "three-trials")
	// Symlinks that lead out: a whole experiment, an AGENTS.md, a data file.
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(e.root, "linked")))
	must(t, os.Symlink(filepath.Join(outside, "secret", "AGENTS.md"), filepath.Join(dir, "AGENTS.md")))
	must(t, os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(e.root, "data.csv")))
	must(t, os.Symlink(outside, filepath.Join(e.root, "out")))
	must(t, os.MkdirAll(filepath.Join(e.root, "peek"), 0o755))
	must(t, os.Symlink(filepath.Join(outside, "secret", journalName), filepath.Join(e.root, "peek", journalName)))
	must(t, os.Symlink(filepath.Join(outside, "nowhere"), filepath.Join(e.root, "dangling")))

	for _, path := range []string{
		"/api/experiments/linked",
		"/api/experiments/linked/trials/1",
		"/api/experiments/..%2F" + filepath.Base(outside) + "%2Fsecret",
		"/api/experiments/hp%2F..%2F..%2Fetc",
		"/api/experiments/%2Fetc",
		"/api/experiments/hp/agents-md",
		"/api/experiments/out%2Fsecret",
		"/api/experiments/peek",
	} {
		if r := e.do("GET", path, "", nil); r.status != 403 || strings.Contains(string(r.body), "secret\\n") {
			t.Errorf("GET %s: %d %s, want 403", path, r.status, r.body)
		}
	}
	if _, resp, err := e.ws("experiment=linked&token="+e.srv.Token(), nil); err == nil || resp.StatusCode != 403 {
		t.Errorf("websocket on a symlinked experiment: %v", err)
	}
	var list struct{ Experiments []Summary }
	e.getJSON("/api/experiments", &list)
	for _, s := range list.Experiments {
		if s.ID != "hp" && (s.Problem != nil || s.Seq != 0 || !strings.Contains(s.Error, "outside the served root")) {
			t.Errorf("listing read through a symlink out: %+v", s)
		}
	}

	form := func(name, data string) string {
		b, _ := json.Marshal(NewExperiment{Name: name, Data: data, Target: "b"})
		return string(b)
	}
	for _, tt := range []struct{ name, data, field string }{
		{"../escape", "data.csv", "name"},
		{"/tmp/abs", "data.csv", "name"},
		{"out/new", "data.csv", "name"},
		{"dangling/new", "data.csv", "name"},
		{"new", "data.csv", "data"},
		{"new", "../" + filepath.Base(outside) + "/secret.csv", "data"},
		{"new", filepath.Join(outside, "secret.csv"), "data"},
	} {
		r := e.do("POST", "/api/experiments", form(tt.name, tt.data), nil)
		var body apiError
		json.Unmarshal(r.body, &body)
		if r.status != 400 || body.Field != tt.field || !strings.Contains(body.Error, "outside the served root") {
			t.Errorf("create name=%q data=%q: %d %s, want 400 on %s", tt.name, tt.data, r.status, r.body, tt.field)
		}
	}
	if got := e.srv.opts.Controller.(*recorder).calls; len(got) > 0 {
		t.Errorf("the controller was called for refused paths: %v", got)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("something was created outside the root")
	}
}

func TestRuntimeFileIsPrivate(t *testing.T) {
	base := t.TempDir()
	dir, err := RuntimeDir(base, "/home/nobody")
	if err != nil || dir != filepath.Join(base, "trialbook") {
		t.Fatalf("RuntimeDir = %s, %v", dir, err)
	}
	if d, _ := RuntimeDir("", "/home/ana"); d != "/home/ana/.local/share/trialbook/runtime" {
		t.Errorf("RuntimeDir without XDG_RUNTIME_DIR = %s", d)
	}
	must(t, os.MkdirAll(dir, 0o755)) // an existing, too open folder is tightened
	info := RuntimeInfo{URL: "http://127.0.0.1:8765/", Token: "tok", Root: "/r", PID: os.Getpid(), AllowOrigins: DefaultAllowOrigins()}
	path, err := WriteRuntimeFile(dir, 8765, info)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	// A file whose server has gone is not listed.
	if _, err := WriteRuntimeFile(dir, 9999, RuntimeInfo{Token: "old", PID: 2147483646}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRuntimeFiles(dir)
	if err != nil || len(got) != 1 || got[0].Token != "tok" || got[0].URL != info.URL {
		t.Errorf("ReadRuntimeFiles = %+v, %v", got, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
