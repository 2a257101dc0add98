package bridge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// DefaultAllowOrigins are the origins of a local JupyterLab on its default
// port; the panel runs there and calls the bridge cross-origin.
func DefaultAllowOrigins() []string {
	return []string{"http://localhost:8888", "http://127.0.0.1:8888"}
}

// NewToken returns 24 random bytes in hex, as Jupyter's tokens are.
func NewToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// normalizeOrigin lower-cases scheme and host and drops a default port, so
// "HTTP://LocalHost:80" and "http://localhost" compare equal.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("origin %q: want scheme://host[:port], e.g. http://localhost:8888", o)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// guard holds the security rules every request goes through.
type guard struct {
	token   string
	origins map[string]bool // normalized
	hosts   map[string]bool // lower-case host names, no port
}

func newGuard(token string, allowOrigins, hosts []string) (*guard, error) {
	g := &guard{token: token, origins: map[string]bool{}, hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	for _, o := range allowOrigins {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		g.origins[n] = true
	}
	for _, h := range hosts {
		if h = strings.Trim(strings.ToLower(h), "[]"); h != "" && h != "0.0.0.0" && h != "::" {
			g.hosts[h] = true
		}
	}
	return g, nil
}

// hostAllowed guards against DNS rebinding: a page on evil.example whose name
// is made to resolve to 127.0.0.1 still sends "Host: evil.example".
func (g *guard) hostAllowed(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return g.hosts[strings.Trim(strings.ToLower(host), "[]")]
}

// originAllowed is true for requests without an Origin (not from a browser
// page, or same-origin GETs) and for allow-listed origins.
func (g *guard) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	n, err := normalizeOrigin(o)
	return err == nil && g.origins[n]
}

// tokenOK checks the Authorization header ("token T", as Jupyter, or
// "Bearer T"); allowQuery also accepts ?token=, which only the websocket
// and the start page take, since browsers cannot set headers there.
func (g *guard) tokenOK(r *http.Request, allowQuery bool) bool {
	got := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
			got = strings.TrimSpace(value)
		}
	} else if allowQuery {
		got = r.URL.Query().Get("token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) == 1
}

// wrap applies, in order: the Host check, the Origin check with CORS headers
// (answering preflights, which carry no token), then the token.
func (g *guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r) {
			writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not allowed: use localhost, 127.0.0.1 or [::1]", r.Host))
			return
		}
		if !g.originAllowed(r) {
			writeError(w, http.StatusForbidden, fmt.Errorf("origin %q is not allowed (trialbook serve --allow-origin)", r.Header.Get("Origin")))
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", o)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !g.tokenOK(r, r.URL.Path == eventsPath || r.URL.Path == "/") {
			writeError(w, http.StatusUnauthorized, fmt.Errorf("a valid token is required: header \"Authorization: token <TOKEN>\""))
			return
		}
		next.ServeHTTP(w, r)
	})
}
