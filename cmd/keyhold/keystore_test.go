//go:build linux

package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/testenv"
)

// The scripts in testdata/keystore run keyhold against a real Secret
// Service: GNOME Keyring, started headless in a D-Bus session of its own
// (dbus-run-session), with its keyring files in a temporary directory.
// secret-tool, libsecret's own client, checks from outside what keyhold
// put there.

// secretService is a running private D-Bus session with gnome-keyring.
type secretService struct {
	bus string // DBUS_SESSION_BUS_ADDRESS
	cmd *exec.Cmd
}

func startSecretService(t *testing.T) *secretService {
	t.Helper()
	testenv.NeedProgram(t, "dbus-run-session", "dbus")
	testenv.NeedProgram(t, "gnome-keyring-daemon", "gnome-keyring")
	testenv.NeedProgram(t, "secret-tool", "libsecret-tools")
	dir := t.TempDir()
	for _, d := range []string{"home", "data", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Inside the session: unlock a fresh login keyring with a known
	// password, report the bus address, and stay until killed. With the
	// session gone, the keyring daemon exits too.
	script := `set -e
eval "$(printf 'keyring-password' | gnome-keyring-daemon --unlock --components=secrets)"
printf '%s' "$DBUS_SESSION_BUS_ADDRESS" > "$KS_DIR/bus.tmp"
mv "$KS_DIR/bus.tmp" "$KS_DIR/bus"
exec sleep 3600`
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "KS_DIR="+dir, "HOME="+filepath.Join(dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ss := &secretService{cmd: cmd}
	t.Cleanup(ss.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "bus")); err == nil && len(b) > 0 {
			ss.bus = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Secret Service did not start within 30 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The keyring answers before the first test uses it.
	probe := exec.Command("secret-tool", "search", "service", "keyhold-probe")
	probe.Env = append(env, "DBUS_SESSION_BUS_ADDRESS="+ss.bus)
	if b, err := probe.CombinedOutput(); err != nil && len(b) > 0 {
		t.Logf("secret-tool probe: %v: %s", err, b)
	}
	return ss
}

func (ss *secretService) stop() {
	if ss.cmd.Process != nil {
		_ = syscall.Kill(-ss.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { ss.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-ss.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

func TestKeystoreScripts(t *testing.T) {
	ss := startSecretService(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/keystore",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			env.Setenv("SESSION_BUS", ss.bus)
			env.Setenv("DBUS_SESSION_BUS_ADDRESS", ss.bus)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":     cmdExitCode,
			"capture":      cmdCapture,
			"jsonget":      cmdJSONGet,
			"streq":        cmdStrEq,
			"nosecretfile": cmdNoSecretFile,
		},
	})
}

// nosecretfile DIR VALUE...
// fails if any file under DIR holds one of the values, as text or in
// upper or lower case (a Secret Key is printed in upper case).
func cmdNoSecretFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: nosecretfile DIR VALUE...")
	}
	root := ts.MkAbs(args[0])
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, v := range args[1:] {
			for _, form := range []string{v, strings.ToUpper(v), strings.ToLower(v), strings.ReplaceAll(v, "-", "")} {
				if form != "" && bytes.Contains(b, []byte(form)) {
					ts.Fatalf("%s holds a secret", path)
				}
			}
		}
		return nil
	})
	if err != nil {
		ts.Fatalf("nosecretfile: %v", err)
	}
	if n == 0 {
		ts.Fatalf("nosecretfile: no files under %s", root)
	}
}
