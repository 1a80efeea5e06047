//go:build unix

// Package web measures the web vault in Chromium against a real
// keyhold-server and the keyhold CLI (internal/webtest's harness), in one
// run, and prints a report (docs/BENCHMARKS.md, "Web vault"):
//
//   - cold load: a fresh browser context opens the page, until the sign-in
//     form's "Setup code" field is there, and until keyhold.wasm started;
//   - unlock: an account at t=3, 256 MiB, p=4 with 10,000 items, from
//     pressing "Sign in" (on a page that read the kit) to a usable list,
//     against the native key derivation of the same parameters measured
//     in the same run (ratio);
//   - search: each keystroke typed into "Search" until the list changed;
//   - opening an item: a click on a list entry until its "Edit" button is
//     there;
//   - an edit saved in the browser until a CLI device running
//     keyhold sync --watch has received it;
//   - the tab's memory: peak and current RSS of its renderer process and
//     the JS heap after the unlock.
//
// It is a test binary driven by bench/web/run.sh and runs only when
// KEYHOLD_WEB_BENCH=1: performance is never asserted by the test suite.
package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/keyhold/keyhold/internal/browsertest"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/webtest"
)

// Report is what one run measured (milliseconds unless named otherwise).
type Report struct {
	Items      int       `json:"items"`
	KDF        string    `json:"kdf"`
	ColdLoadMS []float64 `json:"cold_load_ms"`
	// EngineReadyMS is from the navigation until keyhold.wasm started
	// (the page can read a kit): the part of a cold load the unlock,
	// measured from a page that read the kit, does not include.
	EngineReadyMS []float64 `json:"engine_ready_ms"`
	UnlockMS      float64   `json:"unlock_ms"`
	NativeKDFMS   float64   `json:"native_kdf_ms"`
	UnlockRatio   float64   `json:"unlock_ratio"`
	KeystrokeMS   []float64 `json:"keystroke_ms"`
	OpenItemMS    []float64 `json:"open_item_ms"`
	EditToWatchMS []float64 `json:"edit_to_watch_ms"`
	PeakRSSMiB    float64   `json:"peak_renderer_rss_mib"`
	RSSMiB        float64   `json:"renderer_rss_mib"`
	// ReadyRSSMiB is the RSS of the tab's renderer before "Sign in";
	// UnlockPeakRSSMiB the largest seen every 20 ms during the unlock
	// and UnlockPeakAtMS when (after "Sign in"), to tell which step holds
	// the peak.
	ReadyRSSMiB float64 `json:"ready_rss_mib"`
	// BlankRSSMiB is the renderer's RSS before the page is opened (the
	// browser's blank tab), ReadyWasmMiB the size of each WebAssembly
	// memory of the page before "Sign in" (the Go heap's).
	BlankRSSMiB      float64   `json:"blank_rss_mib"`
	ReadyWasmMiB     []float64 `json:"ready_wasm_memory_mib"`
	UnlockPeakRSSMiB float64   `json:"unlock_peak_rss_mib"`
	UnlockPeakAtMS   float64   `json:"unlock_peak_at_ms"`
	JSHeapUsedMiB    float64   `json:"js_heap_used_mib"`
	JSHeapTotalMiB   float64   `json:"js_heap_total_mib"`
	// Steps is where the unlock's time went: each step's performance
	// mark (app.js and the Go core set them), in ms after "submit".
	Steps []Step `json:"unlock_steps"`
}

// Step is one performance mark of signing in.
type Step struct {
	Name string  `json:"name"`
	AtMS float64 `json:"at_ms"`
}

