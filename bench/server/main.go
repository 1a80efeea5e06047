//go:build linux

// Command server-bench is the load benchmark of keyhold-server. It starts a
// real keyhold-server process (SQLite, then PostgreSQL in a throwaway
// cluster) and drives it over loopback HTTP from this separate process,
// the way devices would:
//
//  1. Many devices: accounts created and devices logged in with the real
//     OPAQUE login (internal/syncclient), then a steady phase of incremental
//     pushes, one item revision each, as a closed loop with a fixed number
//     of pushes in flight and as an open loop at a fixed rate; then idle
//     syncs (the keys and an empty page of changes).
//  2. A 10,000-item vault: one device adds the items to a real vault and
//     uploads them (syncclient.Syncer.Sync); then new devices are set up
//     from the server (syncclient.Setup: login, download, verify, write).
//  3. Idle event streams: N GET /v1/sync/events streams held open, with the
//     server's resident memory (/proc/PID/status VmRSS) before and after.
//
// Every box is a real sealed item revision (format.SealItem under the
// account's key, bound to its item and revision), about 600 bytes, so a
// device could open everything the benchmark leaves on the server.
//
//	go build -o /tmp/keyhold-server ./cmd/keyhold-server
//	go run ./bench/server --bin /tmp/keyhold-server [--backends sqlite,postgres]
//	    [--devices 1000] [--per-account 4] [--duration 20s] [--items 10000] [--json FILE]
//
// bench/server/run.sh builds both and runs them with the defaults. The
// benchmark is not part of the test suite; its results are in
// docs/BENCHMARKS.md ("Server"). It runs on Linux only: it measures the
// server through /proc and ties the server's life to its own.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/pgtest"
)

// password is the throw-away password of every benchmark account.
var password = []byte("benchmark password, not a secret")

// benchKDF is the weakest KDF the vault accepts: the benchmark measures the
// server, and a device's KDF (0.4–0.8 s at the default 256 MiB) is spent
// on the device, once per unlock or setup, whatever the server does.
var benchKDF = keys.MinKDF

// boxSize is the size of a typical sealed item revision.
const boxSize = 600

type options struct {
	bin            string
	backends       []string
	devices        int
	perAccount     int
	preload        int
	concurrency    int
	duration       time.Duration
	warmup         time.Duration
	rate           float64
	items          int
	setupRuns      int
	streams        int
	fanout         int
	parallelLogins bool
	tmpfs          bool
	pgParams       string
	workdir        string
	keep           bool
	jsonPath       string
}

