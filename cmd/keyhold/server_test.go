//go:build unix

package main

import (
	"bufio"
	"encoding/hex"
	"errors"
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

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/pgtest"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// The scripts in testdata/server run real keyhold-server processes (built
// once from ./cmd/keyhold-server) on SQLite and on a throwaway PostgreSQL
// cluster, and several devices (separate --vault directories) of the real
// keyhold binary against them.

// builtBinary is a program built once per test binary.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var serverBin, mailerBin builtBinary

// build builds pkg (CGO_ENABLED=0, as shipped) into a temporary directory
// once per test binary and returns the program's path.
func (b *builtBinary) build(t *testing.T, pkg string) string {
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "keyhold-bin-")
		if err != nil {
			b.err = err
			return
		}
		path := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
			return
		}
		b.path = path
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func buildServer(t *testing.T) string {
	return serverBin.build(t, "github.com/keyhold/keyhold/cmd/keyhold-server")
}

// TestServerScripts runs every script twice: with keyhold-server on its
// embedded SQLite, and on PostgreSQL, where "server replica" starts a
// second server process on the same database (on SQLite it names the same
// server). Conditions [sqlite] and [postgres] tell them apart.
func TestServerScripts(t *testing.T) {
	bin := buildServer(t)
	// Start the PostgreSQL cluster here, where a missing server can skip
	// or fail the test, rather than inside a script.
	pgtest.New(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			servers := &serverSet{procs: map[string]*serverProc{}}
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/server",
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				Setup: func(env *testscript.Env) error {
					if err := setup(env); err != nil {
						return err
					}
					env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+env.Getenv("PATH"))
					env.Setenv("BACKEND", backend)
					// One PostgreSQL database per script, created when a
					// script asks for it.
					env.Values["pg"] = func() string { return pgtest.New(t) }
					return nil
				},
				Condition: func(cond string) (bool, error) {
					switch cond {
					case "sqlite", "postgres":
						return cond == backend, nil
					}
					return false, fmt.Errorf("unknown condition %q", cond)
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"exitcode": cmdExitCode,
					"capture":  cmdCapture,
					"jsonget":  cmdJSONGet,
					"streq":    cmdStrEq,
					"server":   servers.cmd,
					"pgdb":     cmdPGDB,
					"pgdump":   cmdPGDump,
					"flipbyte": cmdFlipByte,
					"envv1":    cmdEnvV1,
					"srvenv":   cmdSrvEnv,
					"waitshow": cmdWaitShow,
					"sleep":    cmdSleep,
					"golden":   cmdGolden,
				},
			})
		})
	}
}

type serverProc struct {
	cmd    *exec.Cmd
	log    svctest.LockedBuffer
	done   chan error
	exited bool
	extra  []string // the store arguments it was started with
}

type serverSet struct {
	mu    sync.Mutex
	procs map[string]*serverProc
	// bin is the program (keyhold-server when empty); data says whether
	// it gets a --data directory by default.
	bin    string
	noData bool
}

