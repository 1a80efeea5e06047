package clip

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atotto/clipboard"

	"github.com/keyhold/keyhold/internal/testenv"
)

// helperEnv makes the test binary act as the clipboard clearer, so the tests
// exercise a real detached process without building keyhold.
const helperEnv = "KEYHOLD_CLIP_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := RunClearHelper(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// need fails under CI and skips otherwise when program is missing.
func need(t *testing.T, program, debianPackage string) {
	t.Helper()
	testenv.NeedProgram(t, program, debianPackage)
}

// startX starts a private Xvfb server, points DISPLAY at it for the rest of
// the test (for xclip, which the tests and the clearer run), and stops it
// when the test ends (taking xclip's background selection owners with it).
// It returns the session to give Copy.
func startX(t *testing.T) Session {
	t.Helper()
	need(t, "Xvfb", "xvfb")
	need(t, "xclip", "xclip")
	if clipboard.Unsupported {
		t.Fatal("xclip is installed but github.com/atotto/clipboard found no clipboard program")
	}

	// -displayfd makes Xvfb pick a free display number itself and write it
	// to the given descriptor once it accepts connections.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "xvfb.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	xvfb := exec.Command("Xvfb", "-displayfd", "3", "-nolisten", "tcp")
	xvfb.ExtraFiles = []*os.File{w}
	xvfb.Stdout, xvfb.Stderr = logFile, logFile
	if err := xvfb.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		xvfb.Process.Kill()
		xvfb.Wait()
	})

	type result struct {
		line string
		err  error
	}
	ready := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		r.Close()
		ready <- result{strings.TrimSpace(line), err}
	}()
	var res result
	select {
	case res = <-ready:
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Xvfb did not start")
	}
	if res.err != nil || res.line == "" {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("Xvfb did not report a display (%v); its log:\n%s", res.err, log)
	}
	t.Setenv("DISPLAY", ":"+res.line)
	t.Setenv("WAYLAND_DISPLAY", "")
	return Session{X11Display: ":" + res.line}
}

// helper is a clearer process started by Copy during a test.
type helper struct {
	proc *os.Process
	done <-chan error
	err  error
	exit bool
}

// wait returns the helper's exit status once it has exited.
func (h *helper) wait(t *testing.T) error {
	t.Helper()
	if !h.exit {
		select {
		case h.err = <-h.done:
			h.exit = true
		case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
			t.Fatal("the clipboard clearer did not exit")
		}
	}
	return h.err
}

// watchHelpers records the helpers Copy starts during the test and kills
// any still running when the test ends, so none outlives it.
func watchHelpers(t *testing.T) func() []*helper {
	t.Helper()
	var mu sync.Mutex
	var started []*helper
	testHookStarted = func(p *os.Process, done <-chan error) {
		mu.Lock()
		defer mu.Unlock()
		started = append(started, &helper{proc: p, done: done})
	}
	t.Cleanup(func() {
		testHookStarted = nil
		mu.Lock()
		defer mu.Unlock()
		for _, h := range started {
			if !h.exit {
				h.proc.Kill()
				<-h.done
			}
		}
	})
	return func() []*helper {
		mu.Lock()
		defer mu.Unlock()
		return append([]*helper(nil), started...)
	}
}

func testHelperArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(helperEnv, "1")
	return []string{exe, "__clip-clear"}
}

// only returns the single helper started, failing otherwise.
func only(t *testing.T, helpers []*helper) *helper {
	t.Helper()
	if len(helpers) != 1 {
		t.Fatalf("Copy started %d helper processes, want 1", len(helpers))
	}
	return helpers[0]
}

// readClipboard reads the clipboard as another program would. xclip
// takes the selection in a process it forks after the writer returns, so
// on a loaded machine the selection may have no owner for a moment:
// reading is retried for a while before that counts as a failure.
func readClipboard(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		s, err := clipboard.ReadAll()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading the clipboard: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCopyPutsSecretOnClipboard(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)
	secret := []byte("m4ple-Syrup-orbit-7")

	if err := Copy(secret, time.Hour, testHelperArgv(t), x); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got := readClipboard(t); got != string(secret) {
		t.Errorf("clipboard holds %q, want the secret", got)
	}
	only(t, helpers())
	if string(secret) != "m4ple-Syrup-orbit-7" {
		t.Error("Copy modified the secret")
	}
}

