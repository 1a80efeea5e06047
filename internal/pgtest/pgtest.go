// Package pgtest runs a throwaway PostgreSQL 15 cluster for tests and
// benchmarks, so that the PostgreSQL store is checked against a real server
// rather than a mock.
//
// A cluster lives in a fresh directory, listens only on 127.0.0.1 on a free
// port (and on a unix socket inside its directory), runs with fsync off
// because its data is worthless, and is removed by Stop. When the process
// runs as root, initdb and postgres run as the postgres user, since
// PostgreSQL refuses to run as root.
//
// In a test package:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.New(t) // a new, empty database
//		…
//	}
//
// Set KEYHOLD_TEST_POSTGRES to a postgres:// URL to use an existing server
// instead: New then creates its databases there and drops them afterwards.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyhold/keyhold/internal/testenv"
)

// BinDir is where the PostgreSQL 15 server binaries are (Debian's layout).
var BinDir = "/usr/lib/postgresql/15/bin"

// EnvURL names the environment variable that points tests at an existing
// server instead of a throwaway cluster.
const EnvURL = "KEYHOLD_TEST_POSTGRES"

// ErrMissing means the PostgreSQL server binaries are not installed.
var ErrMissing = errors.New("PostgreSQL 15 server binaries not found (Debian: apt-get install postgresql-15)")

// superuser is the cluster's only role; it needs no password because the
// cluster accepts connections from this machine only.
const superuser = "postgres"

// Cluster is one running throwaway cluster.
type Cluster struct {
	dir  string // removed by Stop
	port int
	cred *credential // nil: run as ourselves

	proc    *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start creates and starts a cluster in a new directory inside dir. With
// dir "", that is /dev/shm if there is one (memory is much faster than a
// busy disk, and the data is worthless), else the temporary directory.
// Every directory above it must be searchable by the postgres user. Call
// Stop to end it; if this process dies first, the kernel kills the server
// too.
func Start(dir string) (*Cluster, error) {
	if dir == "" {
		dir = os.TempDir()
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && fi.Mode().Perm()&0o002 != 0 {
			dir = "/dev/shm"
		}
	}
	for _, b := range []string{"initdb", "postgres", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			return nil, fmt.Errorf("%w: %s is missing", ErrMissing, filepath.Join(BinDir, b))
		}
	}
	c := &Cluster{}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	sweep(dir)
	d, err := os.MkdirTemp(dir, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("make cluster directory: %w", err)
	}
	c.dir = d
	if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	if c.cred != nil {
		if err := os.Chown(d, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(d)
			return nil, fmt.Errorf("hand the cluster directory to the postgres user: %w", err)
		}
	}
	if err := c.initdb(); err != nil {
		os.RemoveAll(d)
		return nil, err
	}
	// Another process may take the port between our probe and the server's
	// bind: try a few ports.
	for attempt := 0; ; attempt++ {
		err = c.start()
		if err == nil {
			return c, nil
		}
		if attempt == 2 {
			os.RemoveAll(d)
			return nil, err
		}
	}
}

const (
	dirPrefix = "keyhold-pg-"
	ownerFile = "owner.pid" // the process that made the cluster
)

// sweep removes the clusters of processes that died without Stop (their
// servers died with them), which would otherwise fill /dev/shm.
func sweep(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or being made
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		if !processAlive(pid) {
			os.RemoveAll(d)
		}
	}
}

