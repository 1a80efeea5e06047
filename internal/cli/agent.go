package cli

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vault"
)

const defaultAgentTimeout = 15 * time.Minute

// agentSocket is where the agent for this vault listens. The user's
// runtime directory comes from the environment here, in the command
// line, and is handed to the agent package.
func (c *cmdEnv) agentSocket() (string, error) {
	return agent.SocketPath(c.vaultDir, os.Getenv("XDG_RUNTIME_DIR"))
}

func (c *cmdEnv) unlockCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Unlock the vault for later commands (starts the agent)",
		Long: `Ask for the password once and start a background agent that keeps the vault
unlocked until it has been idle for --timeout (default 15m) or until
keyhold lock. Later commands talk to the agent and pay no key derivation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout < time.Second || timeout > 24*time.Hour {
				return usageError{errors.New("--timeout must be between 1s and 24h")}
			}
			if cl := c.agentClient(); cl != nil {
				cl.Lock(c.ctx) // restart with this timeout
			}
			s, err := c.unlockLocal()
			if err != nil {
				return err
			}
			defer localSession{s}.Close()
			ak, kv := s.AccountKey()
			if err := startAgent(c.vaultDir, timeout, ak, kv); err != nil {
				return err
			}
			c.infof("unlocked; locks after %s idle (keyhold lock locks now)", timeout)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", defaultAgentTimeout, "lock after this long without use")
	return cmd
}

// startAgent runs `keyhold __agent` detached and hands it the account key
// over a pipe (never argv or the environment), then waits until it
// listens.
func startAgent(dir string, timeout time.Duration, ak *keys.AccountKey, kv uint32) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "__agent", "--vault", dir, "--timeout", timeout.String())
	detach(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	buf := make([]byte, 36)
	copy(buf, ak[:])
	binary.BigEndian.PutUint32(buf[32:], kv)
	_, werr := in.Write(buf)
	clear(buf)
	in.Close()
	if werr != nil {
		return fmt.Errorf("starting the agent: %w", werr)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if line == "ready\n" {
			ready <- nil
			return
		}
		if msg := strings.TrimSpace(strings.TrimPrefix(line, "error: ")); msg != "" {
			ready <- fmt.Errorf("the agent could not start: %s", msg)
			return
		}
		ready <- fmt.Errorf("the agent exited before it was ready (%v)", err)
	}()
	select {
	case err := <-ready:
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		return errors.New("the agent did not start within 15s")
	}
	go cmd.Wait()
	return cmd.Process.Release()
}

// agentCmd is the hidden command the agent process runs.
func (c *cmdEnv) agentCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "__agent",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Before the key arrives: no core dumps, and (on Linux) no
			// other process of this user may read this one's memory.
			if err := agent.Harden(); err != nil {
				fmt.Fprintf(c.stdout, "error: %v\n", err)
				return err
			}
			buf := make([]byte, 36)
			if _, err := io.ReadFull(c.stdin, buf); err != nil {
				return errors.New("agent: no key on stdin")
			}
			ak := new(keys.AccountKey)
			copy(ak[:], buf)
			kv := binary.BigEndian.Uint32(buf[32:])
			clear(buf)
			keys.LockMemory(ak[:])
			// Until "ready", any failure is reported to the parent on
			// stdout, which shows it to the user.
			fail := func(err error) error {
				fmt.Fprintf(c.stdout, "error: %v\n", err)
				return err
			}
			v, err := vault.Open(c.vaultDir, c.vaultOpts()...)
			if err != nil {
				return fail(err)
			}
			defer v.Close()
			s, err := v.UnlockWithKey(ak, kv)
			ak.Wipe()
			if err != nil {
				return fail(err)
			}
			sock, err := c.agentSocket()
			if err != nil {
				return fail(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := agent.NewServer(s, timeout, log)
			// Decrypt every item now, in the background, so that the first
			// search does not pay for it; requests wait for it if needed.
			go s.List(c.ctx, vault.All)
			// A signal locks too: the keys are wiped and the socket removed.
			ctx, stop := signal.NotifyContext(c.ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
			defer stop()
			ready := false
			err = srv.Serve(ctx, sock, func() {
				ready = true
				fmt.Fprint(c.stdout, "ready\n")
				if f, ok := c.stdout.(*os.File); ok {
					f.Close()
				}
			})
			if err != nil && !ready {
				return fail(err)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", defaultAgentTimeout, "")
	return cmd
}
