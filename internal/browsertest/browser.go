//go:build unix

// Package browsertest drives Debian's Chromium from tests, headless,
// through the DevTools protocol (chromedp). It never downloads a browser:
// the program is the one scripts/deps.sh installs, and a test that needs it
// skips when it is missing, or fails under CI (testenv.NeedProgram).
//
// A Page collects what a test of the web vault asserts on every page it
// opens: every Content-Security-Policy violation (a securitypolicyviolation
// listener added before any script of the page runs, plus the browser's own
// log and its CSP issues), console errors, uncaught exceptions, and the URL
// of every request. Pages are driven the way a person with a screen reader
// finds things: by ARIA role and accessible name (Accessibility.queryAXTree),
// which is also the contract scripts rely on.
//
// The browser trusts exactly the certificates a test names, by the SHA-256
// of their public key (--ignore-certificate-errors-spki-list), never every
// certificate. It runs with a temporary profile directory that is removed,
// with every process that used it, when the browser is closed.
package browsertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyhold/keyhold/internal/testenv"
)

// Options say how to start the browser. The zero value is a headless
// browser that trusts no extra certificate and has no camera.
type Options struct {
	// TrustSPKI are base64 SHA-256 hashes of the SubjectPublicKeyInfo of
	// the certificates to accept although no CA signed them (SPKIHash).
	TrustSPKI []string
	// Camera, when set, is a .y4m video (Y4M) the browser's fake capture
	// device plays in a loop, and camera permission prompts are accepted.
	Camera string
	// ExtraFlags are more Chromium switches (name without "--" → value;
	// true for a switch without value).
	ExtraFlags map[string]any
}

// Browser is one running Chromium. Its methods are safe for concurrent
// use; each Page has a browser context of its own (no shared cookies or
// storage).
type Browser struct {
	allocCtx    context.Context
	allocCancel context.CancelFunc
	ctx         context.Context // the first tab; keeps the browser alive
	cancel      context.CancelFunc
	dir         string // the profile directory
	closeOnce   sync.Once
	closeErr    error
	output      *LogBuffer
	proxy       *proxy
}

// Program returns the path of Debian's chromium, skipping the test when
// it is not installed (failing under CI).
func Program(t testing.TB) string {
	t.Helper()
	return testenv.NeedProgram(t, "chromium", "chromium")
}

// Start launches the browser for the test and closes it when the test ends.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	b, err := Launch(Program(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the browser: %v", err)
		}
	})
	return b
}

// Launch starts Chromium at path. Close it with Close; Start does that for
// a test. For a browser shared by every test of a test binary, call Launch
// from TestMain.
func Launch(path string, opts Options) (*Browser, error) {
	dir, err := os.MkdirTemp("", "keyhold-chromium-")
	if err != nil {
		return nil, err
	}
	out := &LogBuffer{}
	px, err := startProxy()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// --headless stays ahead of the profile's switches, where it always
	// stood: after them, the web vault's recovery kit download did not
	// finish (webtest's TestKitDownloadUnderPolicy).
	flags := append([]chromedp.ExecAllocatorOption{chromedp.Headless}, Flags(path, dir, out, opts.TrustSPKI)...)
	flags = append(flags,
		// Its crash handler and caches write under HOME: keep them in the
		// profile directory, out of the user's home.
		chromedp.Env("HOME="+dir, "XDG_CONFIG_HOME="+dir+"/config", "XDG_CACHE_HOME="+dir+"/cache"),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,AutofillServerCommunication"),
		chromedp.Flag("disable-prompt-on-repost", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("enable-automation", true),
		// Nothing reaches another host: a request to a third-party origin
		// fails instead of leaving the machine (and the tests still see it
		// in the request log).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		// Every connection, loopback included, goes through the recording
		// proxy: it sees workers' and service workers' requests too.
		chromedp.Flag("proxy-server", "http://"+px.addr()),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	)
	if opts.Camera != "" {
		flags = append(flags,
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-file-for-fake-video-capture", opts.Camera),
		)
	}
	for k, v := range opts.ExtraFlags {
		flags = append(flags, chromedp.Flag(k, v))
	}
	b := &Browser{dir: dir, output: out, proxy: px}
	b.allocCtx, b.allocCancel = chromedp.NewExecAllocator(context.Background(), flags...)
	b.ctx, b.cancel = chromedp.NewContext(b.allocCtx)
	// The first action starts the browser, bound to the context it runs
	// on: that must be b.ctx itself, not one with a deadline.
	if err := chromedp.Do(b.ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("starting chromium: %w\n%s", err, out.String())
	}
	return b, nil
}

// Flags are the switches every test browser starts with, whatever else
// it is for: Chromium at path with the profile directory dir and its
// output going to out; no first-run or default-browser prompts, a mock
// keychain and a plain password store; none of its background services
// (updates, sync, crash reports, pings) and no throttling of tabs in the
// background; no sandbox as root (it refuses to run so); and trusting the
// certificates whose SPKIHash is in trustSPKI. Launch adds to them, and
// so does exttest's browser (a window, with the extension).
func Flags(path, dir string, out io.Writer, trustSPKI []string) []chromedp.ExecAllocatorOption {
	flags := []chromedp.ExecAllocatorOption{
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.CombinedOutput(out),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-popup-blocking", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	if os.Getuid() == 0 {
		// Chromium's sandbox refuses to run as root (containers, CI).
		flags = append(flags, chromedp.NoSandbox)
	}
	if len(trustSPKI) > 0 {
		flags = append(flags, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(trustSPKI, ",")))
	}
	return flags
}

