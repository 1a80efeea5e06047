//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// asInterrupt makes the given signals end keyhold as Ctrl-C (SIGINT)
// does, until stop is called: it re-raises SIGINT, so whatever handles
// Ctrl-C handles them too — a password prompt restores the terminal's
// echo, the agent and the watchers lock and stop cleanly, and anything
// else dies of the interrupt. Should SIGINT be ignored (a background job
// of a script), the process exits a moment later anyway.
func asInterrupt(sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			syscall.Kill(os.Getpid(), syscall.SIGINT)
			time.Sleep(2 * time.Second)
			n := 1
			if sn, ok := s.(syscall.Signal); ok {
				n = int(sn)
			}
			os.Exit(128 + n)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// quitAsInterrupt makes Ctrl-\ (SIGQUIT) end keyhold as Ctrl-C does
// rather than the Go runtime's default, a dump of every goroutine's stack:
// someone pressing it at a prompt wants out, not a stack trace.
func quitAsInterrupt() (stop func()) { return asInterrupt(syscall.SIGQUIT) }

// termAsInterrupt, around a prompt that turns echo off, makes SIGTERM end
// it as Ctrl-C does, so that the terminal is restored rather than left
// silent. Outside prompts SIGTERM keeps its default action (and the
// agent's and watchers' own handling).
func termAsInterrupt() (stop func()) { return asInterrupt(syscall.SIGTERM) }
