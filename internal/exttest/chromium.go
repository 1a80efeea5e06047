//go:build unix

package exttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// ExtensionID is the extension's id, fixed by the public key in its
// manifest.json: the installed host manifest allows this id only.
const ExtensionID = "dcefochpojkbelobkomknnhojhpichcd"

// BrowserOptions say how to start Chromium.
type BrowserOptions struct {
	Chromium  string   // the program (Debian's chromium)
	Xdotool   string   // the program that presses keys on the display
	Display   string   // ":N" of a running Xvfb
	Profile   string   // --user-data-dir, where keyhold browser install put the host manifest
	Extension string   // the unpacked extension directory
	Env       []string // the user's environment (Keyhold.Env): the native host inherits it
	TrustSPKI []string // browsertest.SPKIHash of the test certificate
	// ExtraFlags are more Chromium switches (name without "--" → value;
	// true for a switch without value).
	ExtraFlags map[string]any
}

// Browser is one running Chromium with a window on the Xvfb display and
// the unpacked extension loaded, in the default profile of its user data
// directory (extensions do not run in the separate browser contexts the
// DevTools protocol can make: those are incognito profiles).
type Browser struct {
	opts        BrowserOptions
	allocCtx    context.Context
	allocCancel context.CancelFunc
	ctx         context.Context // the window's first tab
	cancel      context.CancelFunc
	output      *browsertest.LogBuffer
	closeOnce   sync.Once
	window      string // the X window id of the browser window
}

// LaunchBrowser starts Chromium, with a window, for the whole test binary.
func LaunchBrowser(o BrowserOptions) (*Browser, error) {
	out := &browsertest.LogBuffer{}
	flags := append(browsertest.Flags(o.Chromium, o.Profile, out, o.TrustSPKI),
		chromedp.Env(append(o.Env, "DISPLAY="+o.Display)...),
		chromedp.WindowSize(1200, 900),
		chromedp.Flag("window-position", "0,0"),
		chromedp.Flag("load-extension", o.Extension),
		chromedp.Flag("disable-extensions-except", o.Extension),
		// Newer Chromium builds turn --load-extension off unless asked.
		chromedp.Flag("disable-features", "DisableLoadExtensionCommandLineSwitch,Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,PasswordManagerOnboarding"),
		// Chromium's own password manager would offer to save too; the
		// test is about the extension's.
		chromedp.Flag("disable-save-password-bubble", true),
		// Every name resolves to loopback: the test pages' made-up hosts
		// reach the test server, and nothing leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP * 127.0.0.1, EXCLUDE localhost"),
	)
	for k, v := range o.ExtraFlags {
		flags = append(flags, chromedp.Flag(k, v))
	}
	b := &Browser{opts: o, output: out}
	b.allocCtx, b.allocCancel = chromedp.NewExecAllocator(context.Background(), flags...)
	b.ctx, b.cancel = chromedp.NewContext(b.allocCtx)
	// The first action starts the browser, bound to the context it runs
	// on (so not one with a deadline). An extension that fails to load
	// stops Chromium at a modal dialog before DevTools answers: wait a
	// bounded time, and say so.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(b.ctx) }()
	select {
	case err := <-started:
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("starting chromium: %w\n%s", err, out.String())
		}
	case <-time.After(90 * time.Second):
		why := ""
		if w, _ := b.xdotool("search", "--name", "Error Loading Extension"); strings.TrimSpace(w) != "" {
			why = fmt.Sprintf(": it shows \"Error Loading Extension\" (check %s/manifest.json)", o.Extension)
		}
		b.Close()
		return nil, fmt.Errorf("chromium did not start within 90s%s\n%s", why, out.String())
	}
	if err := b.findWindow(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// findWindow finds the browser window on the display, to give it the
// keyboard focus before each key press.
func (b *Browser) findWindow() error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := b.xdotool("search", "--onlyvisible", "--class", "chromium")
		if ids := strings.Fields(out); err == nil && len(ids) > 0 {
			b.window = ids[len(ids)-1]
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no Chromium window appeared on display %s: %v %s", b.opts.Display, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *Browser) xdotool(args ...string) (string, error) {
	cmd := exec.Command(b.opts.Xdotool, args...)
	cmd.Env = []string{"DISPLAY=" + b.opts.Display, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Key focuses the browser window and presses keys (xdotool's names, e.g.
// "alt+shift+l") on the display: a key press the browser cannot tell
// from a person's, so that it reaches the extension's shortcuts.
func (b *Browser) Key(keys string) error {
	if out, err := b.xdotool("windowfocus", "--sync", b.window, "key", "--clearmodifiers", keys); err != nil {
		return fmt.Errorf("xdotool key %s: %v: %s", keys, err, out)
	}
	return nil
}

// KeyFocused presses keys on whatever window has the keyboard focus (the
// popup, once open), as a keyboard-only user does.
func (b *Browser) KeyFocused(keys string) error {
	if out, err := b.xdotool("key", "--clearmodifiers", keys); err != nil {
		return fmt.Errorf("xdotool key %s: %v: %s", keys, err, out)
	}
	return nil
}

// Ctx is the chromedp context of the window's tab.
func (b *Browser) Ctx() context.Context { return b.ctx }

// Output is what Chromium printed so far.
func (b *Browser) Output() string { return b.output.String() }

// Targets lists the browser's targets (tabs, the popup, the service
// worker).
func (b *Browser) Targets() ([]*target.Info, error) {
	return chromedp.Targets(b.ctx)
}

// WaitTarget waits until a target whose URL starts with prefix exists and
// returns it.
func (b *Browser) WaitTarget(prefix string, timeout time.Duration) (*target.Info, error) {
	deadline := time.Now().Add(timeout)
	for {
		ts, err := b.Targets()
		if err == nil {
			for _, t := range ts {
				if t.Type == "page" && strings.HasPrefix(t.URL, prefix) {
					return t, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no %s page within %s (targets: %v, err %v)", prefix, timeout, describe(ts), err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func describe(ts []*target.Info) string {
	var s []string
	for _, t := range ts {
		s = append(s, string(t.Type)+" "+t.URL)
	}
	return strings.Join(s, ", ")
}

// Attach returns a chromedp context driving target id, and its cancel
// (which detaches without closing the target).
func (b *Browser) Attach(id target.ID) (context.Context, context.CancelFunc) {
	return chromedp.NewContext(b.ctx, chromedp.WithTargetID(id))
}

// NativeHosts are the pids of the native host processes Chromium
// started: children of the browser's processes whose command line runs
// the installed host wrapper or `keyhold native-host`.
func (b *Browser) NativeHosts() []int {
	browserPIDs := map[int]bool{}
	for _, p := range browsertest.ProcessesUsing(b.opts.Profile) {
		browserPIDs[p] = true
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "native-host") {
			continue
		}
		if browserPIDs[ppid(pid)] || browserPIDs[ppid(ppid(pid))] {
			out = append(out, pid)
		}
	}
	return out
}

func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// Close stops the browser and every process it started with its profile
// (the native host exits when its stdin closes).
func (b *Browser) Close() error {
	var closeErr error
	b.closeOnce.Do(func() {
		closeErr = browsertest.Quit(b.ctx, b.cancel, b.allocCancel, b.opts.Profile)
	})
	return closeErr
}