// stepNames are the marks of signing in, in the order they are reached,
// with what happened just before each.
var stepNames = [][2]string{
	{"submit", "the form submitted"},
	{"kit", "the kit checked as read (the page read it before Sign in)"},
	{"signin", "the page asked the Go core to sign in"},
	{"derive", "the login parameters fetched, the page asked for the key derivation"},
	{"derived", "Argon2id in a fresh Worker (its start included)"},
	{"logged-in", "the rest of the key schedule and the OPAQUE login"},
	{"opened-keys", "the envelope and key check fetched, the account key opened and checked"},
	{"downloaded", "every sealed item downloaded (JSON pages) and each box opened by the download check"},
	{"joined", "the replica joined from the download (replica.Join)"},
	{"synced", "one sync round against the signed manifest"},
	{"opened", "every item opened for the list"},
	{"indexed", "the search index built"},
	{"stored", "the vault kept for Lock (snapshot) or stored (remembered)"},
	{"signed-in", "the account read, the sync loop started, the answer back in JS"},
	{"shown", "the list asked for and drawn"},
}

var words = strings.Fields(`aardvark badger capybara dingo emu ferret gecko heron ibis jackal koala lemur
marmot narwhal ocelot pangolin quokka raccoon serval tapir urchin vole walrus xerus yak zebra
amber basalt cedar delta ember fjord granite harbor island jungle kelp lagoon meadow nectar orchard
prairie quartz river savanna tundra upland valley willow xylem yarrow zenith`)

