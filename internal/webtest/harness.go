//go:build unix

// Package webtest runs the web vault end to end, as its users meet it: a
// real keyhold-server (built from this repository, --dev-tls, SQLite in a
// temporary directory) serving the page, the real keyhold CLI making the
// account and its recovery kit and acting as a second device, and Debian's
// Chromium (internal/browsertest) driving the page by the accessible names
// docs/WEB.md promises. Its tests live in this package; the harness is
// exported so that bench/web measures the same setup.
//
// One server and one browser serve every test of a test binary (each
// test makes its own account and opens pages in fresh browser contexts);
// Close stops both and leaves no process or file behind.
package webtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/browsertest"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// Password is the account password the tests use (strong enough for the
// CLI's floor).
const Password = "quokka marmalade horizon 42 zebra lantern"

// Env is a built keyhold-server and keyhold CLI, one running server and
// one browser trusting its certificate.
type Env struct {
	Dir       string // temporary; removed by Close
	ServerBin string
	CLIBin    string
	Server    *Server
	Browser   *browsertest.Browser

	chromium string
}

// Server is a running keyhold-server serve --dev-tls.
type Server struct {
	URL  string // https://127.0.0.1:PORT
	FP   string // sha256:HEX of its certificate
	SPKI string // what Chromium is told to trust
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

// Setup builds the binaries, starts a server and a browser. goCmd and
// chromium are the programs' paths (testenv.NeedProgram finds them).
func Setup(goCmd, chromium string) (*Env, error) {
	dir, err := os.MkdirTemp("", "keyhold-webtest-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, chromium: chromium}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	bin := filepath.Join(dir, "bin")
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&e.ServerBin, "cmd/keyhold-server"}, {&e.CLIBin, "cmd/keyhold"}} {
		*b.dst = filepath.Join(bin, filepath.Base(b.pkg))
		cmd := exec.Command(goCmd, "build", "-o", *b.dst, "github.com/keyhold/keyhold/"+b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	if e.Server, err = e.StartServer(filepath.Join(dir, "server")); err != nil {
		return nil, err
	}
	if e.Browser, err = e.LaunchBrowser(browsertest.Options{}); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// LaunchBrowser starts another browser trusting the server (for a fake
// camera, which is set per browser). The caller closes it.
func (e *Env) LaunchBrowser(opts browsertest.Options) (*browsertest.Browser, error) {
	opts.TrustSPKI = append(opts.TrustSPKI, e.Server.SPKI)
	return browsertest.Launch(e.chromium, opts)
}

// Close stops the browser and the server and removes the directory.
func (e *Env) Close() error {
	var errs []error
	if e.Browser != nil {
		errs = append(errs, e.Browser.Close())
	}
	if e.Server != nil {
		errs = append(errs, e.Server.Stop())
	}
	errs = append(errs, os.RemoveAll(e.Dir))
	return errors.Join(errs...)
}

// StartServer starts keyhold-server serve --dev-tls on a free loopback
// port with its data (SQLite, certificate) in data.
func (e *Env) StartServer(data string, extra ...string) (*Server, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--dev-tls", "--data", data}, extra...)
	cmd := exec.Command(e.ServerBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data, "TMPDIR=" + os.TempDir()}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, log: &lockedBuffer{}, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if m := svctest.FingerprintRE.FindStringSubmatch(line); m != nil && s.FP == "" {
				s.FP = "sha256:" + m[1]
			}
			if m := svctest.ListenRE.FindStringSubmatch(line); m != nil && !sent {
				s.URL = strings.TrimRight(m[1], "/")
				sent = true
				close(ready)
			}
		}
		if !sent {
			close(ready)
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
	}
	if s.URL == "" || s.FP == "" {
		cmd.Process.Kill()
		return nil, fmt.Errorf("keyhold-server did not start:\n%s", s.log.String())
	}
	cert, err := browsertest.ServerCert(strings.TrimPrefix(s.URL, "https://"), s.FP)
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.SPKI = browsertest.SPKIHash(cert)
	return s, nil
}

// Log is what the server printed so far (one JSON line per request).
func (s *Server) Log() string { return s.log.String() }

// Stop sends SIGTERM and waits for the server to exit.
func (s *Server) Stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("keyhold-server exited with %v", err)
		}
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("keyhold-server did not stop within 15 s of SIGTERM")
	}
}

// Device is one keyhold CLI device (its own vault, home and runtime
// directories) of an account on the server.
type Device struct {
	e         *Env
	server    *Server
	Dir       string
	Name      string
	AccountID string
	Kit       string // the setup code, as printed on the kit
	SecretKey string
	env       []string
}

