//go:build unix

package vault

// Crash-safety and multi-process tests. The writer processes are this test
// binary itself, re-run with -test.run naming an env-gated helper test, so
// the code under test is exactly the package's code and nothing else needs
// building.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

const stressPassword = "correct horse"

// helperCmd returns a command re-running this test binary with only the
// named helper test, and env added to the environment.
func helperCmd(ctx context.Context, test string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// emit writes one protocol line with a single write(2), so that a line the
// parent reads is complete and was written after everything before it.
func emit(fields ...string) {
	if _, err := os.Stdout.Write([]byte(strings.Join(fields, "\t") + "\n")); err != nil {
		os.Exit(3)
	}
}

// helperDie reports a helper's failure on stderr and exits: the parent
// shows stderr when a helper ends on its own.
func helperDie(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
	os.Exit(2)
}

// ---- 1. Crash safety --------------------------------------------------------

// TestCrashWriterHelper is the writer process of TestCrashSafety. It does
// nothing unless KEYHOLD_CRASH_WRITER names a vault directory. It writes
// until it is killed, announcing each operation on stdout before starting
// it ("add", "put", "trash", "restore" lines) and confirming it with "ok"
// after it returned: an "ok" operation is committed; the one operation
// announced but not confirmed may or may not be.
func TestCrashWriterHelper(t *testing.T) {
	dir := os.Getenv("KEYHOLD_CRASH_WRITER")
	if dir == "" {
		return
	}
	iter := os.Getenv("KEYHOLD_CRASH_ITER")
	seed, _ := strconv.ParseUint(os.Getenv("KEYHOLD_CRASH_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))

	v, err := Open(dir, testOpts()...)
	if err != nil {
		helperDie("open: %v", err)
	}
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		helperDie("unlock: %v", err)
	}
	es, err := s.List(ctx, All)
	if err != nil {
		helperDie("list: %v", err)
	}
	var titles []string
	for _, e := range es {
		titles = append(titles, e.Item.Title)
	}
	emit("ready")
	// A safety net: the parent kills the writer long before this.
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		r := rng.IntN(10)
		switch {
		case r < 6 || len(titles) == 0:
			title := fmt.Sprintf("c%s-%d", iter, n)
			emit("add", title)
			if _, err := s.Add(ctx, login(title, "user", "pw-"+title)); err != nil {
				helperDie("add %s: %v", title, err)
			}
			titles = append(titles, title)
		case r < 8:
			title := titles[rng.IntN(len(titles))]
			e, err := s.Resolve(ctx, title, All)
			if err != nil {
				helperDie("resolve %s: %v", title, err)
			}
			it := e.Item.Clone()
			it.Notes = fmt.Sprintf("e%s-%d", iter, n)
			emit("put", title, it.Notes)
			if _, err := s.Put(ctx, e.ID, e.Revision, it); err != nil {
				helperDie("put %s: %v", title, err)
			}
		default:
			title := titles[rng.IntN(len(titles))]
			e, err := s.Resolve(ctx, title, All)
			if err != nil {
				helperDie("resolve %s: %v", title, err)
			}
			if e.Item.Trashed == nil {
				emit("trash", title)
				_, err = s.Trash(ctx, title)
			} else {
				emit("restore", title)
				_, err = s.Restore(ctx, title)
			}
			if err != nil {
				helperDie("trash/restore %s: %v", title, err)
			}
		}
		emit("ok")
	}
	helperDie("was not killed within 30s")
}

// crashOp is one operation the writer announced.
type crashOp struct{ kind, title, notes string }

// modelItem is what the parent knows an item must look like.
type modelItem struct {
	notes   string
	trashed bool
	rev     uint64
}

// crashModel is the committed state as the writer's output proves it.
type crashModel struct {
	items map[string]*modelItem
	puts  int // revisions in the history: one per Put, Trash or Restore
}

func (m *crashModel) apply(op crashOp) error {
	if op.kind == "add" {
		if m.items[op.title] != nil {
			return fmt.Errorf("title %q added twice", op.title)
		}
		m.items[op.title] = &modelItem{rev: 1}
		return nil
	}
	it := m.items[op.title]
	if it == nil {
		return fmt.Errorf("%s of unknown item %q", op.kind, op.title)
	}
	switch op.kind {
	case "put":
		it.notes = op.notes
	case "trash":
		it.trashed = true
	case "restore":
		it.trashed = false
	default:
		return fmt.Errorf("unknown operation %q", op.kind)
	}
	it.rev++
	m.puts++
	return nil
}

// committed reports whether the vault shows op done, given the model
// before op.
func (m *crashModel) committed(op crashOp, got map[string]*Entry) bool {
	e := got[op.title]
	if e == nil {
		return false
	}
	if op.kind == "add" {
		return true
	}
	before := m.items[op.title]
	switch op.kind {
	case "put":
		return e.Item.Notes == op.notes
	case "trash", "restore":
		return e.Revision == before.rev+1
	}
	return false
}

// check opens the vault as a fresh process would and compares it with the
// model; pending is the announced, unconfirmed operation (may be nil). On
// success the model includes pending if it turned out committed.
func (m *crashModel) check(dir string, pending *crashOp) error {
	v, err := Open(dir, testOpts()...)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer v.Close()
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	defer s.Close()
	es, err := s.List(ctx, All)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	got := make(map[string]*Entry, len(es))
	for _, e := range es {
		if got[e.Item.Title] != nil {
			return fmt.Errorf("title %q appears twice", e.Item.Title)
		}
		got[e.Item.Title] = e
	}
	if pending != nil && m.committed(*pending, got) {
		if err := m.apply(*pending); err != nil {
			return err
		}
	}
	if len(got) != len(m.items) {
		return fmt.Errorf("vault holds %d items, the writer committed %d", len(got), len(m.items))
	}
	for title, want := range m.items {
		e := got[title]
		switch {
		case e == nil:
			return fmt.Errorf("committed item %q is missing", title)
		case e.Revision != want.rev:
			return fmt.Errorf("item %q is at revision %d, want %d", title, e.Revision, want.rev)
		case e.Item.Notes != want.notes:
			return fmt.Errorf("item %q holds notes %q, want %q", title, e.Item.Notes, want.notes)
		case (e.Item.Trashed != nil) != want.trashed:
			return fmt.Errorf("item %q trashed=%v, want %v", title, e.Item.Trashed != nil, want.trashed)
		}
	}
	r, err := s.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(r.Problems) > 0 || r.Items != len(m.items) || r.Revisions != m.puts {
		return fmt.Errorf("verify: %+v, want %d items, %d history revisions, no problems", r, len(m.items), m.puts)
	}
	return nil
}

// Kill modes of TestCrashSafety.
const (
	killFromStart  = iota // a delay after exec: may hit open and WAL recovery
	killFromReady         // a delay after the writer unlocked
	killAfterLines        // right after the writer confirmed k operations
)

// crashGeneration is how many kills one vault takes before the test starts
// a fresh one: the checks decrypt everything, so a vault that kept growing
// would make the test quadratic.
const crashGeneration = 50

// TestCrashSafety kills a writer process with SIGKILL at random moments,
// hundreds of times, and checks after each kill that the vault opens,
// verifies clean, and holds every operation the writer confirmed (and the
// one it was doing at most). KEYHOLD_CRASH_ITERATIONS overrides the count;
// KEYHOLD_CRASH_SEED replays a run.
//
// In every other generation a second connection stays open throughout, as
// the agent's would: the WAL is then not checkpointed and removed when the
// checker closes, so it grows until the writer checkpoints it, and a kill
// can land in a checkpoint; without it every writer starts from a clean
// file and the checker's open runs WAL recovery.
func TestCrashSafety(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	if s := os.Getenv("KEYHOLD_CRASH_ITERATIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("KEYHOLD_CRASH_ITERATIONS: %v", err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEYHOLD_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("KEYHOLD_CRASH_SEED: %v", err)
		}
	}
	t.Logf("KEYHOLD_CRASH_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	var (
		dir       string
		m         *crashModel
		keeper    *Vault
		modes     [3]int
		confirmed int
		early     int // kills before the writer had unlocked
		midOp     int // kills with an operation announced, not confirmed
		items     int
		history   int
		walMax    int64

		writing, checking time.Duration
	)
	closeKeeper := func() {
		if keeper != nil {
			keeper.Close()
			keeper = nil
		}
	}
	defer closeKeeper()
	start := time.Now()
	for i := range n {
		if i%crashGeneration == 0 {
			if m != nil {
				items += len(m.items)
				history += m.puts
			}
			closeKeeper()
			dir, _ = newVault(t)
			m = &crashModel{items: map[string]*modelItem{}}
			if (i/crashGeneration)%2 == 1 {
				var err error
				if keeper, err = Open(dir, testOpts()...); err != nil {
					t.Fatal(err)
				}
			}
		}
		mode := rng.IntN(3)
		delay := time.Duration(rng.IntN(61)) * time.Millisecond
		lines := 1 + rng.IntN(30)
		modes[mode]++
		desc := fmt.Sprintf("iteration %d (mode %d, delay %v, lines %d, connection kept open %v)", i, mode, delay, lines, keeper != nil)

		t0 := time.Now()
		ops, pending, ready, err := runCrashWriter(dir, i, seed+uint64(i), mode, delay, lines)
		writing += time.Since(t0)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		if !ready {
			early++
		} else if pending != nil {
			midOp++
		}
		for _, op := range ops {
			if err := m.apply(op); err != nil {
				t.Fatalf("%s: writer output: %v", desc, err)
			}
		}
		confirmed += len(ops)
		if st, err := os.Stat(filepath.Join(dir, DBFile+"-wal")); err == nil {
			walMax = max(walMax, st.Size())
		}
		t0 = time.Now()
		if err := m.check(dir, pending); err != nil {
			t.Fatalf("%s: after SIGKILL: %v", desc, err)
		}
		checking += time.Since(t0)
	}
	if m != nil {
		items += len(m.items)
		history += m.puts
	}
	t.Logf("%d kills (modes %v; %d while opening, %d inside an operation) in %v (writers %v, checks %v): "+
		"%d confirmed operations, %d items, %d history revisions, largest WAL %d KiB",
		n, modes, early, midOp, time.Since(start).Round(time.Millisecond), writing.Round(time.Millisecond), checking.Round(time.Millisecond),
		confirmed, items, history, walMax>>10)
}

