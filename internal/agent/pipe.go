package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// On Windows the agent listens on a named pipe instead of a unix socket.
// What the pipe's name and security descriptor are is decided here, in
// code free of Windows calls, so that it is tested on every platform.

// pipePrefix starts every agent pipe name: the local machine's pipe
// namespace (never a remote server's), then a name of keyhold's own.
const pipePrefix = `\\.\pipe\keyhold-agent-`

// pipeHashLen is the number of hex digits after pipePrefix.
const pipeHashLen = 32

// errBadPipeName means a path is not the name of a keyhold agent pipe.
var errBadPipeName = errors.New("not a keyhold agent pipe")

// agentPipeName names the pipe of the agent of the vault at absVaultDir
// for the user whose SID is sid: one pipe per user and per vault, like the
// Unix socket in the user's runtime directory. Windows paths and SIDs
// compare without regard to case, so both are folded first: C:\Users\Ann
// and c:\users\ann are the same vault.
func agentPipeName(absVaultDir, sid string) string {
	h := sha256.New()
	h.Write([]byte("keyhold agent pipe v1\x00"))
	h.Write([]byte(strings.ToUpper(sid)))
	h.Write([]byte{0})
	h.Write([]byte(strings.ToLower(absVaultDir)))
	return pipePrefix + hex.EncodeToString(h.Sum(nil)[:pipeHashLen/2])
}

// checkPipeName refuses a path that agentPipeName cannot have made, so the
// client never sends a request (a new password, say) to another pipe or
// to another machine.
func checkPipeName(path string) error {
	hash, ok := strings.CutPrefix(path, pipePrefix)
	if !ok || len(hash) != pipeHashLen {
		return fmt.Errorf("%w: %q", errBadPipeName, path)
	}
	for _, c := range hash {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %q", errBadPipeName, path)
		}
	}
	return nil
}

// checkSID accepts a SID in its string form as Windows writes it:
// S-1-<authority>-<subauthority>…, decimal numbers, at most 15
// subauthorities. It keeps anything else out of a security descriptor.
func checkSID(sid string) error {
	parts := strings.Split(sid, "-")
	if len(parts) < 3 || len(parts) > 3+15 || parts[0] != "S" || parts[1] != "1" {
		return fmt.Errorf("agent: %q is not a Windows SID", sid)
	}
	for _, p := range parts[2:] {
		if p == "" || len(p) > 15 || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("agent: %q is not a Windows SID", sid)
		}
	}
	return nil
}

// pipeSDDL is the security descriptor of the agent's pipe, in SDDL: owned
// by the user (even when elevated, where new objects would otherwise
// belong to Administrators, so that the client's owner check holds), and
// a protected DACL (P: nothing inherited) with one entry granting the user
// every right. Windows refuses every other account, Administrators and
// SYSTEM included, before the agent sees a byte; the agent adds no check
// of its own on the client (see docs/WINDOWS.md).
func pipeSDDL(sid string) (string, error) {
	if err := checkSID(sid); err != nil {
		return "", err
	}
	return "O:" + sid + "D:P(A;;GA;;;" + sid + ")", nil
}

// sameSID compares two SIDs in string form: the S prefix is the only
// letter, and Windows accepts it in either case.
func sameSID(a, b string) bool {
	return checkSID(strings.ToUpper(a)) == nil && strings.EqualFold(a, b)
}