func TestCopyClearsAfterDelay(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)

	if err := Copy([]byte("s3cret-to-clear"), time.Second, testHelperArgv(t), x); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if err := only(t, helpers()).wait(t); err != nil {
		t.Fatalf("clearer failed: %v", err)
	}
	if got := readClipboard(t); got != "" {
		t.Errorf("after the delay the clipboard holds %q, want it empty", got)
	}
}

func TestCopyKeepsWhatUserCopiedSince(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)

	if err := Copy([]byte("s3cret-to-clear"), 2*time.Second, testHelperArgv(t), x); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	const mine = "a link the user copied meanwhile"
	if err := clipboard.WriteAll(mine); err != nil {
		t.Fatal(err)
	}
	if err := only(t, helpers()).wait(t); err != nil {
		t.Fatalf("clearer failed: %v", err)
	}
	if got := readClipboard(t); got != mine {
		t.Errorf("after the delay the clipboard holds %q, want %q untouched", got, mine)
	}
}

// TestHelperNeverSeesSecret runs a stand-in helper that records what it
// receives: the request holds the secret's hash and the delay, and the
// secret itself appears nowhere in its input or command line.
func TestHelperNeverSeesSecret(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)
	need(t, "sh", "dash")
	secret := []byte("hunter2-but-longer")
	dump := filepath.Join(t.TempDir(), "stdin")
	argv := []string{"sh", "-c", `cat > "$1"`, "sh", dump}

	if err := Copy(secret, 90*time.Second, argv, x); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if err := only(t, helpers()).wait(t); err != nil {
		t.Fatalf("stand-in helper failed: %v", err)
	}
	got, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, secret) || strings.Contains(strings.Join(argv, " "), string(secret)) {
		t.Fatalf("the helper was given the secret: %q", got)
	}
	req, err := parseRequest(got)
	if err != nil {
		t.Fatalf("helper received %q: %v", got, err)
	}
	if req.hash != sha256.Sum256(secret) || req.after != 90*time.Second {
		t.Errorf("request %x after %v, want the secret's SHA-256 after 1m30s", req.hash, req.after)
	}
}

// TestCopyHelperFails checks that when the helper cannot be started the
// secret never reaches the clipboard.
func TestCopyHelperFails(t *testing.T) {
	x := startX(t)
	helpers := watchHelpers(t)
	const before = "what the user had copied"
	if err := clipboard.WriteAll(before); err != nil {
		t.Fatal(err)
	}
	err := Copy([]byte("s3cret"), time.Minute, []string{filepath.Join(t.TempDir(), "no-such-keyhold")}, x)
	if err == nil || !strings.Contains(err.Error(), "not copied") {
		t.Fatalf("Copy with a missing helper: %v; want an error saying nothing was copied", err)
	}
	if got := readClipboard(t); got != before {
		t.Errorf("clipboard holds %q, want %q", got, before)
	}
	if n := len(helpers()); n != 0 {
		t.Errorf("%d helpers started", n)
	}
}

// TestCopyNoClipboard: without a graphical session Copy refuses before
// starting anything. The session is what the caller says, whatever the
// process's environment holds.
func TestCopyNoClipboard(t *testing.T) {
	t.Setenv("DISPLAY", ":0")
	t.Setenv("WAYLAND_DISPLAY", "wayland-0")
	helpers := watchHelpers(t)
	if _, err := exec.LookPath("termux-clipboard-set"); err == nil {
		t.Skip("Termux clipboard tools need no display")
	}

	err := Copy([]byte("s3cret"), time.Minute, []string{"/bin/false"}, Session{})
	if !errors.Is(err, ErrNoClipboard) {
		t.Fatalf("Copy without a display: %v, want ErrNoClipboard", err)
	}
	for _, want := range []string{"xclip", "DISPLAY", "keyhold show --field password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := len(helpers()); n != 0 {
		t.Errorf("Copy started %d helper processes, want none", n)
	}
}