func TestWebBench(t *testing.T) {
	if os.Getenv("KEYHOLD_WEB_BENCH") != "1" {
		t.Skip("set KEYHOLD_WEB_BENCH=1 (bench/web/run.sh does)")
	}
	n := 10000
	if s := os.Getenv("KEYHOLD_WEB_BENCH_ITEMS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	rounds := 5
	goCmd := testenv.NeedProgram(t, "go", "golang-go")
	chromium := testenv.NeedProgram(t, "chromium", "chromium")
	e, err := webtest.Setup(goCmd, chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := Report{Items: n, KDF: "t=3 m=256MiB p=4"}

	// Cold load: each time a new browser context (empty cache).
	for range rounds {
		p := e.Browser.NewPage(t, browsertest.Desktop)
		start := time.Now()
		p.Navigate(e.Server.URL + "/")
		p.FindAny("Setup code", "textbox")
		r.ColdLoadMS = append(r.ColdLoadMS, ms(time.Since(start)))
		// The engine (keyhold.wasm) loads and starts after the form
		// shows; its mark's time is counted from the navigation.
		ready := `(performance.getEntriesByName("keyhold:ready")[0] || {startTime: 0}).startTime`
		waitFor(t, func() bool { return browsertest.Eval[float64](p, ready) > 0 }, time.Minute)
		r.EngineReadyMS = append(r.EngineReadyMS, browsertest.Eval[float64](p, ready))
		p.Close()
	}
	t.Logf("cold load to the sign-in form: median %.1f ms %v", median(r.ColdLoadMS), r.ColdLoadMS)
	t.Logf("cold load to the engine started: median %.1f ms %v", median(r.EngineReadyMS), r.EngineReadyMS)

	// The account: 10,000 items imported by the CLI and synced.
	t.Logf("making an account with %d items", n)
	d := e.NewAccountOn(t, e.Server, "bench", "--kdf-memory", "256", "--kdf-time", "3", "--kdf-threads", "4")
	d.Run(t, "import", "--format", "csv", writeItems(t, d.Dir, n))
	d.Run(t, "sync")
	watcher := d.SetupDevice(t, "watcher")

	// Native derivation of the same parameters, median of three.
	var native []float64
	sk, _ := keys.NewSecretKey()
	for range 3 {
		start := time.Now()
		dk, err := keys.Derive([]byte("bench password"), sk, keys.AccountID{}, make([]byte, 16), keys.KDFParams{Time: 3, MemoryKiB: 256 << 10, Threads: 4})
		if err != nil {
			t.Fatal(err)
		}
		native = append(native, ms(time.Since(start)))
		dk.Wipe()
	}
	r.NativeKDFMS = median(native)
	t.Logf("native key derivation t=3 m=256MiB p=4: median %.1f ms %v", r.NativeKDFMS, native)

	// Unlock to a usable list, in a browser of its own so that its
	// renderer's memory is the tab's.
	b, err := e.LaunchBrowser(browsertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r.BlankRSSMiB, _ = rendererMemory(b)
	v := webtest.OpenIn(t, b, e.Server.URL, browsertest.Desktop)
	v.Timeout = 5 * time.Minute
	if os.Getenv("KEYHOLD_WEB_BENCH_NOBUF") == "1" {
		// DevTools' Network domain (which chromedp enables) keeps response
		// bodies in the renderer, keyhold.wasm's as an 18 MiB base64
		// string; a person's tab has none. Keep none and load the page
		// again, so that the tab's memory is the page's.
		zero := int64(0)
		if err := chromedp.Do(v.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{MaxTotalBufferSize: &zero, MaxResourceBufferSize: &zero})
			return err
		})); err != nil {
			t.Fatal(err)
		}
		v.Navigate(e.Server.URL + "/")
	}
	// As a person signs in: the code typed, then the password, while
	// the page reads the kit (when the code field loses the focus) and
	// shows its server. The clock starts at "Sign in"; loading and
	// starting the engine is the cold load's (EngineReadyMS).
	v.SetupCodeField().Fill(d.Kit)
	v.PasswordField().Fill(webtest.Password)
	v.WaitKitRead()
	signIn := v.Button("Sign in")
	stopProfile := startProfile(t, v)
	r.ReadyRSSMiB, _ = rendererMemory(b)
	r.ReadyWasmMiB = wasmMemories(t, v)
	stopSampling := sampleMemory(b)
	start := time.Now()
	signIn.Click()
	v.WaitUnlocked()
	list := v.Find("list", "Items")
	for string(list.Call(`function() { return this.querySelectorAll("button, a").length > 0; }`)) != "true" {
		if time.Since(start) > 5*time.Minute {
			t.Fatal("the list stayed empty")
		}
	}
	r.UnlockMS = ms(time.Since(start))
	t.Logf("unlock to a usable list: %.1f ms (%.2fx the native derivation)", r.UnlockMS, r.UnlockMS/r.NativeKDFMS)
	r.UnlockRatio = r.UnlockMS / r.NativeKDFMS
	r.UnlockPeakRSSMiB, r.UnlockPeakAtMS = stopSampling(start)
	stopProfile()
	marks := browsertest.Eval[map[string]float64](v.Page, `(() => {
		const m = {};
		for (const e of performance.getEntriesByType("mark")) if (e.name.startsWith("keyhold:")) m[e.name.slice(8)] = e.startTime;
		return m;
	})()`)
	for _, sn := range stepNames {
		if at, ok := marks[sn[0]]; ok {
			r.Steps = append(r.Steps, Step{Name: sn[0], AtMS: at - marks["submit"]})
		}
	}
	rss, peak := rendererMemory(b)
	r.RSSMiB, r.PeakRSSMiB = rss, peak
	m := v.Metrics()
	r.JSHeapUsedMiB, r.JSHeapTotalMiB = m["JSHeapUsedSize"]/(1<<20), m["JSHeapTotalSize"]/(1<<20)

	// Search: one keystroke at a time, until the list was redrawn.
	search := v.SearchField()
	list.Call(`function() {
		globalThis.__benchMutations = 0;
		new MutationObserver(() => { globalThis.__benchMutations++; }).observe(this, {childList: true, subtree: true, characterData: true});
	}`)
	search.Focus()
	for _, c := range "zebra ha" {
		before := mutations(v)
		start := time.Now()
		v.Press(string(c))
		for mutations(v) == before {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("the list did not change within 10 s of typing %q", c)
			}
		}
		r.KeystrokeMS = append(r.KeystrokeMS, ms(time.Since(start)))
	}
	search.Fill("")

	// Opening an item.
	for i := range rounds {
		title := titleOf(i + 1)
		search.Fill(title)
		item := v.Item(title)
		start := time.Now()
		item.Click()
		v.Button("Edit")
		r.OpenItemMS = append(r.OpenItemMS, ms(time.Since(start)))
	}

	// An edit in the browser reaching keyhold sync --watch.
	out := watcher.Start(t, "sync", "--watch")
	waitFor(t, func() bool { return strings.Contains(out(), "watching") }, time.Minute)
	received := regexp.MustCompile(`synced: [1-9][0-9]* received`)
	for i := range rounds {
		title := titleOf(i + 1)
		search.Fill(title)
		v.Item(title).Click()
		v.Button("Edit").Click()
		v.Field("Username").Fill(fmt.Sprintf("edited-%d@example.org", i))
		before := len(received.FindAllString(out(), -1))
		save := v.Button("Save")
		start := time.Now()
		save.Click()
		waitFor(t, func() bool { return len(received.FindAllString(out(), -1)) > before }, 30*time.Second)
		r.EditToWatchMS = append(r.EditToWatchMS, ms(time.Since(start)))
	}
	v.Press(kb.Escape)

	j, _ := json.MarshalIndent(r, "", "  ")
	if path := os.Getenv("KEYHOLD_WEB_BENCH_JSON"); path != "" {
		os.WriteFile(path, append(j, '\n'), 0o644)
	}
	fmt.Printf("web vault, %d items, %s\n", r.Items, r.KDF)
	fmt.Printf("  cold load to the sign-in form   median %7.1f ms  %v\n", median(r.ColdLoadMS), r.ColdLoadMS)
	fmt.Printf("  cold load to the engine started median %7.1f ms  %v\n", median(r.EngineReadyMS), r.EngineReadyMS)
	fmt.Printf("  unlock to a usable list         %7.1f ms (native key derivation %.1f ms: %.2fx)\n", r.UnlockMS, r.NativeKDFMS, r.UnlockRatio)
	last := 0.0
	for _, st := range r.Steps {
		desc := ""
		for _, sn := range stepNames {
			if sn[0] == st.Name {
				desc = sn[1]
			}
		}
		fmt.Printf("    %-10s at %7.1f ms (+%7.1f ms: %s)\n", st.Name, st.AtMS, st.AtMS-last, desc)
		last = st.AtMS
	}
	fmt.Printf("  search, per keystroke           median %7.1f ms  max %.1f ms\n", median(r.KeystrokeMS), slices.Max(r.KeystrokeMS))
	fmt.Printf("  opening an item                 median %7.1f ms  max %.1f ms\n", median(r.OpenItemMS), slices.Max(r.OpenItemMS))
	fmt.Printf("  browser edit to sync --watch    median %7.1f ms  max %.1f ms\n", median(r.EditToWatchMS), slices.Max(r.EditToWatchMS))
	fmt.Printf("  tab memory before unlock        RSS %.0f MiB blank, %.0f MiB before Sign in (WebAssembly memories %.1f MiB)\n", r.BlankRSSMiB, r.ReadyRSSMiB, r.ReadyWasmMiB)
	fmt.Printf("  tab memory during unlock        largest RSS seen %.0f MiB at %.0f ms\n", r.UnlockPeakRSSMiB, r.UnlockPeakAtMS)
	fmt.Printf("  tab memory after unlock         peak RSS %.0f MiB, RSS %.0f MiB, JS heap %.0f/%.0f MiB\n", r.PeakRSSMiB, r.RSSMiB, r.JSHeapUsedMiB, r.JSHeapTotalMiB)
}