func main() {
	var o options
	var backends string
	flag.StringVar(&o.bin, "bin", "", "keyhold-server binary (required; see run.sh)")
	flag.StringVar(&backends, "backends", "sqlite,postgres", "databases to run on: sqlite, postgres, or both")
	flag.IntVar(&o.devices, "devices", 1000, "simulated devices")
	flag.IntVar(&o.perAccount, "per-account", 4, "devices per account (accounts = devices / per-account)")
	flag.IntVar(&o.preload, "preload", 100, "items each account holds before the push phases")
	flag.IntVar(&o.concurrency, "concurrency", 64, "pushes in flight in the closed-loop phase")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of each push phase")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured pushes before each push phase")
	flag.Float64Var(&o.rate, "rate", 100, "pushes per second in the open-loop phase (0: skip it)")
	flag.IntVar(&o.items, "items", 10000, "items in the large vault (0: skip that part)")
	flag.IntVar(&o.setupRuns, "setup-runs", 3, "new devices set up from the large vault (the median is reported)")
	flag.IntVar(&o.streams, "streams", 1000, "idle event streams to hold open (at most --devices; 0: skip)")
	flag.IntVar(&o.fanout, "fanout", 20, "pushes timed until every stream of the account has the new head")
	flag.BoolVar(&o.parallelLogins, "parallel-logins", false, "log in the devices of an account at the same moment (default: one after another)")
	flag.BoolVar(&o.tmpfs, "tmpfs", false, "keep both databases in /dev/shm without fsync (default: on disk, durable commits)")
	flag.StringVar(&o.pgParams, "pg-params", "", "extra PostgreSQL URL parameters for the server, e.g. pool_max_conns=16")
	flag.StringVar(&o.workdir, "workdir", "", "directory for databases and client vaults (default: a new one in /var/tmp)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file (- for stdout)")
	flag.Parse()
	o.backends = strings.Split(backends, ",")
	cleanUpOnSignal()
	if err := run(&o); err != nil {
		fmt.Fprintf(os.Stderr, "server-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	if o.bin == "" {
		return errors.New("--bin is required: build keyhold-server first (go build -o /tmp/keyhold-server ./cmd/keyhold-server), or use bench/server/run.sh")
	}
	for _, b := range o.backends {
		if b != "sqlite" && b != "postgres" {
			return fmt.Errorf("unknown backend %q (sqlite or postgres)", b)
		}
	}
	if o.perAccount < 1 || o.devices < o.perAccount {
		return errors.New("--devices must be at least --per-account, which must be at least 1")
	}
	if o.preload+o.perAccount > api.MaxPushItems {
		return fmt.Errorf("--preload plus --per-account must fit in one push (%d items)", api.MaxPushItems)
	}
	o.streams = min(o.streams, o.devices)
	if o.workdir == "" {
		d, err := os.MkdirTemp("/var/tmp", "keyhold-server-bench-")
		if err != nil {
			return err
		}
		o.workdir = d
	}
	if !o.keep {
		defer os.RemoveAll(o.workdir)
		atExit(func() { os.RemoveAll(o.workdir) })
	}
	// The simulated devices' Secret Key files go with the rest of the run,
	// not into the user's own state directory.
	if abs, err := filepath.Abs(filepath.Join(o.workdir, "state")); err == nil {
		os.Setenv("XDG_STATE_HOME", abs)
	}
	res := &results{
		Date: time.Now().UTC().Format(time.RFC3339), Go: runtime.Version(), CPUs: runtime.NumCPU(),
		LoadBefore: loadavg(), Options: optionsJSON(o),
	}
	for _, b := range o.backends {
		logf("== %s", b)
		r, err := runBackend(o, b)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		res.Backends = append(res.Backends, r)
	}
	res.LoadAfter = loadavg()
	printResults(os.Stdout, o, res)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		b = append(b, '\n')
		if o.jsonPath == "-" {
			os.Stdout.Write(b)
		} else if err := os.WriteFile(o.jsonPath, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// logf reports progress on stderr; stdout carries only the results.
// cleanups stop the processes and remove the directories of a run cut
// short by SIGINT or SIGTERM (a normal run does it with defer).
var cleanups struct {
	sync.Mutex
	fns []func()
}

func atExit(fn func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	cleanups.fns = append(cleanups.fns, fn)
}

func cleanUpOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		logf("interrupted: stopping the servers and removing the work directories")
		cleanups.Lock()
		for i := len(cleanups.fns) - 1; i >= 0; i-- {
			cleanups.fns[i]()
		}
		os.Exit(130)
	}()
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// One backend, start to finish

func runBackend(o *options, backend string) (*backendStats, error) {
	ctx := context.Background()
	st := &backendStats{Backend: backend}
	dbDir := filepath.Join(o.workdir, backend)
	clientDir := filepath.Join(o.workdir, backend+"-clients")
	if o.tmpfs {
		d, err := os.MkdirTemp("/dev/shm", "keyhold-server-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		atExit(func() { os.RemoveAll(d) })
		dbDir = filepath.Join(d, backend)
	}
	// Client vaults live in memory when there is some: they stand for the
	// devices' own disks, which the server's disk should not wait for.
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "keyhold-server-bench-clients-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		atExit(func() { os.RemoveAll(d) })
		clientDir = d
	}
	for _, d := range []string{dbDir, clientDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}

	args := []string{"--free-max-devices", "0"}
	var (
		pg    *pgtest.Cluster
		dbURL string
	)
	switch backend {
	case "sqlite":
		args = append(args, "--data", dbDir)
		st.Storage = "SQLite, WAL, synchronous=FULL, on disk"
		if o.tmpfs {
			st.Storage = "SQLite, WAL, in /dev/shm (fsync is free)"
		}
	case "postgres":
		// pgtest puts the cluster's directory inside this one; the
		// postgres user must be able to reach it.
		parent := "/var/tmp"
		if o.tmpfs {
			parent = ""
		}
		c, err := pgtest.Start(parent)
		if err != nil {
			return nil, err
		}
		defer c.Stop()
		atExit(func() { c.Stop() })
		pg = c
		if !o.tmpfs {
			if err := makeDurable(ctx, c); err != nil {
				return nil, err
			}
			st.Storage = "PostgreSQL 15, fsync=on, synchronous_commit=on, shared_buffers=32MB, on disk"
		} else {
			st.Storage = "PostgreSQL 15, fsync=off, synchronous_commit=off, in /dev/shm"
		}
		if dbURL, err = c.CreateDB("keyhold"); err != nil {
			return nil, err
		}
		u := dbURL
		if o.pgParams != "" {
			u += "&" + o.pgParams
			st.Storage += ", " + o.pgParams
		}
		args = append(args, "--db", u)
	}
	srv, err := startServer(o.bin, args, filepath.Join(o.workdir, backend+"-server.log"))
	if err != nil {
		return nil, err
	}
	defer func() { srv.stop() }()
	atExit(func() { srv.stop() })
	logf("keyhold-server pid %d at %s (%s)", srv.pid, srv.url, st.Storage)
	cpu := func() (server, db float64) {
		server = procCPU(srv.pid)
		if pg != nil {
			db = pgCPU(pg)
		}
		return
	}

	// 1. Accounts, devices, logins.
	accts, err := createAccounts(ctx, o, srv.url, clientDir, st)
	if err != nil {
		return nil, err
	}
	var devs []*device
	for _, a := range accts {
		devs = append(devs, a.devices...)
	}
	if err := preload(ctx, o, accts, st); err != nil {
		return nil, err
	}

	// 2. Incremental pushes.
	runPush := func(name, mode string, op func(context.Context, *device) (time.Duration, error)) error {
		rand.Shuffle(len(devs), func(i, j int) { devs[i], devs[j] = devs[j], devs[i] })
		if o.warmup > 0 {
			if _, err := pushLoad(ctx, devs, mode, op, o.concurrency, o.rate, o.warmup); err != nil {
				return err
			}
		}
		s0, d0 := cpu()
		b0 := selfCPU()
		w0 := walLSN(ctx, dbURL)
		ps, err := pushLoad(ctx, devs, mode, op, o.concurrency, o.rate, o.duration)
		if err != nil {
			return err
		}
		ps.Name = name
		s1, d1 := cpu()
		b1 := selfCPU()
		w1 := walLSN(ctx, dbURL)
		if n := float64(ps.Pushes); n > 0 {
			ps.ServerCPUus = (s1 - s0) / n * 1e6
			ps.DBCPUus = (d1 - d0) / n * 1e6
			ps.BenchCPUus = (b1 - b0) / n * 1e6
			ps.WALBytes = float64(w1-w0) / n
		}
		st.Push = append(st.Push, ps)
		logf("%s: %d requests, %.0f/s, p50 %.2f ms, p99 %.2f ms, errors %d", name, ps.Pushes, ps.PerSecond, ps.Latency.P50, ps.Latency.P99, ps.Errors)
		return nil
	}
	if err := runPush("push-closed", "closed", pushOne); err != nil {
		return nil, err
	}
	if o.rate > 0 {
		if err := runPush("push-open", "open", pushOne); err != nil {
			return nil, err
		}
	}
	if err := runPush("idle-sync", "closed", idleSync); err != nil {
		return nil, err
	}

	// 3. The large vault.
	if o.items > 0 {
		b, err := bigVault(ctx, o, srv.url, clientDir)
		if err != nil {
			return nil, fmt.Errorf("large vault: %w", err)
		}
		st.Big = b
	}

	// 4. Idle event streams, on a fresh server process over the same
	// database, so that its memory holds no garbage from the phases
	// before and the difference is the streams'.
	if o.streams > 0 {
		srv.stop()
		closeConns()
		if srv, err = startServer(o.bin, args, filepath.Join(o.workdir, backend+"-server-streams.log")); err != nil {
			return nil, err
		}
		s, err := streamLoad(ctx, o, srv, devs[:o.streams], accts)
		if err != nil {
			return nil, fmt.Errorf("event streams: %w", err)
		}
		st.Streams = s
	}
	st.ServerRSSKiB = rssKiB(srv.pid)

	// 5. What it all takes on disk.
	switch backend {
	case "sqlite":
		st.Sizes, err = sqliteSizes(filepath.Join(dbDir, "keyhold-server.db"))
	case "postgres":
		st.Sizes, err = pgSizes(ctx, dbURL)
	}
	if err != nil {
		logf("table sizes: %v", err)
	}
	for _, t := range st.Sizes {
		if t.Table == "revisions" {
			st.Revisions = t.Rows
		}
	}
	return st, nil
}

// makeDurable turns pgtest's throwaway settings back into PostgreSQL's
// defaults, so that a commit waits for its WAL flush as in production and
// the comparison with SQLite (synchronous=FULL) is fair.
func makeDurable(ctx context.Context, c *pgtest.Cluster) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"ALTER SYSTEM SET fsync = on",
		"ALTER SYSTEM SET synchronous_commit = on",
		"ALTER SYSTEM SET full_page_writes = on",
		"SELECT pg_reload_conf()",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// walLSN is PostgreSQL's current WAL position in bytes (0 without a
// database URL).
func walLSN(ctx context.Context, url string) int64 {
	if url == "" {
		return 0
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var n int64
	conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&n)
	return n
}