// runCrashWriter runs one writer until it is killed and returns the
// operations it confirmed and the one it announced last without confirming.
func runCrashWriter(dir string, iter int, seed uint64, mode int, delay time.Duration, lines int) (ops []crashOp, pending *crashOp, ready bool, err error) {
	cmd := helperCmd(context.Background(), "TestCrashWriterHelper",
		"KEYHOLD_CRASH_WRITER="+dir, "KEYHOLD_CRASH_ITER="+strconv.Itoa(iter),
		"KEYHOLD_CRASH_SEED="+strconv.FormatUint(seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, false, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, false, err
	}
	ch := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()

	var other []string
	handle := func(line string) error {
		f := strings.Split(line, "\t")
		switch {
		case f[0] == "ready":
			ready = true
		case f[0] == "ok":
			if pending == nil {
				return errors.New(`writer confirmed an operation it did not announce`)
			}
			ops = append(ops, *pending)
			pending = nil
		case (f[0] == "add" || f[0] == "trash" || f[0] == "restore") && len(f) == 2,
			f[0] == "put" && len(f) == 3:
			if pending != nil {
				return errors.New(`writer announced an operation without confirming the previous one`)
			}
			op := crashOp{kind: f[0], title: f[1]}
			if len(f) == 3 {
				op.notes = f[2]
			}
			pending = &op
		default:
			other = append(other, line)
		}
		return nil
	}

	var timer <-chan time.Time
	if mode == killFromStart {
		timer = time.After(delay)
	}
	safety := time.After(20 * time.Second)
	var protoErr error
wait:
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				break wait // the writer ended on its own
			}
			if err := handle(line); err != nil && protoErr == nil {
				protoErr = err
			}
			if mode == killFromReady && line == "ready" {
				timer = time.After(delay)
			}
			if mode == killAfterLines && len(ops) == lines {
				break wait
			}
		case <-timer:
			break wait
		case <-safety:
			protoErr = errors.New("the writer neither got ready nor wrote within 20s")
			break wait
		}
	}
	killed := cmd.Process.Signal(syscall.SIGKILL) == nil
	for line := range ch {
		if err := handle(line); err != nil && protoErr == nil {
			protoErr = err
		}
	}
	werr := cmd.Wait()
	if protoErr != nil {
		return nil, nil, false, protoErr
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !killed || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return nil, nil, false, fmt.Errorf("the writer ended on its own (%v): stderr: %s; stdout: %q",
			werr, strings.TrimSpace(stderr.String()), other)
	}
	return ops, pending, ready, nil
}

