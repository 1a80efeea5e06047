//go:build linux

// Package webmem breaks the web vault tab's memory down, for
// docs/BENCHMARKS.md "Web vault": it opens the page in a fresh Chromium,
// waits until the engine is started (the keyhold:ready mark) and logs,
// for the blank tab and the ready page, each renderer's RSS by mapping
// (/proc/PID/smaps), the largest mappings, and for anonymous ones whether
// they hold a copy of a WebAssembly module (its "\0asm" header).
//
//	KEYHOLD_WEB_MEM=1 go test -v -count=1 -run TestTabMemory ./bench/webmem
//
// KEYHOLD_WEB_MEM_NOBUF=1: DevTools keeps no response bodies (the
// harness's Network domain otherwise holds a base64 copy of keyhold.wasm
// in the tab). KEYHOLD_WEB_MEM_GC=1: also after a garbage collection
// (HeapProfiler.collectGarbage). KEYHOLD_WEB_MEM_JSFLAGS="a;b": also with
// each of these V8 flags. KEYHOLD_WEB_MEM_EVAL: an expression evaluated in
// the page, then measured again.
package webmem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/keyhold/keyhold/internal/browsertest"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/webtest"
)

func renderers(b *browsertest.Browser) []int {
	var out []int
	for _, pid := range browsertest.ProcessesUsing(b.ProfileDir()) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !bytes.Contains(cmdline, []byte("--type=renderer")) || bytes.Contains(cmdline, []byte("--top-chrome-webui")) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

type mapping struct {
	head      string
	size, rss int
}

func smaps(pid int) []mapping {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mapping
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := s.Text()
		fs := strings.Fields(l)
		if len(fs) == 0 {
			continue
		}
		if strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			out = append(out, mapping{head: l})
			continue
		}
		if len(out) == 0 || len(fs) < 2 {
			continue
		}
		n, _ := strconv.Atoi(fs[1])
		switch fs[0] {
		case "Size:":
			out[len(out)-1].size = n
		case "Rss:":
			out[len(out)-1].rss = n
		}
	}
	return out
}

func report(t *testing.T, label string, b *browsertest.Browser) {
	for _, pid := range renderers(b) {
		ms := smaps(pid)
		groups := map[string]int{}
		total := 0
		for _, m := range ms {
			fs := strings.Fields(m.head)
			name := "[anon " + fs[1] + "]"
			if len(fs) >= 6 {
				name = fs[5]
				if strings.HasPrefix(name, "/memfd:") || strings.HasPrefix(name, "/dev/shm") {
					name = fs[5] + " " + fs[1]
				}
			}
			groups[name] += m.rss
			total += m.rss
		}
		t.Logf("%s: renderer %d RSS %.1f MiB", label, pid, float64(total)/1024)
		var names []string
		for k := range groups {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return groups[names[i]] > groups[names[j]] })
		for _, k := range names[:min(8, len(names))] {
			t.Logf("   %-60s %8.1f MiB", k, float64(groups[k])/1024)
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].rss > ms[j].rss })
		mem, _ := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
		for _, m := range ms[:min(14, len(ms))] {
			peek := ""
			if fs := strings.Fields(m.head); len(fs) < 6 && mem != nil {
				var lo uint64
				fmt.Sscanf(strings.Split(fs[0], "-")[0], "%x", &lo)
				buf := make([]byte, 1<<20)
				n, _ := mem.ReadAt(buf, int64(lo))
				buf = buf[:n]
				if i := bytes.Index(buf, []byte("\x00asm\x01\x00\x00\x00")); i >= 0 {
					peek = fmt.Sprintf("wasm header at +%d", i)
				}
				nz := 0
				for _, c := range buf {
					if c != 0 {
						nz++
					}
				}
				peek += fmt.Sprintf(" nonzero %d/%d first %q", nz, len(buf), buf[:min(24, len(buf))])
			}
			t.Logf("     rss %7.1f MiB size %9.1f MiB  %s %s", float64(m.rss)/1024, float64(m.size)/1024, m.head, peek)
		}
		if mem != nil {
			mem.Close()
		}
	}
}

func TestTabMemory(t *testing.T) {
	if os.Getenv("KEYHOLD_WEB_MEM") != "1" {
		t.Skip("KEYHOLD_WEB_MEM=1")
	}
	goCmd := testenv.NeedProgram(t, "go", "golang-go")
	chromium := testenv.NeedProgram(t, "chromium", "chromium")
	e, err := webtest.Setup(goCmd, chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	configs := []map[string]any{nil}
	if f := os.Getenv("KEYHOLD_WEB_MEM_JSFLAGS"); f != "" {
		for _, x := range strings.Split(f, ";") {
			configs = append(configs, map[string]any{"js-flags": x})
		}
	}
	for _, flags := range configs {
		b, err := e.LaunchBrowser(browsertest.Options{ExtraFlags: flags})
		if err != nil {
			t.Fatal(err)
		}
		label := fmt.Sprint(flags)
		time.Sleep(time.Second)
		report(t, label+" blank", b)
		var v *webtest.Vault
		if os.Getenv("KEYHOLD_WEB_MEM_NOBUF") == "1" {
			p := b.NewPage(t, browsertest.Desktop)
			zero := int64(0)
			if err := chromedp.Do(p.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{MaxTotalBufferSize: &zero, MaxResourceBufferSize: &zero})
				return err
			})); err != nil {
				t.Fatal(err)
			}
			p.Navigate(e.Server.URL + "/")
			v = &webtest.Vault{Page: p}
		} else {
			v = webtest.OpenIn(t, b, e.Server.URL, browsertest.Desktop)
		}
		ready := `(performance.getEntriesByName("keyhold:ready")[0] || {startTime: 0}).startTime`
		for browsertest.Eval[float64](v.Page, ready) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		m := v.Metrics()
		t.Logf("%s JS heap used %.1f total %.1f MiB", label, m["JSHeapUsedSize"]/(1<<20), m["JSHeapTotalSize"]/(1<<20))
		report(t, label+" ready", b)
		if os.Getenv("KEYHOLD_WEB_MEM_GC") == "1" {
			if err := chromedp.Do(v.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, heapprofiler.CollectGarbage, cdp.Empty{})
				return err
			})); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			report(t, label+" after GC", b)
		}
		if ex := os.Getenv("KEYHOLD_WEB_MEM_EVAL"); ex != "" {
			t.Logf("eval: %v", browsertest.Eval[any](v.Page, ex))
			time.Sleep(3 * time.Second)
			report(t, label+" after eval", b)
		}
		b.Close()
	}
}
