package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testVault makes a vault in a temporary directory and returns a function
// that runs keyhold against it.
func testVault(t *testing.T) func(stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run")) // no agent of the developer's
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("HOME", dir)
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("correct horse battery staple 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kh := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		all := append([]string{"--vault", filepath.Join(dir, "vault"), "--password-file", pw, "--keystore", "file"}, args...)
		code := run(context.Background(), all, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, e := kh("", "init", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1"); code != 0 {
		t.Fatalf("init: %d %s", code, e)
	}
	return kh
}

// TestAuditBreachedAPI runs audit against a local stand-in for the
// k-anonymity range API that serves its documented format (GET
// /range/{5 hex digits}, "SUFFIX:COUNT" lines, padding lines of count 0).
// The real service cannot be reached from tests; a stand-in is right here
// because the client speaks a third party's published interface.
func TestAuditBreachedAPI(t *testing.T) {
	kh := testVault(t)
	for _, a := range [][]string{
		{"hunter2\n", "add", "login", "Mail", "--username", "alice", "--password-stdin"},
		{"Vq7#Lm2$Rx9@Tk4!Wz8&\n", "add", "login", "Bank", "--password-stdin"},
	} {
		if code, _, e := kh(a[0], a[1:]...); code != 0 {
			t.Fatalf("%v: %d %s", a[1:], code, e)
		}
	}
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		if r.Header.Get("Add-Padding") != "true" {
			t.Error("a range request without Add-Padding: true")
		}
		fmt.Fprint(w, "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n")
		if r.URL.Path == "/range/F3BBB" { // SHA-1("hunter2") = F3BBBD66A63D4BF1747940578EC3D0103530E21D
			fmt.Fprint(w, "D66A63D4BF1747940578EC3D0103530E21D:17\r\nD66A63D4BF1747940578EC3D0103530E21E:0\r\n")
		}
	}))
	defer srv.Close()

	code, out, e := kh("", "audit", "--breached-api", srv.URL, "--json")
	if code != ExitFindings {
		t.Fatalf("audit: exit %d, want %d; %s", code, ExitFindings, e)
	}
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.BreachedSource != "api" || len(rep.Breached) != 1 || rep.Breached[0].Title != "Mail" || rep.Breached[0].Count != 17 {
		t.Errorf("breached: %+v (source %q)", rep.Breached, rep.BreachedSource)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(e, "hunter2") {
		t.Error("the password was printed")
	}
	for _, p := range paths {
		if len(p) != len("/range/")+5 {
			t.Errorf("request %q sends more than 5 hex digits of a hash", p)
		}
	}
	if len(paths) != 2 {
		t.Errorf("%d range requests for two passwords", len(paths))
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	code, out, e = kh("", "audit", "--breached-api", down.URL)
	if code != ExitError || !strings.Contains(e, "checking for breached passwords: the range API answered 503") || out != "" {
		t.Errorf("with the API down: exit %d, stdout %q, stderr %q", code, out, e)
	}
}