// startProfile starts the page's CPU profiler when
// KEYHOLD_WEB_BENCH_PROFILE names a file; the function it returns stops
// it and writes the profile there (a .cpuprofile DevTools opens: the
// page's main thread, WebAssembly functions by their Go names).
func startProfile(t *testing.T, v *webtest.Vault) func() {
	path := os.Getenv("KEYHOLD_WEB_BENCH_PROFILE")
	if path == "" {
		return func() {}
	}
	_, err := chromedp.Call(v.Ctx, profiler.Enable, cdp.Empty{})
	if err == nil {
		_, err = chromedp.Call(v.Ctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 500})
	}
	if err == nil {
		_, err = chromedp.Call(v.Ctx, profiler.Start, cdp.Empty{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		r, err := chromedp.Call(v.Ctx, profiler.Stop, cdp.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r.Profile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("CPU profile of the unlock written to %s", path)
	}
}

func titleOf(i int) string {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	w1, w2 := words[rng.IntN(len(words))], words[rng.IntN(len(words))]
	return fmt.Sprintf("%s %s %05d", strings.ToUpper(w1[:1])+w1[1:], w2, i)
}

// writeItems writes n logins as a CSV file for keyhold import.
func writeItems(t *testing.T, dir string, n int) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"title", "username", "password", "url", "notes"})
	for i := range n {
		w.Write([]string{titleOf(i), fmt.Sprintf("user%05d@example.org", i), fmt.Sprintf("pw-%05d-%x", i, i*7919), fmt.Sprintf("https://site%05d.example", i), words[i%len(words)]})
	}
	w.Flush()
	path := filepath.Join(dir, "items.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mutations(v *webtest.Vault) int {
	return browsertest.Eval[int](v.Page, "globalThis.__benchMutations || 0")
}

