package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/pgtest"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
	"github.com/keyhold/keyhold/internal/svc/svctest"
	"github.com/keyhold/keyhold/internal/testenv"
)

// bin is the keyhold-server binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	b, cleanup, err := svctest.Build("keyhold-server")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	code := pgtest.Run(m)
	cleanup()
	os.Exit(code)
}

// proc is a running keyhold-server serve.
type proc = svctest.Proc

// start runs serve with args and waits for its "listening on" line.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return svctest.Start(t, cmd)
}

// stopWithin is how long serve may take to exit after SIGTERM.
const stopWithin = 15 * time.Second

func TestServeInsecureHTTP(t *testing.T) {
	p := start(t, nil, "--insecure-http", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || strings.HasSuffix(p.URL, ":0") {
		t.Fatalf("listening line names %s", p.URL)
	}
	res, err := http.Get(p.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	// A request in flight when SIGTERM arrives still gets its answer: an
	// open keep-alive connection is closed only once idle.
	p.Stop(t, stopWithin)
	if !strings.Contains(p.Stderr.String(), `"route":"GET /healthz"`) {
		t.Errorf("no request log line:\n%s", p.Stderr)
	}
}

func TestServeDevTLS(t *testing.T) {
	data := t.TempDir()
	fingerprintServed := func(p *proc) string {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(p.URL, "https://"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
		return hex.EncodeToString(sum[:])
	}
	p := start(t, nil, "--dev-tls", "--listen", "127.0.0.1:0", "--data", data)
	if p.FP == "" {
		t.Fatalf("no fingerprint line:\n%s", p.Stderr)
	}
	if got := fingerprintServed(p); got != p.FP {
		t.Fatalf("printed fingerprint %s, served certificate %s", p.FP, got)
	}
	// A client that pins the fingerprint and checks the name gets through.
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != p.FP {
				return fmt.Errorf("fingerprint mismatch")
			}
			return cs.PeerCertificates[0].VerifyHostname("127.0.0.1")
		},
	}}}
	res, err := pinned.Get(p.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("readyz: %d", res.StatusCode)
	}
	p.Stop(t, stopWithin)
	// A restart keeps the certificate, so pinned clients keep working.
	p2 := start(t, nil, "--dev-tls", "--listen", "127.0.0.1:0", "--data", data)
	if p2.FP != p.FP {
		t.Errorf("fingerprint changed across a restart: %s, then %s", p.FP, p2.FP)
	}
	p2.Stop(t, stopWithin)
	if fi, err := os.Stat(filepath.Join(data, svc.DevKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("development key file: %v %v", fi.Mode(), err)
	}
}

