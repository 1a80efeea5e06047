package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyhold/keyhold/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestNewGivesSeparateDatabases checks that two calls give two usable,
// distinct databases on a server that answers on loopback.
func TestNewGivesSeparateDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("New returned the same URL twice: %s", a)
	}
	for _, u := range []string{a, b} {
		if os.Getenv(EnvURL) == "" && !strings.Contains(u, "127.0.0.1") {
			t.Errorf("URL %s is not on loopback", u)
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("the database of %s is not empty or not writable: %v", u, err)
		}
		var v string
		if err := conn.QueryRow(ctx, "SHOW server_version_num").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if os.Getenv(EnvURL) == "" && !strings.HasPrefix(v, "15") {
			t.Errorf("server version %s, want PostgreSQL 15", v)
		}
		conn.Close(ctx)
	}
}

// TestStartStop checks that a cluster of its own starts, serves, and leaves
// nothing behind when stopped.
func TestStartStop(t *testing.T) {
	c, err := Start("")
	if err != nil {
		if !testenv.InCI() && errors.Is(err, ErrMissing) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	u, err := c.CreateDB("x")
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s still exists after Stop", c.Dir())
	}
	if _, err := pgx.Connect(ctx, u); err == nil {
		t.Error("server still accepts connections after Stop")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestSweep checks that the clusters of dead processes are removed and
// no others.
func TestSweep(t *testing.T) {
	parent := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(name, owner string) string {
		d := filepath.Join(parent, dirPrefix+name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	gone := mk("dead", strconv.Itoa(dead.Process.Pid))
	alive := mk("alive", strconv.Itoa(os.Getpid()))
	young := mk("young", "")
	other := filepath.Join(parent, "something-else")
	os.Mkdir(other, 0o700)
	sweep(parent)
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Error("the cluster of a dead process was kept")
	}
	for _, d := range []string{alive, young, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed", filepath.Base(d))
		}
	}
}
