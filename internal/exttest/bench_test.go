//go:build unix

package exttest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFillLatencyBench measures, on a vault of KEYHOLD_BROWSER_BENCH_ITEMS
// logins (10,000 by default), the time from the fill shortcut to a filled
// form with the agent unlocked, over KEYHOLD_BROWSER_BENCH_PRESSES presses
// (50), and the native host's resident memory while idle. It runs only
// when KEYHOLD_BROWSER_BENCH is set (bench/browser/run.sh sets it): it
// prints figures and asserts nothing about time.
//
// Each press: the page is reloaded (empty fields), then the clock starts
// just before xdotool presses Alt+Shift+L on the display, and stops when
// the test server receives the page's report of the first input event
// whose field holds the password. The page sends that report at once
// (one fetch to the same loopback server), so the figure includes the
// key press's trip through X, the browser's command dispatch, the
// extension, the native host round trip (host, agent, match over every
// item), the injected fill, and the report itself: it can only
// overstate the time a user waits. The page's own clock (the event's
// time) is printed too.
func TestFillLatencyBench(t *testing.T) {
	if os.Getenv("KEYHOLD_BROWSER_BENCH") == "" {
		t.Skip("set KEYHOLD_BROWSER_BENCH=1 (bench/browser/run.sh does) to measure")
	}
	items := envInt(t, "KEYHOLD_BROWSER_BENCH_ITEMS", 10000)
	presses := envInt(t, "KEYHOLD_BROWSER_BENCH_PRESSES", 50)
	const warmup = 3
	var l login
	prepare := func(k *Keyhold) error {
		start := time.Now()
		csvPath := filepath.Join(k.Dir, "items.csv")
		if err := writeItems(csvPath, items); err != nil {
			return err
		}
		if _, err := k.Run(nil, "import", "--format", "csv", csvPath); err != nil {
			return err
		}
		os.Remove(csvPath)
		took := time.Since(start)
		list, err := k.Run(nil, "list")
		if err != nil {
			return err
		}
		if n := strings.Count(list, "\n"); n < items {
			return fmt.Errorf("keyhold list shows %d lines after importing %d logins", n, items)
		}
		t.Logf("imported %d logins in %s", items, took.Round(time.Millisecond))
		return nil
	}
	e, skip, err := setupEnv(prepare)
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.Server
	l = e.addLogin(t, "Bench", s.Origin("bench.test"))
	origin := s.Origin("bench.test")
	page := s.URL("bench.test", "/login.html")
	var server, pageClock, inBrowser, xdotool []time.Duration
	for i := 0; i < presses+warmup; i++ {
		p := e.open(t, page)
		// The user's caret is in the form (and the page has the focus,
		// so it sees the shortcut's modifier keys go down).
		p.Find("Email", "textbox").Click()
		mark := s.Mark()
		t0 := time.Now()
		if err := e.Browser.Key("alt+shift+l"); err != nil {
			t.Fatal(err)
		}
		keyDone := time.Since(t0)
		r, ok := s.WaitFor(mark, 15*time.Second, func(r Report) bool {
			return r.Kind == "input" && r.Origin == origin && r.Field == "pass" && r.Value == l.Password
		})
		if !ok {
			t.Fatalf("press %d: the form was not filled; the page saw:\n%s", i, summary(s.Since(mark), l.Password))
		}
		if i < warmup {
			continue // the first presses start the host and warm the caches
		}
		server = append(server, r.Received.Sub(t0))
		pageClock = append(pageClock, msDuration(r.T-float64(t0.UnixNano())/1e6))
		xdotool = append(xdotool, keyDone)
		// The page sees the shortcut's modifiers go down (the browser
		// keeps the L for the command): from the last of them to the
		// input event, on the page's clock, is the browser's, the
		// extension's and the host's share alone.
		// (Their reports go out in batches: wait for the batch.)
		s.WaitFor(mark, 2*time.Second, func(k Report) bool { return k.Kind == "keydown" && k.Value == "Shift" })
		var lastMod float64
		for _, k := range s.Since(mark) {
			if k.Kind == "keydown" && (k.Value == "Shift" || k.Value == "Alt") && k.T <= r.T {
				lastMod = max(lastMod, k.T)
			}
		}
		if lastMod > 0 {
			inBrowser = append(inBrowser, msDuration(r.T-lastMod))
		}
	}
	fmt.Printf("fill shortcut to filled form, %d logins, %d presses (after %d warm-up):\n", items, presses, warmup)
	fmt.Printf("  received by the test server: %s\n", stats(server))
	fmt.Printf("  input event (page clock):    %s\n", stats(pageClock))
	fmt.Printf("  of which, from the key reaching the page to the input event (page clock): %s\n", stats(inBrowser))
	fmt.Printf("  the xdotool command itself (start to exit): %s\n", stats(xdotool))

	// Idle: no request for a while.
	time.Sleep(3 * time.Second)
	pids := e.Browser.NativeHosts()
	if len(pids) == 0 {
		fmt.Println("native host: no process is running while idle (the extension starts one per request)")
		return
	}
	for _, pid := range pids {
		fmt.Printf("native host pid %d: idle %s\n", pid, vmRSS(pid))
	}
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// stats is "p50 … p95 … max …" of ds.
func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(s)-1) + 0.5)
		return s[i]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("p50 %s  p95 %s  max %s  (n=%d)", ms(pct(0.5)), ms(pct(0.95)), ms(s[len(s)-1]), len(s))
}

// vmRSS is the VmRSS line of /proc/PID/status ("12345 kB (12.1 MiB)").
func vmRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unreadable: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("VmRSS %d kB (%.1f MiB)", kb, float64(kb)/1024)
		}
	}
	return "no VmRSS"
}

// writeItems writes n logins for other sites as a CSV file for keyhold
// import, as bench/web does.
func writeItems(path string, n int) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"title", "username", "password", "url", "notes"})
	for i := range n {
		w.Write([]string{fmt.Sprintf("Site %05d", i), fmt.Sprintf("user%05d@example.org", i), fmt.Sprintf("pw-%05d-%x", i, i*7919), fmt.Sprintf("https://site%05d.example", i), ""})
	}
	w.Flush()
	return os.WriteFile(path, buf.Bytes(), 0o600)
}