// ---- 2. Concurrent writers ----------------------------------------------------

// TestConcurrentWriterHelper is a writer process of TestConcurrentWriters,
// gated by KEYHOLD_CONC_WRITER (the vault directory). KEYHOLD_CONC_MODE:
//
//	add  — add KEYHOLD_CONC_COUNT items titled p<proc>-<i>, one transaction each;
//	edit-warm, edit-cold — make KEYHOLD_CONC_COUNT successful edits of the
//	       item "shared", each from the revision just read, retrying on
//	       ErrConflict, with one long session or a new session per edit;
//	       prints "ok <notes> <revision>" per edit;
//	list — list until KEYHOLD_CONC_COUNT items are there, checking the count
//	       never goes down; prints "lists <n>";
//	verify — run Verify until it counts KEYHOLD_CONC_COUNT items, each run
//	       clean; prints "verifies <n>".
func TestConcurrentWriterHelper(t *testing.T) {
	dir := os.Getenv("KEYHOLD_CONC_WRITER")
	if dir == "" {
		return
	}
	proc := os.Getenv("KEYHOLD_CONC_PROC")
	count, _ := strconv.Atoi(os.Getenv("KEYHOLD_CONC_COUNT"))
	v, err := Open(dir, testOpts()...)
	if err != nil {
		helperDie("p%s: open: %v", proc, err)
	}
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		helperDie("p%s: unlock: %v", proc, err)
	}
	switch mode := os.Getenv("KEYHOLD_CONC_MODE"); mode {
	case "add":
		for i := range count {
			title := fmt.Sprintf("p%s-%d", proc, i)
			if _, err := s.Add(ctx, login(title, "user", "pw")); err != nil {
				helperDie("p%s: add %s: %v", proc, title, err)
			}
		}
	case "edit-warm", "edit-cold":
		// edit-warm keeps one session with its cache filled, as the agent
		// does; edit-cold unlocks afresh for every edit, as a command run
		// without the agent does.
		if mode == "edit-warm" {
			if _, err := s.List(ctx, All); err != nil {
				helperDie("p%s: list: %v", proc, err)
			}
		}
		conflicts := 0
		for i := 0; i < count; {
			es := s
			if mode == "edit-cold" {
				if es, err = v.Unlock([]byte(stressPassword)); err != nil {
					helperDie("p%s: edit %d: unlock: %v", proc, i, err)
				}
			}
			e, err := es.Resolve(ctx, "shared", All)
			if err != nil {
				helperDie("p%s: edit %d: resolve: %v", proc, i, err)
			}
			it := e.Item.Clone()
			it.Notes = fmt.Sprintf("p%s-%d", proc, i)
			ne, err := es.Put(ctx, e.ID, e.Revision, it)
			if es != s {
				es.Close()
			}
			if errors.Is(err, ErrConflict) {
				conflicts++
				continue
			}
			if err != nil {
				helperDie("p%s: edit %d: put from revision %d: %v", proc, i, e.Revision, err)
			}
			emit("ok", it.Notes, strconv.FormatUint(ne.Revision, 10))
			i++
		}
		emit("conflicts", strconv.Itoa(conflicts))
	case "list":
		last, lists := 0, 0
		for last < count {
			es, err := s.List(ctx, All)
			if err != nil {
				helperDie("p%s: list %d (after seeing %d items): %v", proc, lists, last, err)
			}
			if len(es) < last {
				helperDie("p%s: list %d shows %d items after %d", proc, lists, len(es), last)
			}
			last = len(es)
			lists++
		}
		emit("lists", strconv.Itoa(lists))
	case "verify":
		last, runs := 0, 0
		for last < count {
			r, err := s.Verify(ctx)
			if err != nil {
				helperDie("p%s: verify %d (after seeing %d items): %v", proc, runs, last, err)
			}
			if len(r.Problems) > 0 {
				helperDie("p%s: verify %d (after seeing %d items) reports %q", proc, runs, last, r.Problems)
			}
			last = r.Items
			runs++
		}
		emit("verifies", strconv.Itoa(runs))
	default:
		helperDie("unknown KEYHOLD_CONC_MODE %q", mode)
	}
	s.Close()
	if err := v.Close(); err != nil {
		helperDie("p%s: close: %v", proc, err)
	}
}