// command prepares a PostgreSQL binary run as the cluster's owner, with an
// environment free of the caller's PG* settings.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(BinDir, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"LC_ALL=C", "TZ=UTC", "HOME=" + c.dir, "PATH=" + BinDir + ":/usr/bin:/bin"}
	cmd.SysProcAttr = runAs(c.cred)
	return cmd
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) initdb() error {
	cmd := c.command("initdb", "--pgdata="+c.data(), "--username="+superuser,
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, tail(out))
	}
	// Settings for a disposable cluster: durability is pointless, speed and
	// isolation from the rest of the machine are what matter.
	conf := "\n# pgtest\n" +
		"listen_addresses = '127.0.0.1'\n" +
		"unix_socket_directories = '" + c.dir + "'\n" +
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" +
		"max_connections = 300\nshared_buffers = 32MB\n" +
		"logging_collector = off\nlog_min_messages = warning\n"
	f, err := os.OpenFile(filepath.Join(c.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("configure cluster: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("configure cluster: %w", err)
	}
	return f.Close()
}

// start runs the postmaster as our child on a free port and waits until it
// accepts connections.
func (c *Cluster) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	logPath := filepath.Join(c.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()

	cmd := c.command("postgres", "-D", c.data(), "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Kill the server if this process dies without calling Stop (a test
	// timeout, a crash): a forgotten cluster would hold a port and memory.
	// On Linux the signal follows the thread that started the child, so
	// that thread stays locked to a goroutine that lives as long as the
	// server.
	dieWithParent(cmd)
	started := make(chan error, 1)
	c.exited = make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.proc = cmd

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited at start (%v)\n%s", c.waitErr, tail(log))
		case <-ctx.Done():
			cmd.Process.Kill()
			<-c.exited
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres did not accept connections within 60 s: %v\n%s", err, tail(log))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the end of a long tool output for an error message.
func tail(b []byte) string {
	const max = 2000
	b = bytes.TrimSpace(b)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// URL returns the postgres:// URL of database dbname in the cluster.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Dir is the cluster's directory (data, log, unix socket).
func (c *Cluster) Dir() string { return c.dir }

// CreateDB creates an empty database and returns its URL.
func (c *Cluster) CreateDB(name string) (string, error) {
	// FILE_COPY is much faster than PostgreSQL 15's default, WAL_LOG,
	// for a small template: its checkpoints cost nothing without fsync.
	if err := createDB(c.URL("postgres"), name, "STRATEGY = FILE_COPY"); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// Stop shuts the server down at once (its data is not worth a checkpoint)
// and removes the cluster's directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		out, err := c.command("pg_ctl", "stop", "-D", c.data(), "-m", "immediate", "-w", "-t", "30").CombinedOutput()
		if err != nil {
			c.stopErr = fmt.Errorf("pg_ctl stop: %w\n%s", err, tail(out))
			c.proc.Process.Kill()
		}
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			c.proc.Process.Kill()
			<-c.exited
		}
		if err := os.RemoveAll(c.dir); err != nil && c.stopErr == nil {
			c.stopErr = err
		}
	})
	return c.stopErr
}

func createDB(adminURL, name, options string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" "+options); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func dropDB(adminURL, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// The cluster shared by every New in this process.
var shared struct {
	mu      sync.Mutex
	running bool // Run is active: someone will stop the cluster
	once    sync.Once
	c       *Cluster
	err     error
}

// Run runs the tests of a package that calls New, then stops the shared
// cluster. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
func Run(m *testing.M) int {
	shared.mu.Lock()
	shared.running = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	c := shared.c
	shared.mu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	return code
}

// New returns the URL of a new, empty database for t. The first call in a
// process starts the shared cluster, which Run stops after the tests. If
// the PostgreSQL binaries are missing, t is skipped, unless the
// environment variable CI is set, in which case t fails.
func New(t testing.TB) string {
	t.Helper()
	name := "keyhold_" + randomName()
	if ext := os.Getenv(EnvURL); ext != "" {
		u, err := url.Parse(ext)
		if err != nil {
			t.Fatalf("pgtest: %s is not a URL", EnvURL)
		}
		if err := createDB(ext, name, ""); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(func() {
			if err := dropDB(ext, name); err != nil {
				t.Logf("pgtest: drop database %s: %v", name, err)
			}
		})
		u.Path = "/" + name
		return u.String()
	}

	shared.mu.Lock()
	running := shared.running
	shared.mu.Unlock()
	if !running {
		t.Fatal("pgtest: add `func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }` to this package, so the shared PostgreSQL cluster is stopped after the tests")
	}
	shared.once.Do(func() {
		c, err := Start("")
		shared.mu.Lock()
		shared.c, shared.err = c, err
		shared.mu.Unlock()
	})
	if shared.err != nil {
		if errors.Is(shared.err, ErrMissing) && !testenv.InCI() {
			t.Skipf("pgtest: %v", shared.err)
		}
		t.Fatalf("pgtest: %v", shared.err)
	}
	u, err := shared.c.CreateDB(name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

func randomName() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToLower(hex.EncodeToString(b[:]))
}