// server start NAME [ARGS...]
//
//	runs keyhold-server serve --listen 127.0.0.1:0 ARGS in the background,
//	waits until it listens, and sets $NAME_URL (and $NAME_FP with
//	--dev-tls). Its data directory defaults to $WORK/NAME.
//
// server stop NAME
//
//	sends SIGTERM and fails unless it exits with status 0 within 15 s.
//
// server kill NAME
//
//	SIGKILL, for a crash.
//
// server log NAME FILE
//
//	writes what the server printed (its structured logs) to FILE.
func (s *serverSet) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: server start|stop|kill|log NAME [args]")
	}
	key := fmt.Sprintf("%p/%s", ts, args[1])
	s.mu.Lock()
	p := s.procs[key]
	s.mu.Unlock()
	switch args[0] {
	case "start":
		if p != nil && !p.exited {
			select {
			case <-p.done:
			default:
				ts.Fatalf("server %s is running", args[1])
			}
		}
		p = s.start(ts, args[1], args[2:])
		s.mu.Lock()
		s.procs[key] = p
		s.mu.Unlock()
	case "stop", "kill":
		if p == nil {
			ts.Fatalf("no server %s", args[1])
		}
		sig := syscall.SIGTERM
		if args[0] == "kill" {
			sig = syscall.SIGKILL
		}
		p.cmd.Process.Signal(sig)
		select {
		case err := <-p.done:
			p.exited = true
			if args[0] == "stop" && err != nil {
				ts.Fatalf("server %s: %v\n%s", args[1], err, p.log.String())
			}
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			ts.Fatalf("server %s did not stop within 15 s", args[1])
		}
	case "replica":
		// server replica NAME OF: a second process on OF's database.
		if len(args) != 3 {
			ts.Fatalf("usage: server replica NAME OF")
		}
		s.mu.Lock()
		of := s.procs[fmt.Sprintf("%p/%s", ts, args[2])]
		s.mu.Unlock()
		if of == nil {
			ts.Fatalf("no server %s", args[2])
		}
		if ts.Getenv("BACKEND") != "postgres" {
			ts.Setenv(args[1]+"_URL", ts.Getenv(args[2]+"_URL"))
			ts.Setenv(args[1]+"_FP", ts.Getenv(args[2]+"_FP"))
			return
		}
		p = s.start(ts, args[1], of.extra)
		s.mu.Lock()
		s.procs[key] = p
		s.mu.Unlock()
	case "dump":
		// server dump NAME FILE: the server's whole database as bytes
		// (SQLite file and WAL, or a pg_dump), for grep.
		if p == nil || len(args) != 3 {
			ts.Fatalf("usage: server dump NAME FILE")
		}
		if ts.Getenv("BACKEND") == "postgres" {
			cmdPGDump(ts, false, []string{ts.Getenv("KEYHOLD_SCRIPT_PG"), args[2]})
			return
		}
		var all []byte
		for _, suf := range []string{"", "-wal"} {
			b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[1]), "keyhold-server.db"+suf))
			if err != nil && !os.IsNotExist(err) {
				ts.Fatalf("%v", err)
			}
			all = append(all, b...)
		}
		if len(all) == 0 {
			ts.Fatalf("server %s has no database file", args[1])
		}
		if err := os.WriteFile(ts.MkAbs(args[2]), all, 0o600); err != nil {
			ts.Fatalf("%v", err)
		}
	case "log":
		if p == nil || len(args) != 3 {
			ts.Fatalf("usage: server log NAME FILE")
		}
		if err := os.WriteFile(ts.MkAbs(args[2]), []byte(p.log.String()), 0o600); err != nil {
			ts.Fatalf("%v", err)
		}
	default:
		ts.Fatalf("server: unknown subcommand %q", args[0])
	}
}

