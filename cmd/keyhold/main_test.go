//go:build unix

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite" // the "sqlite" driver, to damage vault.db on purpose

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/cli"
	"github.com/keyhold/keyhold/internal/pgtest"
)

// The scripts in testdata/script run the real keyhold binary (this test
// binary, re-executed as "keyhold" by testscript) against vaults in their
// own work directory. They check what a user sees: stdout, stderr and the
// exit code.

// testPassword is the vault password every script uses (from
// $KEYHOLD_PASSWORD_FILE, written by setup). $PASSWORD holds it too, for
// scripts that write wrong or changed passwords next to it.
const testPassword = "correct horse battery staple 7"

// pgMain stops the shared PostgreSQL cluster (started by the server
// scripts) after the tests.
type pgMain struct{ m *testing.M }

func (p pgMain) Run() int {
	code := pgtest.Run(p.m)
	for _, b := range []*builtBinary{&serverBin, &mailerBin} {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(pgMain{m}, map[string]func(){
		"keyhold": func() {
			// Leave the controlling terminal, if go test has one: a
			// command that wants to prompt must then fail with "no
			// terminal" at once instead of waiting on the developer's
			// keyboard, just as it does under CI. (The agent is started
			// as a session leader already; its Setsid fails harmlessly.)
			// A script that gives the command a terminal of its own
			// (script(1), testdata/mail/first-use.txtar) sets
			// KEYHOLD_TEST_TTY so that the command keeps it.
			if os.Getenv("KEYHOLD_TEST_TTY") == "" {
				_, _ = syscall.Setsid()
			}
			code := cli.Main(os.Args[1:])
			recordPeak()
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"capture":    cmdCapture,
			"jsonget":    cmdJSONGet,
			"jsonset":    cmdJSONSet,
			"streq":      cmdStrEq,
			"typo":       cmdTypo,
			"cut":        cmdCut,
			"flipbyte":   cmdFlipByte,
			"truncate":   cmdTruncate,
			"garbage":    cmdGarbage,
			"tamper":     cmdTamper,
			"swapbox":    cmdSwapBox,
			"waitlocked": cmdWaitLocked,
			"waitgone":   cmdWaitGone,
			"hardened":   cmdHardened,
			"golden":     cmdGolden,
		},
	})
}

// setup gives each script its own vault, agent socket directory, home and
// password file, and makes sure no agent outlives the script.
func setup(env *testscript.Env) error {
	work := env.WorkDir
	run := filepath.Join(work, "run")
	home := filepath.Join(work, "home")
	for _, d := range []string{run, home} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	pwFile := filepath.Join(work, "password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		return err
	}
	env.Setenv("KEYHOLD_VAULT", filepath.Join(work, "vault"))
	env.Setenv("KEYHOLD_PASSWORD_FILE", pwFile)
	env.Setenv("PASSWORD", testPassword)
	env.Setenv("XDG_RUNTIME_DIR", run)
	env.Setenv("XDG_DATA_HOME", "")
	// Secret Key files go under $HOME/.local/state: this script's home.
	env.Setenv("XDG_STATE_HOME", "")
	env.Setenv("XDG_CONFIG_HOME", "")
	env.Setenv("HOME", home)
	// No D-Bus session: "--keystore auto" then means a file, and nothing
	// can reach (or auto-start) the developer's own key store. The
	// key-store scripts start a Secret Service of their own.
	env.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	env.Setenv("KEYHOLD_KEYSTORE", "")
	env.Defer(func() { stopAgents(env.T(), run) })
	return nil
}

// stopAgents locks every agent that still listens in the script's runtime
// directory (a script that failed half-way may leave one) and kills it if
// it does not exit.
func stopAgents(t testscript.T, run string) {
	socks, _ := filepath.Glob(filepath.Join(run, "keyhold", "*.sock"))
	for _, sock := range socks {
		cl, st, err := agent.Dial(sock)
		if err != nil {
			continue
		}
		t.Log(fmt.Sprintf("stopping a leftover agent (pid %d)", st.PID))
		_ = cl.Lock(context.Background())
		if !waitProcessGone(st.PID, 5*time.Second) {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
		}
	}
}

// processGone reports whether pid has exited (a zombie counts as exited:
// the agent's parent, keyhold unlock, is long gone and init reaps late).
func processGone(pid int) bool {
	if pid <= 0 {
		return true
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist) && isLinuxProc()
	}
	// The state follows the command name in parentheses.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] == 'Z' || b[i+2] == 'X'
	}
	return false
}