// runConcurrent starts one helper per mode at once on dir, waits for all,
// and returns their stdout lines, split into fields.
func runConcurrent(t *testing.T, dir string, count int, modes ...string) [][][]string {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	procs := make([]*proc, len(modes))
	for i, mode := range modes {
		p := &proc{cmd: helperCmd(c, "TestConcurrentWriterHelper",
			"KEYHOLD_CONC_WRITER="+dir, "KEYHOLD_CONC_MODE="+mode,
			"KEYHOLD_CONC_PROC="+strconv.Itoa(i), "KEYHOLD_CONC_COUNT="+strconv.Itoa(count))}
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		procs[i] = p
	}
	for _, p := range procs {
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	failed := false
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("process %d (%s): %v: %s", i, modes[i], err, strings.TrimSpace(p.stderr.String()))
			failed = true
		}
	}
	if failed {
		t.FailNow()
	}
	out := make([][][]string, len(procs))
	for i, p := range procs {
		for line := range strings.Lines(p.stdout.String()) {
			out[i] = append(out[i], strings.Split(strings.TrimSuffix(line, "\n"), "\t"))
		}
	}
	return out
}

func TestConcurrentWriters(t *testing.T) {
	t.Run("add", func(t *testing.T) {
		const each = 500
		dir, _ := newVault(t)
		start := time.Now()
		runConcurrent(t, dir, each, "add", "add")
		t.Logf("2 processes × %d adds: %v", each, time.Since(start).Round(time.Millisecond))
		s := unlock(t, dir, stressPassword)
		es, err := s.List(ctx, All)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range es {
			seen[e.Item.Title]++
		}
		for p := range 2 {
			for i := range each {
				if title := fmt.Sprintf("p%d-%d", p, i); seen[title] != 1 {
					t.Errorf("%s appears %d times", title, seen[title])
				}
			}
		}
		if len(es) != 2*each {
			t.Errorf("vault holds %d items, want %d", len(es), 2*each)
		}
		verifyClean(t, s, 2*each, 0)
	})

	t.Run("edit", func(t *testing.T) {
		const each = 150
		dir, _ := newVault(t)
		s := unlock(t, dir, stressPassword)
		it := login("shared", "user", "pw")
		it.Notes = "initial"
		es, err := s.Add(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		id := es[0].ID
		start := time.Now()
		out := runConcurrent(t, dir, each, "edit-warm", "edit-cold")
		// notes of every revision the writers say they committed
		want := map[uint64]string{1: "initial"}
		conflicts := 0
		for p, lines := range out {
			for _, f := range lines {
				switch {
				case f[0] == "ok" && len(f) == 3:
					rev, err := strconv.ParseUint(f[2], 10, 64)
					if err != nil {
						t.Fatalf("process %d: %q", p, f)
					}
					if prev, dup := want[rev]; dup {
						t.Fatalf("revision %d committed twice: as %q and %q", rev, prev, f[1])
					}
					want[rev] = f[1]
				case f[0] == "conflicts" && len(f) == 2:
					n, _ := strconv.Atoi(f[1])
					conflicts += n
				}
			}
		}
		t.Logf("2 processes × %d edits: %v, %d conflicts retried", each, time.Since(start).Round(time.Millisecond), conflicts)
		if len(want) != 2*each+1 {
			t.Fatalf("writers reported %d revisions, want %d", len(want)-1, 2*each)
		}
		s = unlock(t, dir, stressPassword)
		cur, err := s.Resolve(ctx, "shared", All)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Revision != 2*each+1 {
			t.Fatalf("item is at revision %d after %d successful edits, want %d", cur.Revision, 2*each, 2*each+1)
		}
		if cur.Item.Notes != want[cur.Revision] {
			t.Errorf("current revision holds %q, want %q", cur.Item.Notes, want[cur.Revision])
		}
		h, err := s.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 2*each {
			t.Fatalf("history holds %d revisions, want %d", len(h), 2*each)
		}
		for i, r := range h {
			if r.Revision != uint64(i+1) {
				t.Fatalf("history[%d] is revision %d", i, r.Revision)
			}
			if r.Item.Notes != want[r.Revision] {
				t.Errorf("history revision %d holds %q, want %q (lost update)", r.Revision, r.Item.Notes, want[r.Revision])
			}
		}
		verifyClean(t, s, 1, 2*each)
	})

	// A reader in one process while another adds: every List must succeed
	// and see a count that never goes down.
	t.Run("list while adding", func(t *testing.T) {
		const n = 500
		dir, _ := newVault(t)
		out := runConcurrent(t, dir, n, "add", "list")
		t.Logf("reader: %q", out[1])
		s := unlock(t, dir, stressPassword)
		verifyClean(t, s, n, 0)
	})

	// The same for Verify: a check run while another process writes must
	// not report damage that is not there.
	t.Run("verify while adding", func(t *testing.T) {
		const n = 500
		dir, _ := newVault(t)
		out := runConcurrent(t, dir, n, "add", "verify")
		t.Logf("verifier: %q", out[1])
		s := unlock(t, dir, stressPassword)
		verifyClean(t, s, n, 0)
	})
}

// ---- 3. Torn and truncated files ----------------------------------------------

// copyVault copies the device file and the named database files of src
// into a fresh directory, each database file cut to the length cut returns
// for it (or left whole when cut returns -1).
func copyVault(t *testing.T, src string, files []string, cut func(name string, size int64) int64) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "v")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{DeviceFile}, files...) {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if n := cut(name, int64(len(b))); name != DeviceFile && n >= 0 {
			b = b[:n]
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// fillVault adds items in several transactions and edits some of them, so
// the database spans many pages and has a history.
func fillVault(t *testing.T, s *Session, n int) []string {
	t.Helper()
	var titles []string
	for b := 0; b < n; b += 10 {
		var its []*item.Item
		for i := b; i < min(b+10, n); i++ {
			title := fmt.Sprintf("item-%03d", i)
			it := login(title, "user", strings.Repeat("p", 40))
			it.Notes = strings.Repeat("note ", 60)
			its = append(its, it)
			titles = append(titles, title)
		}
		es, err := s.Add(ctx, its...)
		if err != nil {
			t.Fatal(err)
		}
		it := es[0].Item.Clone()
		it.Notes = "edited"
		if _, err := s.Put(ctx, es[0].ID, es[0].Revision, it); err != nil {
			t.Fatal(err)
		}
	}
	return titles
}

// TestTruncatedDatabase cuts a checkpointed vault.db at several offsets:
// the damage must be reported (ErrDamaged or ErrNoVault from Open or List,
// or a problem from Verify), never answered with fewer items.
func TestTruncatedDatabase(t *testing.T) {
	dir, _ := newVault(t)
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	fillVault(t, s, n)
	s.Close()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile+"-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("closing the vault left a WAL behind (%v); the test needs a checkpointed file", err)
	}
	db, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(db))
	// The page size is the big-endian uint16 at offset 16 of the header;
	// 1 means 65536.
	page := int64(db[16])<<8 | int64(db[17])
	if page == 1 {
		page = 65536
	}
	if size < 8*page {
		t.Fatalf("vault.db is only %d bytes; fill more items", size)
	}
	offsets := []int64{0, 1, 100, 512, page, 2 * page, size / 2, size - page, size - page + 1, size - 1}
	for _, off := range offsets {
		t.Run(strconv.FormatInt(off, 10), func(t *testing.T) {
			cp := copyVault(t, dir, []string{DBFile}, func(string, int64) int64 { return off })
			how, err := damageDetected(cp, n)
			if err != nil {
				t.Fatalf("vault.db cut to %d of %d bytes: %v", off, size, err)
			}
			t.Logf("cut to %d of %d bytes: %s", off, size, how)
		})
	}
}