// Close stops the browser, kills every process still using its profile
// directory and removes the directory. It may be called more than once.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.closeErr = Quit(b.ctx, b.cancel, b.allocCancel, b.dir)
		for i := 0; i < 50; i++ {
			if err := os.RemoveAll(b.dir); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.proxy.close()
		if left := ProcessesUsing(b.dir); len(left) > 0 {
			b.closeErr = errors.Join(b.closeErr, fmt.Errorf("chromium processes %v still running", left))
		}
	})
	return b.closeErr
}

// Quit closes the browser whose first tab is ctx (waiting at most 10 s),
// cancels that tab's context and the allocator's (cancel, allocCancel),
// then waits at most 5 s for the processes using the profile directory
// dir to end and kills those left: child processes (zygote, GPU, network
// service) can outlive the main one for a moment. A close cut short by
// its context is not an error.
func Quit(ctx context.Context, cancel, allocCancel context.CancelFunc, dir string) error {
	qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
	err := chromedp.Cancel(qctx)
	qcancel()
	cancel()
	allocCancel()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ProcessesUsing(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range ProcessesUsing(dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return err
}

// Hosts are the host:port pairs the browser connected to or tried to, in
// order, whoever asked (a page, a worker, a service worker, the browser):
// every connection goes through a recording proxy that lets only loopback
// addresses through.
func (b *Browser) Hosts() []string { return b.proxy.Hosts() }

// browserServiceHost says whether h is where Chromium itself connects in
// the background whatever its flags (component and extension updates,
// the Google account check). The proxy refuses them, and ForeignHosts
// leaves them out since no page asked for them; a page's own request to
// one of them still shows in its request log and as a CSP violation.
func browserServiceHost(h string) bool {
	switch h {
	case "update.googleapis.com:443", "update.googleapis.com:80", "clients2.google.com:80", "clients2.google.com:443",
		"accounts.google.com:443":
		return true
	}
	return false
}

// ForeignHosts are the Hosts that are not among allowed (host:port),
// leaving out Chromium's own background services.
func (b *Browser) ForeignHosts(allowed ...string) []string {
	var out []string
	for _, h := range b.Hosts() {
		if !slices.Contains(allowed, h) && !browserServiceHost(h) {
			out = append(out, h)
		}
	}
	return out
}

// ProfileDir is the browser's temporary profile directory (removed by
// Close).
func (b *Browser) ProfileDir() string { return b.dir }

// Output is what the browser printed on stdout and stderr so far.
func (b *Browser) Output() string { return b.output.String() }

// ProcessesUsing lists the processes started for the profile directory
// dir: those whose command line names it (--user-data-dir=dir; Chromium
// passes it to every child) or a path inside it (the crash handler's
// database, kept under the profile's HOME). Children forked from the
// zygote rewrite their command line into one string with spaces, so
// arguments are split on NUL bytes and spaces alike.
func ProcessesUsing(dir string) []int {
	flag := "--user-data-dir=" + dir
	inside := dir + "/"
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.FieldsFunc(string(cmdline), func(r rune) bool { return r == 0 || r == ' ' })
		if slices.ContainsFunc(args, func(a string) bool { return a == flag || strings.Contains(a, inside) }) && !isZombie(e.Name()) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func isZombie(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// SPKIHash is what --ignore-certificate-errors-spki-list takes for cert:
// the base64 SHA-256 of its SubjectPublicKeyInfo.
func SPKIHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ServerCert fetches the certificate a TLS server at addr (host:port)
// presents, and checks that its SHA-256 is fingerprint ("sha256:HEX" or
// HEX, as keyhold-server --dev-tls prints it), so that the browser is told
// to trust that certificate and no other.
func ServerCert(addr, fingerprint string) (*x509.Certificate, error) {
	want := strings.TrimPrefix(fingerprint, "sha256:")
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("the server sent no certificate")
	}
	sum := sha256.Sum256(certs[0].Raw)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("the server's certificate has fingerprint sha256:%s, want sha256:%s", got, want)
	}
	return certs[0], nil
}

// LogBuffer holds what a browser prints (CombinedOutput): safe for
// concurrent writes, it keeps the first MiB, enough to diagnose a failure.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // enough to diagnose a failure
	}
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