func isLinuxProc() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func waitProcessGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if processGone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exitcode N PROG [ARGS...]
// runs PROG like exec and fails unless it exits with status N. Its stdout
// and stderr are kept for the stdout and stderr commands.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// capture VAR [stdout|stderr|FILE]
// sets VAR to the content (default: stdout) less surrounding white space.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: capture VAR [stdout|stderr|FILE]")
	}
	src := "stdout"
	if len(args) == 2 {
		src = args[1]
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(src)))
}

// jsonget SRC PATH VAR
// parses SRC (stdout, stderr or a file) as JSON and sets VAR to the value
// at PATH: dot-separated object keys and array indexes; a "len" element gives
// an array's or object's length. Strings are set as is, anything else as
// JSON. With !, checks that PATH does not exist.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if (!neg && len(args) != 3) || (neg && len(args) != 2) {
		ts.Fatalf("usage: jsonget SRC PATH VAR | ! jsonget SRC PATH")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("jsonget: %s is not JSON: %v", args[0], err)
	}
	got, err := jsonPath(v, args[1])
	if neg {
		if err == nil {
			ts.Fatalf("jsonget: %s exists: %v", args[1], got)
		}
		return
	}
	if err != nil {
		ts.Fatalf("jsonget: %v", err)
	}
	if s, ok := got.(string); ok {
		ts.Setenv(args[2], s)
		return
	}
	b, _ := json.Marshal(got)
	ts.Setenv(args[2], string(b))
}

func jsonPath(v any, path string) (any, error) {
	if path == "" || path == "." {
		return v, nil
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if p == "len" {
				v = float64(len(x))
				continue
			}
			e, ok := x[p]
			if !ok {
				return nil, fmt.Errorf("no key %q in %s", p, path)
			}
			v = e
		case []any:
			if p == "len" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no index %q in %s (length %d)", p, path, len(x))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%q in %s: not an object or array", p, path)
		}
	}
	return v, nil
}

// jsonset FILE KEY VALUE
// sets a top-level string KEY of the JSON object in FILE.
func cmdJSONSet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonset FILE KEY VALUE")
	}
	path := ts.MkAbs(args[0])
	var m map[string]any
	b, err := os.ReadFile(path)
	ts.Check(err)
	ts.Check(json.Unmarshal(b, &m))
	if _, ok := m[args[1]]; !ok {
		ts.Fatalf("jsonset: %s has no key %q", args[0], args[1])
	}
	m[args[1]] = args[2]
	b, err = json.MarshalIndent(m, "", "  ")
	ts.Check(err)
	ts.Check(os.WriteFile(path, append(b, '\n'), 0o600))
}

// streq A B
// fails unless A and B are equal (with !, unless they differ).
func cmdStrEq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: streq A B")
	}
	if (args[0] == args[1]) == neg {
		if neg {
			ts.Fatalf("both are %q", args[0])
		}
		ts.Fatalf("%q != %q", args[0], args[1])
	}
}

// kitAlphabet is the kit text's alphabet (internal/kit).
const kitAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// typo VAR INDEX
// replaces the character at INDEX of $VAR by the next one of the kit
// alphabet: a one-character typo that still uses only valid characters.
func cmdTypo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: typo VAR INDEX")
	}
	s := ts.Getenv(args[0])
	i, err := strconv.Atoi(args[1])
	if err != nil || i < 0 || i >= len(s) {
		ts.Fatalf("typo: bad index %q for a string of %d characters", args[1], len(s))
	}
	j := strings.IndexByte(kitAlphabet, s[i])
	if j < 0 {
		ts.Fatalf("typo: %q at index %d is not a kit character", s[i], i)
	}
	b := []byte(s)
	b[i] = kitAlphabet[(j+1)%len(kitAlphabet)]
	ts.Setenv(args[0], string(b))
}

// cut VAR N
// keeps the first N characters of $VAR.
func cmdCut(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cut VAR N")
	}
	s := ts.Getenv(args[0])
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 || n > len(s) {
		ts.Fatalf("cut: bad length %q for a string of %d characters", args[1], len(s))
	}
	ts.Setenv(args[0], s[:n])
}

// flipbyte FILE OFFSET
// inverts the bits of one byte of FILE. OFFSET counts from the end if
// negative; "mid" is the middle of the file.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET|mid")
	}
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	off := flipOffset(ts, args[1], len(b))
	b[off] ^= 0xff
	ts.Check(os.WriteFile(path, b, 0o600))
}