// damageDetected opens, unlocks, lists and verifies the vault in dir,
// whose complete version held want items. It returns how the damage was
// reported, or an error if it was not or was reported the wrong way.
func damageDetected(dir string, want int) (string, error) {
	v, err := Open(dir, testOpts()...)
	if err != nil {
		if errors.Is(err, ErrDamaged) || errors.Is(err, ErrNoVault) {
			return "open: " + err.Error(), nil
		}
		return "", fmt.Errorf("open failed without ErrDamaged: %v", err)
	}
	defer v.Close()
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		// Open already parsed the envelope and key check, so these are intact.
		return "", fmt.Errorf("open succeeded but unlock failed: %v", err)
	}
	defer s.Close()
	es, err := s.List(ctx, All)
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return "list: " + err.Error(), nil
		}
		return "", fmt.Errorf("list failed without ErrDamaged: %v", err)
	}
	if len(es) != want {
		return "", fmt.Errorf("list succeeded with %d items, want %d or an error", len(es), want)
	}
	r, err := s.Verify(ctx)
	if err != nil {
		return "", fmt.Errorf("verify: %v", err)
	}
	if len(r.Problems) == 0 {
		return "", fmt.Errorf("damage went unnoticed: list shows all %d items and verify is clean: %+v", want, r)
	}
	return "verify: " + r.Problems[0], nil
}