// rendererMemory is the current and peak resident size (MiB) of the
// largest renderer process of b (the tab's: b has one tab).
func rendererMemory(b *browsertest.Browser) (rss, peak float64) {
	for _, pid := range browsertest.ProcessesUsing(b.ProfileDir()) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !bytes.Contains(cmdline, []byte("--type=renderer")) || bytes.Contains(cmdline, []byte("--top-chrome-webui")) {
			continue
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kib, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				rss = max(rss, kib/1024)
			case "VmHWM:":
				peak = max(peak, kib/1024)
			}
		}
	}
	return rss, peak
}

// wasmMemories is the size (MiB) of each WebAssembly.Memory the page
// holds, found through DevTools (Runtime.queryObjects).
func wasmMemories(t *testing.T, v *webtest.Vault) []float64 {
	proto, err := chromedp.Call(v.Ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: "WebAssembly.Memory.prototype"})
	if err != nil || proto.Result == nil {
		t.Fatalf("WebAssembly.Memory.prototype: %v", err)
	}
	q, err := chromedp.Call(v.Ctx, runtime.QueryObjects, runtime.QueryObjectsParams{PrototypeObjectID: proto.Result.ObjectID})
	if err != nil || q.Objects == nil {
		t.Fatalf("Runtime.queryObjects: %v", err)
	}
	byValue := true
	res, err := chromedp.Call(v.Ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{ObjectID: q.Objects.ObjectID, ReturnByValue: &byValue,
		FunctionDeclaration: "function() { return this.map((m) => m.buffer.byteLength / 1048576); }"})
	if err != nil || res.Result == nil {
		t.Fatalf("reading the memories' sizes: %v", err)
	}
	var out []float64
	if err := json.Unmarshal(res.Result.Value, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleMemory samples the RSS of b's largest renderer process (the
// tab's, which also runs its dedicated Workers) every 20 ms until the
// function it returns is called, which returns the largest seen and when
// (ms after start).
func sampleMemory(b *browsertest.Browser) func(start time.Time) (peak, atMS float64) {
	type sample struct {
		rss float64
		at  time.Time
	}
	stop := make(chan struct{})
	done := make(chan sample)
	go func() {
		var best sample
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, _ := rendererMemory(b); rss > best.rss {
				best = sample{rss, time.Now()}
			}
			select {
			case <-stop:
				done <- best
				return
			case <-tick.C:
			}
		}
	}()
	return func(start time.Time) (float64, float64) {
		close(stop)
		best := <-done
		return best.rss, ms(best.at.Sub(start))
	}
}

func waitFor(t *testing.T, cond func() bool, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s", d)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
