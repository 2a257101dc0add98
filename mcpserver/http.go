package mcpserver

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken lets a request through only with the token, sent as
// "Authorization: Bearer TOKEN" or "Authorization: token TOKEN" (as
// `trialbook serve` takes it).
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		ok := (strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) &&
			token != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trialbook"`)
			http.Error(w, `a valid token is required: header "Authorization: Bearer <TOKEN>"`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