// TestTornWAL cuts the write-ahead log of a vault whose last commits are
// still in it, as a crash in the middle of a commit would. SQLite drops
// the frames after the cut, so the vault must open to an earlier commit:
// each add is one transaction, so the items must be exactly the first k
// added, and Verify must be clean. A mix of rows from different commits is
// the failure this guards against.
func TestTornWAL(t *testing.T) {
	dir, _ := newVault(t)
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	s, err := v.Unlock([]byte(stressPassword))
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var titles []string
	for i := range n {
		title := fmt.Sprintf("w%02d", i)
		if _, err := s.Add(ctx, login(title, "user", "pw")); err != nil {
			t.Fatal(err)
		}
		titles = append(titles, title)
	}
	wal := DBFile + "-wal"
	st, err := os.Stat(filepath.Join(dir, wal))
	if err != nil {
		t.Fatalf("no WAL while the vault is open: %v", err)
	}
	size := st.Size()
	const frame = 24 + 4096 // frame header + page
	for _, off := range []int64{0, 31, 32, 32 + frame, size / 3, size / 2, size - frame, size - 1, size} {
		t.Run(strconv.FormatInt(off, 10), func(t *testing.T) {
			cp := copyVault(t, dir, []string{DBFile, wal}, func(name string, _ int64) int64 {
				if name == wal {
					return off
				}
				return -1
			})
			s2 := unlock(t, cp, stressPassword)
			es, err := s2.List(ctx, All)
			if err != nil {
				t.Fatalf("WAL cut to %d of %d bytes: list: %v", off, size, err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Item.Title)
			}
			slices.Sort(got)
			if !slices.Equal(got, titles[:len(got)]) {
				t.Fatalf("WAL cut to %d of %d bytes: items %q are not the first %d added", off, size, got, len(got))
			}
			if off == size && len(got) != n {
				t.Fatalf("whole WAL: %d items, want %d", len(got), n)
			}
			verifyClean(t, s2, len(got), 0)
			t.Logf("WAL cut to %d of %d bytes: %d of %d items", off, size, len(got), n)
		})
	}
}