func (s *serverSet) start(ts *testscript.TestScript, name string, extra []string) *serverProc {
	args := []string{"serve"}
	hasStore, hasListen := false, false
	for _, a := range extra {
		hasStore = hasStore || a == "--data" || a == "--db" || strings.HasPrefix(a, "--data=") || strings.HasPrefix(a, "--db=")
		hasListen = hasListen || a == "--listen" || strings.HasPrefix(a, "--listen=")
	}
	if !hasListen {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if !hasStore && !s.noData && ts.Getenv("BACKEND") == "postgres" {
		cmdPGDB(ts, false, []string{"PG"})
		extra = append(extra, "--db", ts.Getenv("PG"))
		hasStore = true
	}
	if !hasStore && !s.noData {
		args = append(args, "--data", ts.MkAbs(name))
	}
	// $STORE is what admin commands need to reach the same database.
	if ts.Getenv("BACKEND") == "postgres" {
		ts.Setenv("STORE", "--db="+ts.Getenv("KEYHOLD_SCRIPT_PG"))
	} else if !hasStore {
		ts.Setenv("STORE", "--data="+ts.MkAbs(name))
	}
	args = append(args, extra...)
	bin := s.bin
	if bin == "" {
		bin = serverBin.path
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = ts.Getenv("WORK")
	if s.noData {
		// Its own, empty working directory: a script can check that the
		// program wrote nothing there.
		cmd.Dir = ts.MkAbs(name + "-cwd")
		if err := os.MkdirAll(cmd.Dir, 0o700); err != nil {
			ts.Fatalf("%v", err)
		}
	}
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		ts.Fatalf("%v", err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		ts.Fatalf("starting keyhold-server: %v", err)
	}
	p := &serverProc{cmd: cmd, done: make(chan error, 1), extra: extra}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var url, fp string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.log.WriteString(line + "\n")
			if m := svctest.FingerprintRE.FindStringSubmatch(line); m != nil {
				fp = "sha256:" + m[1]
			}
			if m := svctest.ListenRE.FindStringSubmatch(line); m != nil && !sent {
				url = m[1]
				ready <- [2]string{url, fp}
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	ts.Defer(func() {
		cmd.Process.Kill()
	})
	select {
	case r, ok := <-ready:
		if !ok {
			ts.Fatalf("keyhold-server %s exited before listening:\n%s", name, p.log.String())
		}
		ts.Setenv(name+"_URL", r[0])
		ts.Setenv(name+"_FP", r[1])
		if i := strings.Index(r[0], "://"); i >= 0 {
			ts.Setenv(name+"_ADDR", strings.TrimRight(r[0][i+3:], "/"))
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		ts.Fatalf("keyhold-server %s did not start listening within 30 s:\n%s", name, p.log.String())
	}
	return p
}

// pgdb VAR
// creates a fresh database on the test's throwaway PostgreSQL cluster (or
// $KEYHOLD_TEST_POSTGRES) and sets VAR to its URL. A script shares one
// database between all its calls, so two servers can use the same one.
func cmdPGDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgdb VAR")
	}
	if u := ts.Getenv("KEYHOLD_SCRIPT_PG"); u != "" {
		ts.Setenv(args[0], u)
		return
	}
	newDB, _ := ts.Value("pg").(func() string)
	u := newDB()
	ts.Setenv("KEYHOLD_SCRIPT_PG", u)
	ts.Setenv(args[0], u)
}

// pgdump URL FILE
// writes a plain SQL dump of the database (pg_dump) to FILE.
func cmdPGDump(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pgdump URL FILE")
	}
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		bin = "/usr/lib/postgresql/15/bin/pg_dump"
	}
	out, err := exec.Command(bin, "--no-owner", "--data-only", "--dbname", args[0]).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ts.Fatalf("pg_dump: %v\n%s", err, ee.Stderr)
		}
		ts.Fatalf("pg_dump: %v", err)
	}
	// bytea columns come out as \x… hex: decode them, so that grep sees
	// the bytes the server stores (and would find plaintext in them).
	for _, m := range byteaRE.FindAll(out, -1) {
		b, err := hex.DecodeString(string(m[2:]))
		if err == nil {
			out = append(append(out, '\n'), b...)
		}
	}
	if err := os.WriteFile(ts.MkAbs(args[1]), out, 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
}

var byteaRE = regexp.MustCompile(`\\x[0-9a-f]+`)

// waitshow VAULT TITLE TIMEOUT
// runs keyhold --vault VAULT show TITLE until it succeeds, or fails after
// TIMEOUT (for changes that arrive live, through sync --watch).
func cmdWaitShow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: waitshow VAULT TITLE TIMEOUT")
	}
	d, err := time.ParseDuration(args[2])
	if err != nil {
		ts.Fatalf("waitshow: %v", err)
	}
	deadline := time.Now().Add(d)
	for {
		err := ts.Exec("keyhold", "--vault", args[0], "show", args[1])
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%q did not reach %s within %s: %v", args[1], args[0], d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}
