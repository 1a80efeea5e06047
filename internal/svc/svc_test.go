package svc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"

	"github.com/keyhold/keyhold/internal/cobrausage"
)

func TestTransportCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Transport
		want string // "" for no error
	}{
		{"none", Transport{Listen: "127.0.0.1:0"}, "choose how clients connect"},
		{"two", Transport{Listen: "127.0.0.1:0", InsecureHTTP: true, DevTLS: true}, "only one"},
		{"cert without key", Transport{Listen: "127.0.0.1:0", TLSCert: "c.pem"}, "go together"},
		{"key without cert", Transport{Listen: "127.0.0.1:0", TLSKey: "k.pem"}, "go together"},
		{"plain on any address", Transport{Listen: "0.0.0.0:1", InsecureHTTP: true}, "loopback"},
		{"plain on all of IPv6", Transport{Listen: "[::]:1", InsecureHTTP: true}, "loopback"},
		{"plain without host", Transport{Listen: ":1", InsecureHTTP: true}, "loopback"},
		{"plain on a name", Transport{Listen: "example.com:1", InsecureHTTP: true}, "loopback"},
		{"plain on IPv4 loopback", Transport{Listen: "127.0.0.1:0", InsecureHTTP: true}, ""},
		{"plain on IPv6 loopback", Transport{Listen: "[::1]:8443", InsecureHTTP: true}, ""},
		{"plain on localhost", Transport{Listen: "localhost:1", InsecureHTTP: true}, ""},
		{"dev TLS anywhere", Transport{Listen: "0.0.0.0:1", DevTLS: true}, ""},
		{"own certificate", Transport{Listen: ":443", TLSCert: "c.pem", TLSKey: "k.pem"}, ""},
	} {
		err := tc.t.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		case err != nil && !errors.As(err, new(UsageError)):
			t.Errorf("%s: %T is not a usage error", tc.name, err)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     int
		wantOut  string
		wantHint bool
	}{
		{nil, ExitOK, "", false},
		{errors.New("database unreachable"), ExitError, "prog: database unreachable\n", false},
		{Usagef("--x must be at least %d", 1), ExitUsage, "prog: --x must be at least 1\n", true},
		{fmt.Errorf("wrapped: %w", UsageError{errors.New("bad")}), ExitUsage, "prog: wrapped: bad\n", true},
		// Cobra's mistakes count by their type (cobrausage.Execute gives
		// them one), never by their words: an operating system's or a
		// database's "invalid argument" is a failure, not a usage error.
		{&cobrausage.Error{Err: errors.New(`unknown flag: --nope`)}, ExitUsage, "prog: unknown flag: --nope\n", true},
		{errors.New(`unknown flag: --nope`), ExitError, "prog: unknown flag: --nope\n", false},
		{errors.New("listen tcp 127.0.0.1:1: bind: invalid argument"), ExitError, "prog: listen tcp 127.0.0.1:1: bind: invalid argument\n", false},
		{Usagef("no\nhint: do this"), ExitUsage, "prog: no\nhint: do this\n", false},
	} {
		var out bytes.Buffer
		if got := ExitCode(tc.err, "prog", "run prog help", &out); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
		want := tc.wantOut
		if tc.wantHint {
			want += "hint: run prog help\n"
		}
		if out.String() != want {
			t.Errorf("%v: printed %q, want %q", tc.err, out.String(), want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		remote string
		xff    []string
		trust  bool
		want   string // "" for the zero Addr
	}{
		{"192.0.2.1:1234", nil, false, "192.0.2.1"},
		{"[2001:db8::1]:1234", nil, false, "2001:db8::1"},
		{"[::ffff:192.0.2.1]:1234", nil, false, "192.0.2.1"},
		{"[fe80::1%eth0]:1234", nil, false, "fe80::1"},
		{"192.0.2.1:1234", []string{"198.51.100.7"}, false, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"198.51.100.7"}, true, "198.51.100.7"},
		{"192.0.2.1:1234", []string{"203.0.113.9, 198.51.100.7"}, true, "198.51.100.7"},
		{"192.0.2.1:1234", []string{"203.0.113.9", "10.0.0.1,198.51.100.7"}, true, "198.51.100.7"},
		{"192.0.2.1:1234", []string{"not an address"}, true, "192.0.2.1"},
		{"192.0.2.1:1234", []string{"::ffff:198.51.100.7"}, true, "198.51.100.7"},
		{"192.0.2.1", nil, false, "192.0.2.1"},
		{"@", nil, false, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got := ClientAddr(r, tc.trust)
		if (tc.want == "" && got.IsValid()) || (tc.want != "" && got.String() != tc.want) {
			t.Errorf("%s %q trust=%v: %v, want %q", tc.remote, tc.xff, tc.trust, got, tc.want)
		}
	}
}

func FuzzClientAddr(f *testing.F) {
	f.Add("192.0.2.1:1", "198.51.100.7")
	f.Add("[fe80::1%eth0]:1", "fe80::2%lo, ::ffff:10.0.0.1")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		for _, trust := range []bool{false, true} {
			a := ClientAddr(r, trust)
			if a.IsValid() && a.Is4In6() {
				t.Errorf("%q %q: %v is not unmapped", remote, xff, a)
			}
			if !trust && a.Zone() != "" {
				t.Errorf("%q: %v keeps its zone", remote, a)
			}
		}
	})
}

