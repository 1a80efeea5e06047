//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/hostile"
)

// The scripts in testdata/hostile put a tampering proxy (internal/hostile)
// between real keyhold devices and a real keyhold-server, and check that
// each lie a server operator could tell is noticed and refused, with
// nothing lost on the device and its memory bounded. One server per
// script, on SQLite.
//
// A script named pending-*.txtar tests a defence this tree does not have
// yet; it is skipped, with the name of that defence (its first comment
// line), until the defence lands and the file is renamed.

// peakFileEnv names the file where each keyhold process run by a script
// writes its peak resident memory (VmHWM, in KiB) as it exits.
const peakFileEnv = "KEYHOLD_TEST_PEAK_FILE"

// recordPeak writes this process's peak resident memory to the file
// $KEYHOLD_TEST_PEAK_FILE names, if any (Linux only: elsewhere it writes
// nothing and "peakmem" skips its check).
func recordPeak() {
	f := os.Getenv(peakFileEnv)
	if f == "" {
		return
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			os.WriteFile(f, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))), 0o600)
			return
		}
	}
}

func TestHostileScripts(t *testing.T) {
	bin := buildServer(t)
	servers := &serverSet{procs: map[string]*serverProc{}}
	proxies := &proxySet{m: map[string]*hostile.Proxy{}}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/hostile",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			name := strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
			if strings.HasPrefix(name, "pending-") {
				env.T().Skip(pendingReason(name))
			}
			if err := setup(env); err != nil {
				return err
			}
			env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("BACKEND", "sqlite")
			env.Setenv(peakFileEnv, filepath.Join(env.WorkDir, "peak"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"capture":  cmdCapture,
			"jsonget":  cmdJSONGet,
			"streq":    cmdStrEq,
			"server":   servers.cmd,
			"hostile":  proxies.cmd,
			"peakmem":  cmdPeakMem,
			"sleep":    cmdSleep,
		},
	})
}

// pendingReason is the first comment line of a pending script: the
// defence it waits for.
func pendingReason(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata/hostile", name+".txtar"))
	if err != nil {
		return "waits for a defence not in this tree"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return "waits for: " + strings.TrimSpace(strings.TrimPrefix(line, "#"))
}

type proxySet struct {
	mu sync.Mutex
	m  map[string]*hostile.Proxy
}

// hostile start NAME UPSTREAM_URL
//
//	starts a tampering proxy in front of the server at UPSTREAM_URL and
//	sets $NAME_URL (https://) and $NAME_FP (its certificate, to pin).
//
// hostile attack NAME ATTACK [ARGS...]
//
//	puts an attack in force (see internal/hostile) and resets the count
//	of rewrites; "hostile attack NAME off" stops lying.
//
// hostile rewrote NAME
//
//	fails unless the attack in force changed at least one answer (with
//	!, unless it changed none).
//
// hostile snapshot NAME
//
//	records the server's state now, for the rollback attack.
func (s *proxySet) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: hostile start|attack|rewrote|snapshot NAME [args]")
	}
	key := fmt.Sprintf("%p/%s", ts, args[1])
	s.mu.Lock()
	p := s.m[key]
	s.mu.Unlock()
	if args[0] != "start" && p == nil {
		ts.Fatalf("no proxy %s", args[1])
	}
	if neg && args[0] != "rewrote" {
		ts.Fatalf("hostile %s does not take !", args[0])
	}
	switch args[0] {
	case "start":
		if len(args) != 3 {
			ts.Fatalf("usage: hostile start NAME UPSTREAM_URL")
		}
		np, err := hostile.Start(args[2])
		if err != nil {
			ts.Fatalf("hostile: %v", err)
		}
		ts.Defer(func() { np.Close() })
		s.mu.Lock()
		s.m[key] = np
		s.mu.Unlock()
		ts.Setenv(args[1]+"_URL", np.URL())
		ts.Setenv(args[1]+"_FP", np.Fingerprint())
	case "attack":
		if len(args) < 3 {
			ts.Fatalf("usage: hostile attack NAME ATTACK [args]")
		}
		if err := p.SetAttack(args[2], args[3:]...); err != nil {
			ts.Fatalf("hostile: %v", err)
		}
	case "rewrote":
		n := p.Rewrites()
		ts.Logf("proxy %s rewrote %d answer(s)", args[1], n)
		if !neg && n == 0 {
			ts.Fatalf("the attack did not take effect: proxy %s changed no answer", args[1])
		}
		if neg && n != 0 {
			ts.Fatalf("proxy %s changed %d answer(s)", args[1], n)
		}
	case "snapshot":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Snapshot(ctx); err != nil {
			ts.Fatalf("hostile snapshot: %v", err)
		}
	default:
		ts.Fatalf("hostile: unknown subcommand %q", args[0])
	}
}

// peakmem MIB
// fails if the keyhold process that exited last had a peak resident
// memory (VmHWM) above MIB mebibytes. Where /proc is missing, it only logs.
func cmdPeakMem(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: peakmem MIB")
	}
	limit, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("peakmem: %v", err)
	}
	b, err := os.ReadFile(ts.MkAbs("peak"))
	if err != nil {
		if !isLinuxProc() {
			ts.Logf("peakmem: no /proc here; not checked")
			return
		}
		ts.Fatalf("peakmem: no keyhold process recorded its peak: %v", err)
	}
	kib, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		ts.Fatalf("peakmem: %q: %v", b, err)
	}
	ts.Logf("keyhold peak resident memory: %d MiB (limit %d MiB)", kib>>10, limit)
	if kib>>10 > limit {
		ts.Fatalf("keyhold used %d MiB at its peak, more than %d MiB", kib>>10, limit)
	}
	os.Remove(ts.MkAbs("peak"))
}
