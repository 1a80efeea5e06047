package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/api"
)

// With a web handler (the web vault), paths outside /v1/ that no route
// takes are its; the API, its JSON errors and the operations endpoints
// stay as they were, and the request log names the route "web", never
// the path.
func TestWebHandlerOutsideTheAPI(t *testing.T) {
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "web:"+r.Method+" "+r.URL.Path)
	})
	e := newEnv(t, openSQLite(t), func(c *Config) { c.Web = web })
	for _, p := range []string{"/", "/a/app.0123456789abcdef.js", "/sw.js", "/v1", "/nowhere"} {
		r := e.do("GET", p, "", nil)
		if r.status != 200 || string(r.body) != "web:GET "+p {
			t.Errorf("GET %s: %d %q, want the web handler", p, r.status, r.body)
		}
	}
	if r := e.do("HEAD", "/", "", nil); r.status != 200 {
		t.Errorf("HEAD /: %d", r.status)
	}
	e.do("GET", "/v1/nowhere", "", nil).fails(t, 404, api.CodeNotFound)
	e.do("POST", "/v1/nowhere", "", nil).fails(t, 404, api.CodeNotFound)
	e.do("GET", "/v1/sync/push", "", nil).fails(t, 405, api.CodeBadRequest)
	e.do("GET", "/v1/account", "", nil).fails(t, 401, api.CodeUnauthorized)
	if r := e.do("GET", "/healthz", "", nil); r.status != 200 || string(r.body) != "ok\n" {
		t.Errorf("healthz: %d %q", r.status, r.body)
	}
	if r := e.do("GET", "/metrics", "", nil); r.status != 200 || !strings.Contains(string(r.body), "keyhold_http_requests_total") {
		t.Errorf("metrics: %d", r.status)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"web"`) || strings.Contains(logs, "nowhere\"") || strings.Contains(logs, "app.0123456789abcdef") {
		t.Errorf("request log:\n%s", logs)
	}
}

// Without one, every unknown path is the API's JSON 404, as before.
func TestNoWebHandler(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	e.do("GET", "/", "", nil).fails(t, 404, api.CodeNotFound)
	e.do("GET", "/sw.js", "", nil).fails(t, 404, api.CodeNotFound)
}
