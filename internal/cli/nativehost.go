package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/browserhost"
	"github.com/keyhold/keyhold/internal/browserinstall"
	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// Memory settings of the native host. The browser keeps the host running
// while the extension's service worker holds its port, so it is idle
// most of its life: a small heap target and a soft limit keep it small
// (a few MiB resident) at the price of more frequent collections of a
// heap that is tiny anyway.
const (
	hostGCPercent   = 25
	hostMemoryLimit = 12 << 20
)

func (c *cmdEnv) nativeHostCmd() *cobra.Command {
	var allowed []string
	cmd := &cobra.Command{
		Use:   "native-host",
		Short: "The browser extension's native messaging host (started by the browser)",
		Long: `Speak native messaging on stdin and stdout with the Keyhold browser
extension: started by the browser, through the host manifest that
keyhold browser install writes; not run by hand. It answers from the
running agent (keyhold unlock), unlocks it when the extension sends the
password, and exits when the browser closes its stdin.

The arguments browsers pass (the calling extension's origin, Firefox's
manifest path and extension id, Windows' --parent-window) are ignored,
except that a chrome-extension:// origin other than the installed
extension's id is refused.`,
		Args: cobra.ArbitraryArgs,
		// Browsers add flags of their own (--parent-window=N on Windows).
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(allowed) == 0 {
				allowed = []string{browserinstall.DefaultExtensionID}
			}
			for _, a := range args {
				id, ok := strings.CutPrefix(a, "chrome-extension://")
				if !ok {
					continue
				}
				id = strings.TrimSuffix(id, "/")
				if !containsString(allowed, id) {
					return exitError{fmt.Errorf("refusing the browser extension %q: this host is installed for %s; run `keyhold browser install --extension-id ID` to allow another",
						id, strings.Join(allowed, ", ")), ExitAuth}
				}
			}
			debug.SetGCPercent(hostGCPercent)
			debug.SetMemoryLimit(hostMemoryLimit)
			h := &browserhost.Host{K: &hostKeyhold{c: c}, Version: buildinfo.Read().Version}
			return h.Serve(c.ctx, c.stdin, c.stdout)
		},
	}
	cmd.Flags().StringSliceVar(&allowed, "extension-id", nil, "the Chromium extension ids this host answers (default: Keyhold's own)")
	cmd.Flags().MarkHidden("extension-id")
	return cmd
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostKeyhold is the native host's view of this keyhold: the agent's
// socket, `keyhold unlock` as a child process, and the clipboard as
// `keyhold copy` uses it.
type hostKeyhold struct {
	c *cmdEnv
}

func (k *hostKeyhold) Agent(ctx context.Context) (browserhost.Agent, *agent.Status, error) {
	if !vault.Exists(k.c.vaultDir) {
		return nil, nil, vault.ErrNoVault
	}
	path, err := k.c.agentSocket()
	if err != nil {
		return nil, nil, err
	}
	if !agent.Listening(path) {
		return nil, nil, agent.ErrNoAgent
	}
	cl, st, err := agent.Dial(path)
	if err != nil {
		return nil, nil, err
	}
	return cl, st, nil
}

// Unlock runs `keyhold [--vault DIR] --password-file - unlock` with the
// password on its stdin: the agent it starts outlives the browser, and
// this process never holds the keys. The password never goes on argv or
// in the environment, which other processes can read. A wrong password
// is recognised by unlock's exit code.
func (k *hostKeyhold) Unlock(ctx context.Context, password []byte) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, "--vault", k.c.vaultDir, "--password-file", "-", "unlock")
	in := make([]byte, len(password)+1)
	copy(in, password)
	in[len(password)] = '\n'
	defer clear(in)
	cmd.Stdin = bytes.NewReader(in)
	// stdout is the browser's pipe: the child must not write to it.
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == ExitAuth:
		return browserhost.ErrWrongPassword
	case errors.As(err, &ee) && ee.ExitCode() == ExitNotFound:
		return vault.ErrNoVault
	case errors.As(err, &ee):
		// unlock's own message tells the user what went wrong.
		msg := strings.TrimPrefix(strings.TrimSpace(firstLine(stderr.String())), "keyhold: ")
		return fmt.Errorf("keyhold unlock failed (exit %d): %s", ee.ExitCode(), msg)
	}
	return fmt.Errorf("running keyhold unlock: %w", err)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (k *hostKeyhold) Copy(value []byte, clearAfter time.Duration) error {
	return k.c.copyValue(string(value), clearAfter)
}

// Wrote runs `keyhold [--vault DIR] sync` detached, when the vault syncs
// with a server or a folder: the same sync the user would run, through
// the agent (no password), merging and pushing as it always does. It
// outlives this host, which the browser may end at any time, and writes
// nowhere (stdout is the browser's pipe); a failure is logged by its exit
// code only, and the next sync retries.
func (k *hostKeyhold) Wrote() {
	if _, err := syncfile.Load(k.c.vaultDir); err != nil && !k.c.folderSynced() {
		return // no sync set up
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(k.c.stderr, "keyhold: not syncing after a change from the browser: %v\n", err)
		return
	}
	cmd := exec.Command(exe, "--vault", k.c.vaultDir, "sync")
	detach(cmd)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(k.c.stderr, "keyhold: not syncing after a change from the browser: %v\n", err)
		return
	}
	go func() {
		var ee *exec.ExitError
		if err := cmd.Wait(); errors.As(err, &ee) {
			fmt.Fprintf(k.c.stderr, "keyhold: the sync after a change from the browser failed (exit %d); run keyhold sync to see why\n", ee.ExitCode())
		}
	}()
}