func TestCopyBadArguments(t *testing.T) {
	helpers := watchHelpers(t)
	for _, tc := range []struct {
		name  string
		after time.Duration
		argv  []string
		want  string
	}{
		{"zero delay", 0, []string{"/bin/true"}, "delay"},
		{"negative delay", -time.Second, []string{"/bin/true"}, "delay"},
		{"delay too long", 25 * time.Hour, []string{"/bin/true"}, "delay"},
		{"no helper", time.Minute, nil, "helper"},
		{"empty helper", time.Minute, []string{""}, "helper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Copy([]byte("s3cret"), tc.after, tc.argv, Session{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Copy: %v, want an error about the %s", err, tc.want)
			}
		})
	}
	if n := len(helpers()); n != 0 {
		t.Errorf("Copy started %d helper processes, want none", n)
	}
}

func TestParseRequest(t *testing.T) {
	hash := sha256.Sum256([]byte("x"))
	good := request{hash: hash, after: 45 * time.Second}.encode()
	hexHash := fmt.Sprintf("%x", hash)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"good", string(good), true},
		{"one ms", requestMagic + " " + hexHash + " 1\n", true},
		{"24 hours", requestMagic + " " + hexHash + " 86400000\n", true},
		{"over 24 hours", requestMagic + " " + hexHash + " 86400001\n", false},
		{"zero", requestMagic + " " + hexHash + " 0\n", false},
		{"negative", requestMagic + " " + hexHash + " -5\n", false},
		{"plus sign", requestMagic + " " + hexHash + " +5\n", false},
		{"leading zero", requestMagic + " " + hexHash + " 05\n", false},
		{"not a number", requestMagic + " " + hexHash + " 5s\n", false},
		{"no newline", strings.TrimSuffix(string(good), "\n"), false},
		{"two newlines", string(good) + "\n", false},
		{"crlf", strings.TrimSuffix(string(good), "\n") + "\r\n", false},
		{"other version", strings.Replace(string(good), "/v1", "/v2", 1), false},
		{"upper-case hex", requestMagic + " " + strings.ToUpper(hexHash) + " 1\n", false},
		{"short hash", requestMagic + " " + hexHash[2:] + " 1\n", false},
		{"bad hex", requestMagic + " " + "zz" + hexHash[2:] + " 1\n", false},
		{"extra field", requestMagic + " " + hexHash + " 1 1\n", false},
		{"double space", requestMagic + "  " + hexHash + " 1\n", false},
		{"empty", "", false},
		{"secret instead", "hunter2\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseRequest([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("parseRequest(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, errBadRequest) {
					t.Errorf("error %v does not wrap errBadRequest", err)
				}
				return
			}
			if got := string(r.encode()); got != tc.in {
				t.Errorf("re-encoded as %q, want %q", got, tc.in)
			}
		})
	}
}

// TestRunClearHelperRejectsBadRequest checks that a garbled request fails
// at once rather than sleeping or touching the clipboard.
func TestRunClearHelperRejectsBadRequest(t *testing.T) {
	err := RunClearHelper(strings.NewReader("keyhold-clip-clear/v1 abc 1000\n"))
	if !errors.Is(err, errBadRequest) {
		t.Fatalf("RunClearHelper: %v, want errBadRequest", err)
	}
	err = RunClearHelper(strings.NewReader(strings.Repeat("x", 10_000)))
	if !errors.Is(err, errBadRequest) {
		t.Fatalf("RunClearHelper on a long input: %v, want errBadRequest", err)
	}
}

// FuzzParseRequest checks that parseRequest never panics and accepts only
// the canonical encoding: whatever it accepts re-encodes to the same bytes.
func FuzzParseRequest(f *testing.F) {
	hash := sha256.Sum256([]byte("seed"))
	f.Add(request{hash: hash, after: time.Second}.encode())
	f.Add(request{hash: hash, after: MaxClearAfter}.encode())
	f.Add([]byte(requestMagic + " 00 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRequest(data)
		if err != nil {
			return
		}
		if r.after <= 0 || r.after > MaxClearAfter {
			t.Fatalf("accepted delay %v", r.after)
		}
		if enc := r.encode(); !bytes.Equal(enc, data) {
			t.Fatalf("parseRequest(%q) re-encodes as %q", data, enc)
		}
	})
}

func BenchmarkParseRequest(b *testing.B) {
	enc := request{hash: sha256.Sum256([]byte("x")), after: 45 * time.Second}.encode()
	for b.Loop() {
		if _, err := parseRequest(enc); err != nil {
			b.Fatal(err)
		}
	}
}