func TestServeRefusesUnsafeTransport(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, "--insecure-http"},
		{[]string{"--listen", "0.0.0.0:0", "--insecure-http"}, "loopback"},
		{[]string{"--listen", ":0", "--insecure-http"}, "loopback"},
		{[]string{"--listen", "192.0.2.1:0", "--insecure-http"}, "loopback"},
		{[]string{"--listen", "127.0.0.1:0", "--insecure-http", "--dev-tls"}, "only one"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", "x.pem"}, "go together"},
		{[]string{"--listen", "127.0.0.1:0", "--insecure-http", "--free-max-devices", "-1"}, "free-max-devices"},
	} {
		cmd := exec.Command(bin, append([]string{"serve", "--data", t.TempDir()}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != svc.ExitUsage {
			t.Errorf("%v: %v, want exit %d\n%s", tc.args, err, svc.ExitUsage, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "listening on") {
			t.Errorf("%v: output does not explain (%q):\n%s", tc.args, tc.want, out)
		}
	}
}

// admin runs an admin command and returns its stdout.
func admin(t *testing.T, env []string, wantExit int, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantExit {
		t.Fatalf("admin %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantExit, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// seed creates an account with two devices directly in a store.
func seed(t *testing.T, st store.Store) string {
	t.Helper()
	id := store.ID{0x01, 0x90, 0xc5, 0xe4, 0x6a, 0x1b, 0x7c, 0xde, 0x8f, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	ctx := context.Background()
	err := st.CreateAccount(ctx, &store.Account{ID: id, Email: "ops@example.com", Plan: store.Plan{Name: store.PlanFree}, Created: time.Now(), KeyVersion: 1},
		&store.Keys{Envelope: []byte("e"), KeyCheck: []byte("k"), KeyVersion: 1, Record: []byte("r")},
		&store.Device{ID: store.ID{1}, AccountID: id, Name: "laptop", Platform: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	return api.FormatID(id)
}

func TestAdmin(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		data := t.TempDir()
		st, err := store.Open(context.Background(), "", data)
		if err != nil {
			t.Fatal(err)
		}
		id := seed(t, st)
		st.Close()
		testAdmin(t, nil, []string{"--data", data}, id, "", data)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.New(t)
		st, err := store.Open(context.Background(), url, "")
		if err != nil {
			t.Fatal(err)
		}
		id := seed(t, st)
		st.Close()
		// The URL from the environment, as an operator keeps a password
		// off the command line.
		testAdmin(t, []string{envDB + "=" + url}, nil, id, url, "")
	})
}

func testAdmin(t *testing.T, env, flags []string, id, dbURL, dataDir string) {
	run := func(exit int, args ...string) string { return admin(t, env, exit, append(flags, args...)...) }
	showAccount := func() adminAccount {
		var a adminAccount
		if err := json.Unmarshal([]byte(run(0, "account", "show", id, "--json")), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	var list []adminAccount
	if err := json.Unmarshal([]byte(run(0, "account", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].AccountID != id || list[0].Email != "ops@example.com" || list[0].Plan.Effective != "free" || list[0].Devices != 1 || list[0].Disabled {
		t.Fatalf("list = %+v", list)
	}
	if out := run(0, "account", "list"); !strings.Contains(out, id) || !strings.Contains(out, "ACCOUNT") {
		t.Errorf("text list:\n%s", out)
	}

	run(0, "plan", "set", id, "--plan", "premium", "--paid-until", "2099-01-31", "--payment-date", "2026-01-31")
	show := showAccount()
	if show.Plan != (adminPlan{Name: "premium", Effective: "premium", PaidUntil: "2099-01-31", PaymentDate: "2026-01-31"}) ||
		show.Items == nil || *show.Items != 0 || len(show.DeviceList) != 1 || show.DeviceList[0].Name != "laptop" {
		t.Errorf("show = %+v", show)
	}
	run(0, "plan", "set", id, "--plan", "trial", "--trial-ends", "2020-01-01")
	show = showAccount()
	if show.Plan.Name != "trial" || show.Plan.Effective != "free" || show.Plan.TrialEnds != "2020-01-01" || show.Plan.PaidUntil != "" {
		t.Errorf("plan after trial set = %+v", show.Plan)
	}
	run(2, "plan", "set", id, "--plan", "gold")
	run(2, "plan", "set", id, "--plan", "premium", "--paid-until", "31/01/2027")
	run(2, "plan", "set", id, "--plan", "free", "--label", "x")
	run(1, "plan", "set", "0190c5e4-6a1b-7cde-8f00-000000000000", "--plan", "free")
	run(2, "account", "show", "not-an-id")

	run(0, "account", "disable", id)
	show = showAccount()
	if !show.Disabled {
		t.Error("account not disabled")
	}
	run(0, "account", "enable", id)
	show = showAccount()
	if show.Disabled {
		t.Error("account not enabled")
	}

	// The audit log records the operator's changes.
	st, err := store.Open(context.Background(), dbURL, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aid, _ := api.ParseID(id)
	evs, err := st.Events(context.Background(), store.ID(aid), 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[api.EventPlanChanged] != 2 || kinds[api.EventDisabled] != 1 || kinds[api.EventEnabled] != 1 {
		t.Errorf("events = %v", kinds)
	}

	if _, err := exec.LookPath("pg_dump"); err != nil && len(env) > 0 {
		if _, err := os.Stat("/usr/lib/postgresql/15/bin/pg_dump"); err != nil {
			if testenv.InCI() {
				t.Fatal("pg_dump is missing")
			}
			t.Skip("pg_dump is missing")
		}
	}
	backup := filepath.Join(t.TempDir(), "backup")
	run(0, "backup", backup)
	if fi, err := os.Stat(backup); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	run(1, "backup", backup) // never overwrites
}

func TestAdminRefusesTwoDatabases(t *testing.T) {
	out := admin(t, []string{envDB + "=postgres://x@127.0.0.1:1/x"}, 2, "--data", t.TempDir(), "account", "list")
	if out != "" {
		t.Errorf("stdout: %s", out)
	}
}

var mailKeyRE = regexp.MustCompile(`^keyhold-mail-key-v1:[A-Za-z0-9+/]{43}=\n$`)

// TestAdminMailKey: mail-key prints the ticket-signing public key in the
// form the mailer reads; the key is made once per database and kept.
func TestAdminMailKey(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		data := t.TempDir()
		first := admin(t, nil, 0, "--data", data, "mail-key")
		if !mailKeyRE.MatchString(first) {
			t.Fatalf("mail-key printed %q", first)
		}
		if _, err := mailticket.ParsePublicKey(first); err != nil {
			t.Fatalf("the mailer cannot read %q: %v", first, err)
		}
		// A server started on the database keeps the key.
		p := start(t, nil, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data)
		p.Stop(t, stopWithin)
		if again := admin(t, nil, 0, "--data", data, "mail-key"); again != first {
			t.Errorf("mail-key printed %q, then %q", first, again)
		}
		var j adminMailKey
		if err := json.Unmarshal([]byte(admin(t, nil, 0, "--data", data, "mail-key", "--json")), &j); err != nil || j.PublicKey+"\n" != first {
			t.Errorf("--json gives %+v (%v), want %q", j, err, first)
		}
		// Another database has another key.
		if other := admin(t, nil, 0, "--data", t.TempDir(), "mail-key"); other == first || !mailKeyRE.MatchString(other) {
			t.Errorf("a second database printed %q", other)
		}
		admin(t, nil, 2, "--data", data, "mail-key", "extra")
	})
	t.Run("postgres", func(t *testing.T) {
		env := []string{envDB + "=" + pgtest.New(t)}
		// Two invocations racing to create the key on a new database (as
		// replicas starting together would) agree on it.
		outs := make([]string, 2)
		var wg sync.WaitGroup
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(bin, "admin", "mail-key")
				cmd.Env = append(os.Environ(), env...)
				out, err := cmd.Output()
				if err != nil {
					t.Errorf("mail-key: %v", err)
				}
				outs[i] = string(out)
			}()
		}
		wg.Wait()
		if !mailKeyRE.MatchString(outs[0]) || outs[0] != outs[1] {
			t.Fatalf("two invocations printed %q and %q", outs[0], outs[1])
		}
		if again := admin(t, env, 0, "mail-key"); again != outs[0] {
			t.Errorf("mail-key printed %q, then %q", outs[0], again)
		}
	})
}

// TestServeMetricsListen: with --metrics-listen, /metrics is served there
// and no longer on the API port.
func TestServeMetricsListen(t *testing.T) {
	p := start(t, nil, "--insecure-http", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--metrics-listen", "127.0.0.1:0")
	re := regexp.MustCompile(`metrics on (http://\S+/metrics)`)
	var metricsURL string
	for deadline := time.Now().Add(30 * time.Second); metricsURL == ""; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.Stderr.String()); m != nil {
			metricsURL = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no metrics line:\n%s", p.Stderr)
		}
	}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get(p.URL + "/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, body := get(metricsURL); code != 200 || !strings.Contains(body, "keyhold_http_requests_total") ||
		!strings.Contains(body, svctest.BuildInfoMetric(svctest.BinInfo(t, bin))) {
		t.Errorf("metrics listener: %d\n%.300s", code, body)
	}
	if code, body := get(p.URL + "/metrics"); code != 404 || strings.Contains(body, "keyhold_http_requests_total") {
		t.Errorf("the API port still serves metrics: %d\n%.300s", code, body)
	}
	if code, _ := get(strings.TrimSuffix(metricsURL, "/metrics") + "/v1/account"); code != 404 {
		t.Errorf("the metrics listener serves the API: %d", code)
	}
	p.Stop(t, stopWithin)
}

// TestServeMetricsListenTaken: a --metrics-listen address that cannot be
// bound stops the server before it says it listens, so nothing waiting
// for that line takes a failing server for a serving one.
func TestServeMetricsListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, stderr := runServer(t, nil, "serve", "--insecure-http", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--metrics-listen", taken.Addr().String())
	if code == 0 || !strings.Contains(stderr, "--metrics-listen: listen on "+taken.Addr().String()) {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "listening on") {
		t.Errorf("the server said it listens before its metrics address failed:\n%s", stderr)
	}
}

// runServer runs keyhold-server with args to its end (for commands that
// fail before serving) and returns its exit status and stderr.
func runServer(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestAdminSecrets: an operator moves an existing database's server
// secrets into a file; from then on the database alone cannot start a
// server, the file (or the variable) does, the mail key stays the same,
// and a file of other secrets is refused.
func TestAdminSecrets(t *testing.T) {
	data := t.TempDir()
	key := admin(t, nil, 0, "--data", data, "mail-key")
	file := filepath.Join(t.TempDir(), "secrets")
	admin(t, nil, 0, "--data", data, "secrets", "export", file, "--remove")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v", fi, err)
	}
	content, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(content), server.SecretsVersion+"\n") {
		t.Fatalf("secrets file starts %.40q", content)
	}
	// The database no longer holds them: the dump is without them.
	st, err := store.Open(context.Background(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pake-server-keys", "fake-envelope-header-key", "mail-ticket-key"} {
		if _, err := st.Secret(context.Background(), name, nil); err == nil {
			t.Errorf("the database still holds %s", name)
		}
	}
	st.Close()

	if code, stderr := runServer(t, nil, "admin", "--data", data, "mail-key"); code != 1 || !strings.Contains(stderr, "--secrets") {
		t.Errorf("mail-key without the secrets: exit %d\n%s", code, stderr)
	}
	if got := admin(t, nil, 0, "--data", data, "mail-key", "--secrets", file); got != key {
		t.Errorf("mail key from the file %q, from the database before %q", got, key)
	}
	if code, stderr := runServer(t, nil, "serve", "--insecure-http", "--listen", "127.0.0.1:0", "--data", data); code != 1 || !strings.Contains(stderr, "--secrets") {
		t.Errorf("serve without the secrets: exit %d\n%s", code, stderr)
	}
	start(t, nil, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--secrets", file).Stop(t, stopWithin)
	start(t, []string{envSecrets + "=" + string(content)}, "--insecure-http", "--listen", "127.0.0.1:0", "--data", data).Stop(t, stopWithin)

	other := filepath.Join(t.TempDir(), "other")
	admin(t, nil, 0, "--data", data, "secrets", "generate", other)
	if code, stderr := runServer(t, nil, "serve", "--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--secrets", other); code != 1 || !strings.Contains(stderr, "other server secrets") {
		t.Errorf("serve with other secrets: exit %d\n%s", code, stderr)
	}
	if code, stderr := runServer(t, nil, "admin", "--data", data, "secrets", "generate", other); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("generate over an existing file: exit %d\n%s", code, stderr)
	}
	os.Chmod(file, 0o640)
	if code, stderr := runServer(t, nil, "serve", "--insecure-http", "--listen", "127.0.0.1:0", "--data", data, "--secrets", file); code != 1 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("serve with a group-readable secrets file: exit %d\n%s", code, stderr)
	}
}