// NewAccount creates an account on the server with the CLI (keyhold init
// --server, small key-derivation settings so the tests stay quick) and
// returns its first device.
func (e *Env) NewAccount(t testing.TB, name string) *Device {
	t.Helper()
	return e.NewAccountOn(t, e.Server, name, "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
}

// NewAccountOn is NewAccount on another server, with init's KDF flags
// given in kdf.
func (e *Env) NewAccountOn(t testing.TB, s *Server, name string, kdf ...string) *Device {
	t.Helper()
	d := e.newDevice(t, s, name)
	args := append([]string{"init", "--server", s.URL, "--device-name", name, "--email", name + "@example.org", "--json"}, kdf...)
	var acct struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(d.Run(t, args...)), &acct); err != nil || acct.AccountID == "" {
		t.Fatalf("keyhold init --json: %v", err)
	}
	var kit struct {
		Kit       string `json:"kit"`
		AccountID string `json:"account_id"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal([]byte(d.Run(t, "kit", "--json")), &kit); err != nil || kit.Kit == "" {
		t.Fatalf("keyhold kit --json: %v", err)
	}
	d.AccountID, d.Kit, d.SecretKey = kit.AccountID, kit.Kit, kit.SecretKey
	return d
}

// SetupDevice sets up another CLI device of d's account from its kit.
func (d *Device) SetupDevice(t testing.TB, name string) *Device {
	t.Helper()
	n := d.e.newDevice(t, d.server, name)
	kit := filepath.Join(n.Dir, "kit.txt")
	if err := os.WriteFile(kit, []byte(d.Kit), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Run(t, "setup", "--kit", kit, "--server", d.server.URL, "--device-name", name)
	n.AccountID, n.Kit, n.SecretKey = d.AccountID, d.Kit, d.SecretKey
	return n
}

func (e *Env) newDevice(t testing.TB, s *Server, name string) *Device {
	dir, err := os.MkdirTemp(e.Dir, "device-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, p := range []string{home, run} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &Device{e: e, server: s, Dir: dir, Name: name, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir(),
		"KEYHOLD_VAULT=" + filepath.Join(dir, "vault"), "KEYHOLD_PASSWORD_FILE=" + pw,
		"KEYHOLD_SERVER_FINGERPRINT=" + s.FP, "XDG_RUNTIME_DIR=" + run,
		"XDG_STATE_HOME=", "XDG_CONFIG_HOME=", "XDG_DATA_HOME=", "XDG_CACHE_HOME=",
		// No D-Bus session: the key store is a file, and nothing can reach
		// (or auto-start) the developer's own.
		"DBUS_SESSION_BUS_ADDRESS=", "KEYHOLD_KEYSTORE=",
	}}
	t.Cleanup(func() { d.RunErr(nil, "lock") }) // stop an agent if one started
	return d
}

// Run runs keyhold with args on this device and returns its stdout; the
// test fails if it exits non-zero.
func (d *Device) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := d.RunErr(nil, args...)
	if err != nil {
		t.Fatalf("keyhold %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// RunStdin is Run with stdin.
func (d *Device) RunStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := d.RunErr(strings.NewReader(stdin), args...)
	if err != nil {
		t.Fatalf("keyhold %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// RunErr runs keyhold and returns stdout, stderr and the exit error.
func (d *Device) RunErr(stdin io.Reader, args ...string) (string, string, error) {
	cmd := exec.Command(d.e.CLIBin, args...)
	cmd.Env = d.env
	cmd.Dir = d.Dir
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// Start starts keyhold with args in the background (sync --watch); it is
// interrupted and waited for when the test ends. Its stderr is returned
// as it grows.
func (d *Device) Start(t testing.TB, args ...string) (stderr func() string) {
	t.Helper()
	cmd := exec.Command(d.e.CLIBin, args...)
	cmd.Env = d.env
	cmd.Dir = d.Dir
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return buf.String
}

// KitFile writes the recovery kit as a PDF ("pdf") or PNG ("png") with
// keyhold kit and returns its path.
func (d *Device) KitFile(t testing.TB, kind string) string {
	t.Helper()
	path := filepath.Join(d.Dir, "kit."+kind)
	os.Remove(path)
	d.Run(t, "kit", "--"+kind, path)
	return path
}

// DeviceInfo is one entry of keyhold devices list --json.
type DeviceInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Revoked bool   `json:"revoked"`
}

// Devices lists the account's devices as the CLI sees them.
func (d *Device) Devices(t testing.TB) []DeviceInfo {
	t.Helper()
	var ds []DeviceInfo
	if err := json.Unmarshal([]byte(d.Run(t, "devices", "list", "--json")), &ds); err != nil {
		t.Fatalf("devices list --json: %v", err)
	}
	return ds
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
