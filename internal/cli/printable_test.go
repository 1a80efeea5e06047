package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/server"
	serverstore "github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// evil is what a hostile server appends to every string it sends: a
// colour, a window title (OSC), a cursor query, a C1 CSI, a bell, a
// right-to-left override, a line break that would fake another row.
const evil = "\x1b[31mRED\x1b]0;pwned title\x07\x1b[6n\u009b2J\a\u202eRLO\u2066\r\nFAKE ROW"

// forbidden are the characters that must never reach the output raw.
var forbidden = []string{"\x1b", "\u009b", "\a", "\u202e", "\u2066", "\r"}

// poison appends evil to every string of a JSON answer except the times
// (which must still parse for the answer to be used at all).
func poison(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "created", "added", "last_seen", "revoked", "time", "updated":
				continue
			}
			x[k] = poison(e)
		}
		return x
	case []any:
		for i := range x {
			x[i] = poison(x[i])
		}
		return x
	case string:
		return x + evil
	}
	return v
}

// evilServer serves the real API, but rewrites the answers that the
// commands below print, and answers a revocation with an error whose
// message is evil.
type evilServer struct{ real http.Handler }

func (e evilServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/devices/"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(api.Error{Error: api.ErrorBody{Code: api.CodeBadRequest, Message: "refused" + evil}})
		return
	case r.Method == http.MethodGet && (r.URL.Path == "/v1/account" || r.URL.Path == "/v1/devices" || r.URL.Path == "/v1/account/log"):
		rec := httptest.NewRecorder()
		e.real.ServeHTTP(rec, r)
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if m, ok := v.(map[string]any); ok && r.URL.Path == "/v1/account" {
			// Every plan field, and one of each kind.
			m["plan"] = map[string]any{"name": "other", "effective": "free", "label": "Gold", "trial_ends": "2030-01-01",
				"paid_until": "2030-01-01", "payment_date": "2029-01-01", "max_devices": 3}
			m["email"] = "user@example.com"
			m["mailer_url"] = "https://mailer.example"
			m["sync_settings"] = map[string]any{"method": "server", "settings": map[string]any{"url": "https://k.example"}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(poison(v))
		return
	}
	e.real.ServeHTTP(w, r)
}

// TestServerStringsArePrintable: an escape sequence in any string a server
// sends — device names and platforms, plan names and labels, dates,
// emails, the mailer, audit log entries, error messages — never reaches
// the output raw, in text or in JSON; its visible text still does.
func TestServerStringsArePrintable(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(k, home)
	}
	t.Setenv("KEYHOLD_KEYSTORE", "")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	st, err := serverstore.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(evilServer{real: srv})
	defer hs.Close()

	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "vault")
	pw := []byte("correct horse battery staple")
	created, err := vault.Create(dir, pw, vault.CreateOptions{KDF: keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}}, (&cmdEnv{}).vaultOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(dir, (&cmdEnv{}).vaultOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := syncclient.NewConfig(hs.URL, "", syncfile.DeviceName())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := syncclient.Register(ctx, cl, cfg, v, created.Login, ""); err != nil {
		t.Fatal(err)
	}
	if err := syncfile.Save(dir, cfg); err != nil {
		t.Fatal(err)
	}
	v.Close()

	for _, args := range [][]string{
		{"devices", "list"}, {"devices", "list", "--json"},
		{"account", "log"}, {"account", "log", "--json"},
		{"account", "show"}, {"account", "show", "--json"},
		{"devices", "revoke", uuid.NewString()},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(ctx, append([]string{"--vault", dir}, args...), strings.NewReader(""), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("exit %d; the output holds %q raw:\n%q", code, f, out)
				}
			}
			if !strings.Contains(out, "RED") || !strings.Contains(out, "RLO") {
				t.Errorf("exit %d; the server's visible text is missing:\n%q", code, out)
			}
			if args[1] == "revoke" && code != ExitUsage && code != ExitServer {
				t.Errorf("revoke refused by the server: exit %d", code)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                          "plain",
		"Ünïcødé ✓ 🔑":                    "Ünïcødé ✓ 🔑",
		"a\x1b[1;31mb\x1b[0mc":           "abc",
		"a\x1b]8;;http://x\x1b\\link":    "alink",
		"a\x1b]0;title\x07b":             "ab",
		"a\x1bPdcs\x1b\\b":               "ab",
		"a\x1bcb":                        "ab",
		"a\x1b":                          "a",
		"a\x1b[":                         "a",
		"tab\tline\nret\r":               "tablineret",
		"c1\u009b31m csi":                "c131m csi",
		"\u202eevil\u202c \u2066x\u2069": "evil x",
		"bad\xffutf8":                    "badutf8",
		"del\x7f":                        "del",
	} {
		if got := api.Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := api.PrintableText("one\n\ttwo\x1b[2K"); got != "one\n\ttwo" {
		t.Errorf("PrintableText kept %q", got)
	}
}
