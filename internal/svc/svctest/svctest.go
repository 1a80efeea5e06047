// Package svctest runs the keyhold-server and keyhold-mailer binaries in
// tests, as an operator or a script would: it builds the command, starts
// "serve", waits for its "listening on" line and stops it with SIGTERM.
package svctest

import (
	"bufio"
	"bytes"
	debugbuildinfo "debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/buildinfo"
)

// Build builds the command in the current directory (a test's package) as
// name in a new temporary directory. Call cleanup when the tests are done.
func Build(name string) (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}

// Proc is a running serve command.
type Proc struct {
	Cmd    *exec.Cmd
	URL    string // from the "listening on" line
	FP     string // from the "fingerprint:" line, if any
	Stderr *LockedBuffer
	read   chan struct{} // closed when all of stderr has been read
	Exited chan struct{} // closed when the process has exited
	Err    error         // its exit status, once Exited is closed
}

// The lines a serve command prints before its JSON log lines: the
// "fingerprint:" line (--dev-tls) and the "listening on" line.
var (
	ListenRE      = regexp.MustCompile(`^listening on (https?://\S+)$`)
	FingerprintRE = regexp.MustCompile(`^fingerprint: sha256:([0-9a-f]{64})$`)
)

// Start starts cmd (a serve command, not started yet) and waits for its
// "listening on" line. The process is killed when the test ends.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Stderr: &LockedBuffer{}, read: make(chan struct{}), Exited: make(chan struct{})}
	go func() { p.Err = cmd.Wait(); pw.Close(); close(p.Exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.Exited
	})
	ready := make(chan struct{})
	go func() {
		defer close(p.read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.Stderr.WriteString(line + "\n")
			if m := FingerprintRE.FindStringSubmatch(line); m != nil && p.URL == "" {
				p.FP = m[1]
			}
			if m := ListenRE.FindStringSubmatch(line); m != nil && p.URL == "" {
				p.URL = m[1]
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-p.Exited:
		t.Fatalf("serve exited (%v) before listening:\n%s", p.Err, p.Stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not print a listening line:\n%s", p.Stderr)
	}
	return p
}

// Stop sends SIGTERM and checks for exit status 0 within d; then all of
// stderr is in p.Stderr.
func (p *Proc) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
		if p.Err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", p.Err, p.Stderr)
		}
	case <-time.After(d):
		t.Fatalf("serve did not stop within %s of SIGTERM:\n%s", d, p.Stderr)
	}
	<-p.read
}

// WaitLog waits until stderr holds s.
func (p *Proc) WaitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Stderr.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr has no %q within %s:\n%s", s, d, p.Stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LockedBuffer is a strings.Builder safe for concurrent writers and
// readers: a log sink for tests.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *LockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// BuildInfoMetric is the keyhold_build_info line a server built as in
// exports, in the Prometheus text format (labels sorted).
func BuildInfoMetric(in buildinfo.Info) string {
	return fmt.Sprintf(`keyhold_build_info{goversion=%q,revision=%q,version=%q} 1`, in.GoVersion, in.Revision, in.Version)
}

// BinInfo is the build information embedded in the binary bin.
func BinInfo(t testing.TB, bin string) buildinfo.Info {
	t.Helper()
	bi, err := debugbuildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return buildinfo.Parse(bi)
}

// CheckVersion checks that "bin --version" prints what the binary's
// embedded build information says (version, commit if recorded, Go
// version) for the program name, on stdout only, and exits 0.
func CheckVersion(t testing.TB, bin, name string) {
	t.Helper()
	want := BinInfo(t, bin).String(name)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want stdout %q", stdout.String(), stderr.String(), want)
	}
}