func flipOffset(ts *testscript.TestScript, arg string, n int) int {
	if n == 0 {
		ts.Fatalf("nothing to flip: empty data")
	}
	if arg == "mid" {
		return n / 2
	}
	off, err := strconv.Atoi(arg)
	if err != nil {
		ts.Fatalf("bad offset %q", arg)
	}
	if off < 0 {
		off += n
	}
	if off < 0 || off >= n {
		ts.Fatalf("offset %s is outside %d bytes", arg, n)
	}
	return off
}

// truncate FILE N|half
// cuts FILE to N bytes, or to half its size.
func cmdTruncate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: truncate FILE N|half")
	}
	path := ts.MkAbs(args[0])
	st, err := os.Stat(path)
	ts.Check(err)
	n := st.Size() / 2
	if args[1] != "half" {
		if n, err = strconv.ParseInt(args[1], 10, 64); err != nil {
			ts.Fatalf("truncate: bad size %q", args[1])
		}
	}
	ts.Check(os.Truncate(path, n))
}

// garbage FILE SIZE
// replaces FILE with SIZE pseudo-random bytes (the same on every run).
func cmdGarbage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: garbage FILE SIZE")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		ts.Fatalf("garbage: bad size %q", args[1])
	}
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}

// tamper VAULTDIR items ID [OFFSET]
// tamper VAULTDIR history ID [OFFSET]
// tamper VAULTDIR meta KEY [OFFSET]
// flips one byte (default: the middle one) of an item's sealed box, of a
// past revision's box (the oldest of that item) or of a meta value (such
// as the envelope) inside VAULTDIR/vault.db, through SQLite itself, so the
// database stays well-formed and only the encrypted data is wrong.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: tamper VAULTDIR items|history|meta ID|KEY [OFFSET|mid]")
	}
	off := "mid"
	if len(args) == 4 {
		off = args[3]
	}
	path := filepath.Join(ts.MkAbs(args[0]), "vault.db")
	if _, err := os.Stat(path); err != nil {
		ts.Fatalf("tamper: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	ts.Check(err)
	defer db.Close()
	var sel, upd string
	var key any
	switch args[1] {
	case "items", "history":
		id, err := uuid.Parse(args[2])
		if err != nil {
			ts.Fatalf("tamper: %q is not an item id", args[2])
		}
		key = id[:]
		sel = `SELECT rev, box FROM ` + args[1] + ` WHERE id = ? ORDER BY rev LIMIT 1`
		upd = `UPDATE ` + args[1] + ` SET box = ? WHERE id = ? AND rev = ?`
	case "meta":
		key = args[2]
		sel = `SELECT 0, v FROM meta WHERE k = ?`
		upd = `UPDATE meta SET v = ? WHERE k = ? AND 0 = ?`
	default:
		ts.Fatalf("tamper: unknown table %q", args[1])
	}
	var rev int64
	var box []byte
	if err := db.QueryRow(sel, key).Scan(&rev, &box); err != nil {
		ts.Fatalf("tamper: reading %s %s: %v", args[1], args[2], err)
	}
	box[flipOffset(ts, off, len(box))] ^= 0x01
	res, err := db.Exec(upd, box, key, rev)
	ts.Check(err)
	if n, _ := res.RowsAffected(); n != 1 {
		ts.Fatalf("tamper: updated %d rows, want 1", n)
	}
	ts.Check(db.Close())
}

// waitlocked TIMEOUT
// polls `keyhold status --json` until it reports the vault locked, then
// waits until every agent process it saw has exited. Fails after TIMEOUT.
func cmdWaitLocked(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitlocked TIMEOUT")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	deadline := time.Now().Add(d)
	pids := map[int]bool{}
	for {
		if err := ts.Exec("keyhold", "status", "--json"); err != nil {
			ts.Fatalf("keyhold status: %v", err)
		}
		var st struct {
			Locked bool `json:"locked"`
			Agent  *struct {
				PID int `json:"pid"`
			} `json:"agent"`
		}
		ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &st))
		if st.Agent != nil {
			pids[st.Agent.PID] = true
		}
		if st.Locked {
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("still unlocked after %s", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for pid := range pids {
		if !waitProcessGone(pid, time.Until(deadline)) {
			ts.Fatalf("the vault reports locked but agent pid %d still runs after %s", pid, d)
		}
	}
}

// waitgone PATTERN TIMEOUT
// polls, without talking to any agent, until no file matches the glob
// PATTERN (an agent removes its socket when it exits). Fails after TIMEOUT.
func cmdWaitGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgone PATTERN TIMEOUT")
	}
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	deadline := time.Now().Add(d)
	for {
		m, err := filepath.Glob(ts.MkAbs(args[0]))
		ts.Check(err)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s still there after %s", m[0], d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