func decodeError(t *testing.T, body []byte) api.ErrorBody {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not a JSON error: %q", body)
	}
	return e.Error
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, http.StatusTooManyRequests, api.CodeThrottled, "slow down", 30)
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || w.Header().Get("Content-Type") != "application/json" ||
		w.Header().Get("Cache-Control") != "no-store" || !strings.HasSuffix(w.Body.String(), "}\n") {
		t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body)
	}
	if e := decodeError(t, w.Body.Bytes()); e.Code != api.CodeThrottled || e.Message != "slow down" || e.RetryAfter != 30 {
		t.Errorf("%+v", e)
	}
	w = httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, map[string]any{"bad": func() {}})
	if e := decodeError(t, w.Body.Bytes()); w.Code != 500 || e.Code != api.CodeInternal {
		t.Errorf("unencodable value: %d %+v", w.Code, e)
	}
}

func TestServeMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/send", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		method, path string
		code         int
		header       string // a header the answer must have, "Name: value"
	}{
		{"POST", "/v1/send", 202, ""},
		{"GET", "/nope", 404, ""},
		{"GET", "/v1/send", 405, "Allow: POST"},
		{"GET", "/dir", 300, "Location: /dir/"}, // 300: any redirect
		{"GET", "/a/../dir/", 300, "Location: /dir/"},
	} {
		w := httptest.NewRecorder()
		ServeMux(w, httptest.NewRequest(tc.method, tc.path, nil), mux)
		name, value, _ := strings.Cut(tc.header, ": ")
		if code := w.Code; (code != tc.code && !(tc.code == 300 && code/100 == 3)) || (name != "" && w.Header().Get(name) != value) {
			t.Errorf("%s %s: %d %v, want %d %s", tc.method, tc.path, w.Code, w.Header(), tc.code, tc.header)
		}
		if tc.code == 404 || tc.code == 405 {
			decodeError(t, w.Body.Bytes())
		}
	}
}

func TestRequestLog(t *testing.T) {
	type obs struct {
		route  string
		status int
	}
	for _, logPanic := range []bool{false, true} {
		var logged bytes.Buffer
		var seen []obs
		c := RequestLog{
			Log:           slog.New(slog.NewJSONHandler(&logged, nil)),
			InternalError: "internal error",
			LogPanicValue: logPanic,
			Observe:       func(route string, status int, d time.Duration) { seen = append(seen, obs{route, status}) },
			Attrs:         func(r *http.Request) []slog.Attr { return []slog.Attr{slog.String("extra", "x")} },
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
		mux.HandleFunc("GET /teapot", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) })
		mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("secret value") })
		for _, path := range []string{"/ok", "/teapot", "/panic", "/nope"} {
			w := httptest.NewRecorder()
			c.Serve(w, httptest.NewRequest("GET", path, nil), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ServeMux(w, r, mux)
			}))
			if path == "/panic" {
				if e := decodeError(t, w.Body.Bytes()); w.Code != 500 || e.Message != "internal error" {
					t.Errorf("panic answered %d %+v", w.Code, e)
				}
			}
		}
		want := []obs{{"GET /ok", 200}, {"GET /teapot", 418}, {"GET /panic", 500}, {"unmatched", 404}}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("observed %v, want %v", seen, want)
		}
		out := logged.String()
		if strings.Contains(out, "secret value") != logPanic {
			t.Errorf("LogPanicValue=%v, log:\n%s", logPanic, out)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if rec["msg"] != "request" {
				continue
			}
			n++
			for _, k := range []string{"method", "route", "status", "duration_ms", "extra"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request line without %s: %q", k, line)
				}
			}
		}
		if n != 4 || !strings.Contains(out, `"msg":"handler panic"`) {
			t.Errorf("log:\n%s", out)
		}
	}
}

