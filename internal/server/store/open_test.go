package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keyhold/keyhold/internal/pgtest"
)

func TestOpenChoosesByURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != "sqlite" {
		t.Errorf("no URL gave dialect %s", s.Dialect())
	}
	fi, err := os.Stat(filepath.Join(dir, SQLiteFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v, %v; want mode 0600", fi, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", fi, err)
	}

	for _, bad := range []string{"mysql://u:hunter2@h/db", "u:hunter2@h/db", "sqlite:///x?pw=hunter2"} {
		_, err := Open(ctx, bad, dir)
		if err == nil {
			t.Errorf("Open(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error for %q shows the password: %v", bad, err)
		}
	}
	if _, err := Open(ctx, "", ""); err == nil {
		t.Error("Open with neither URL nor data directory succeeded")
	}

	url := pgtest.New(t)
	for _, u := range []string{url, "postgresql" + strings.TrimPrefix(url, "postgres")} {
		s, err := Open(ctx, u, dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() != "postgres" {
			t.Errorf("%s gave dialect %s", u, s.Dialect())
		}
		s.Close()
	}
}

func TestOpenPostgresWrongPassword(t *testing.T) {
	url := pgtest.New(t)
	// The throwaway cluster trusts everyone, so use an unreachable port
	// to get a connection error carrying the URL's details.
	bad := strings.Replace(url, "postgres@", "postgres:hunter2@", 1)
	bad = bad[:strings.LastIndex(bad, ":")] + ":1/x"
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := OpenPostgres(c, bad)
	if err == nil {
		t.Fatal("OpenPostgres on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestMigrationsMatch(t *testing.T) {
	var versions [2][]int
	for i, d := range []string{"sqlite", "postgres"} {
		ms, err := loadMigrations(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			versions[i] = append(versions[i], m.version)
		}
	}
	if len(versions[0]) == 0 || !slices.Equal(versions[0], versions[1]) {
		t.Errorf("schema steps differ: sqlite %v, postgres %v", versions[0], versions[1])
	}
}

// TestNewerSchemaRefused checks that an older server does not run on a
// database a newer one has migrated.
func TestNewerSchemaRefused(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			open := d.newDB(t)
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := loadMigrations(s.Dialect())
			if _, err := s.(*db).b.writes().exec(ctx, `INSERT INTO schema_migrations (version, applied) VALUES ($1, 0)`, int64(len(ms)+1)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if s, err := open(); err == nil || !strings.Contains(err.Error(), "newer keyhold-server") {
				if s != nil {
					s.Close()
				}
				t.Errorf("opening a newer schema: %v", err)
			}
		})
	}
}

// TestListenerReconnects checks that a replica whose LISTEN connection
// breaks still hears about later changes.
func TestListenerReconnects(t *testing.T) {
	url := pgtest.New(t)
	open := func() (Store, error) { return OpenPostgres(ctx, url) }
	a, b := openT(t, open), openT(t, open)
	acct, _ := createAccount(t, a)
	ch, err := a.Subscribe(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners, %v; want 1", n, err)
	}
	push(t, b, acct, 0, newRevs(newID(t), 0, 1))
	// Whether the notification came before or after the reconnection,
	// the head must arrive.
	if h, _ := recv(t, ch); h != 1 {
		t.Errorf("head %d after the listener reconnected, want 1", h)
	}
	push(t, b, acct, 1, newRevs(newID(t), 0, 1))
	for h := uint64(0); h != 2; {
		h, _ = recv(t, ch)
	}
}

func TestLibpqEnvKeepsPasswordOffArgv(t *testing.T) {
	env, err := libpqEnv("postgres://kh:p%40ss@db.example:5433/keyhold?sslmode=require&connect_timeout=5&pool_max_conns=9")
	if err != nil {
		t.Fatal(err)
	}
	// What it adds to this process's environment: exactly the libpq
	// settings, and not pgx's own pool_max_conns.
	added := env[len(os.Environ()):]
	want := []string{"PGHOST=db.example", "PGPORT=5433", "PGUSER=kh", "PGPASSWORD=p@ss", "PGDATABASE=keyhold",
		"PGSSLMODE=require", "PGCONNECT_TIMEOUT=5"}
	slices.Sort(added)
	slices.Sort(want)
	if !slices.Equal(added, want) {
		t.Errorf("libpq environment %q, want %q", added, want)
	}
}

func TestHeadPayload(t *testing.T) {
	id := ID{0: 0xab, 15: 0x01}
	cases := []struct {
		in   string
		ok   bool
		head uint64
	}{
		{formatHead(id, 42), true, 42},
		{formatHead(id, 0), true, 0},
		{formatHead(id, 1<<64-1), true, 1<<64 - 1},
		{"ab000000000000000000000000000001:-1", false, 0},
		{"ab0000000000000000000000000001:1", false, 0},   // short id
		{"zz000000000000000000000000000001:1", false, 0}, // not hex
		{"ab000000000000000000000000000001", false, 0},   // no head
		{"", false, 0},
	}
	for _, tc := range cases {
		acct, head, ok := parseHead(tc.in)
		if ok != tc.ok || (ok && (acct != id || head != tc.head)) {
			t.Errorf("parseHead(%q) = %x, %d, %v", tc.in, acct, head, ok)
		}
	}
}

// FuzzHeadPayload checks that notification payloads from the database
// never crash a replica, and that what parses formats back to itself.
func FuzzHeadPayload(f *testing.F) {
	f.Add(formatHead(ID{1, 2, 3}, 7))
	f.Add("00000000000000000000000000000000:0")
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		acct, head, ok := parseHead(s)
		if !ok {
			return
		}
		a2, h2, ok2 := parseHead(formatHead(acct, head))
		if !ok2 || a2 != acct || h2 != head {
			t.Errorf("%q parsed as %x:%d, which does not survive formatting", s, acct, head)
		}
	})
}