func TestDevCert(t *testing.T) {
	check := func(cert tls.Certificate, fp string) {
		t.Helper()
		sum := sha256.Sum256(cert.Certificate[0])
		if hex.EncodeToString(sum[:]) != fp {
			t.Fatalf("fingerprint %s is not the certificate's", fp)
		}
		if err := cert.Leaf.VerifyHostname("127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if cert.Leaf.Subject.CommonName != "test development certificate" {
			t.Fatalf("common name %q", cert.Leaf.Subject.CommonName)
		}
	}
	mem := DevCert{Name: "test development certificate", Validity: 30 * 24 * time.Hour}
	c1, fp1, err := mem.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	check(c1, fp1)
	if _, fp2, _ := mem.Certificate(); fp2 == fp1 {
		t.Error("a certificate in memory is the same at the next start")
	}

	dir := t.TempDir()
	kept := DevCert{Dir: dir, Name: "test development certificate", Validity: 365 * 24 * time.Hour}
	c1, fp1, err = kept.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	check(c1, fp1)
	if _, fp2, err := kept.Certificate(); err != nil || fp2 != fp1 {
		t.Errorf("a kept certificate changed: %s, then %s (%v)", fp1, fp2, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, DevKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v", err)
	}
	// One about to expire is replaced.
	short := DevCert{Dir: t.TempDir(), Name: "x", Validity: 24 * time.Hour}
	_, fp1, _ = short.Certificate()
	if _, fp2, _ := short.Certificate(); fp2 == fp1 {
		t.Error("a certificate a day from expiry was kept")
	}
	// A damaged one is not silently replaced.
	os.WriteFile(filepath.Join(dir, DevCertFile), []byte("garbage"), 0o644)
	if _, _, err := kept.Certificate(); err == nil || !strings.Contains(err.Error(), "delete") {
		t.Errorf("damaged certificate: %v", err)
	}
}

// TestListenServe runs a real server on loopback: the "fingerprint:" and
// "listening on" lines, a request over pinned TLS, and a clean stop.
func TestListenServe(t *testing.T) {
	var stderr bytes.Buffer
	tr := Transport{Listen: "127.0.0.1:0", DevTLS: true}
	tlsConf, err := tr.TLSConfig(DevCert{Name: "test", Validity: time.Hour * 24 * 30}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })}
	l, err := Listen(hs, tr.Listen, tlsConf, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^fingerprint: sha256:([0-9a-f]{64})\nlistening on (https://127\.0\.0\.1:[1-9][0-9]*)\n$`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("output %q", stderr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logged bytes.Buffer
	stopped := false
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, hs, l, slog.New(slog.NewJSONHandler(&logged, nil)), func() { stopped = true })
	}()
	c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != m[1] {
				return errors.New("fingerprint mismatch")
			}
			return nil
		},
	}}}
	res, err := c.Get(m[2])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Errorf("served over %s, want HTTP/2", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil || !stopped {
			t.Errorf("Serve: %v, stopping called: %v", err, stopped)
		}
	case <-time.After(ShutdownGrace + 5*time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if logged.Len() != 0 {
		t.Errorf("a clean stop logged %s", logged.String())
	}
}

func TestListenBusy(t *testing.T) {
	var out bytes.Buffer
	l, err := Listen(&http.Server{}, "127.0.0.1:0", nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.HasPrefix(out.String(), "listening on http://127.0.0.1:") {
		t.Errorf("output %q", out.String())
	}
	if _, err := Listen(&http.Server{}, l.Addr().String(), nil, io.Discard); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Errorf("second listener on %s: %v", l.Addr(), err)
	}
}
