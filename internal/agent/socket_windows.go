package agent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// currentSID is the SID of the user this process runs as.
func currentSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("agent: reading this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}

// SocketPath returns the name of the named pipe the agent for vaultDir
// listens on: \\.\pipe\keyhold-agent-HASH, the hash of the user's SID and
// the vault's absolute path (agentPipeName). runtimeDir, the unix
// socket's directory, has no meaning for a pipe and is not used.
func SocketPath(vaultDir, runtimeDir string) (string, error) {
	abs, err := filepath.Abs(vaultDir)
	if err != nil {
		return "", err
	}
	sid, err := currentSID()
	if err != nil {
		return "", err
	}
	return agentPipeName(abs, sid), nil
}

// Listening reports whether path may be an agent's pipe. A pipe cannot be
// looked at without connecting to it, so dialing decides; a missing pipe
// fails at once.
func Listening(path string) bool { return checkPipeName(path) == nil }

// listen creates the pipe with a security descriptor that admits only
// this user (pipeSDDL). Creating fails if the name exists, so the agent
// never shares a pipe that another process made first.
func listen(path string) (net.Listener, error) {
	if err := checkPipeName(path); err != nil {
		return nil, err
	}
	sid, err := currentSID()
	if err != nil {
		return nil, err
	}
	sddl, err := pipeSDDL(sid)
	if err != nil {
		return nil, err
	}
	// keyhold unlock locks a running agent and starts a new one at once;
	// the old pipe goes only when the old agent has closed it, a moment
	// later. Unix replaces a stale socket; here the new agent waits.
	deadline := time.Now().Add(3 * time.Second)
	for {
		l, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sddl})
		if err == nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("listening on %s: %w (is another agent for this vault running? keyhold lock ends it)", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unlisten closes the pipe; Windows removes it with its last handle.
func unlisten(l net.Listener, _ string) { l.Close() }

// listenerGone is always false: nothing but the agent can remove its pipe.
func listenerGone(string) bool { return false }

// checkClient accepts every connection: the pipe's DACL (pipeSDDL) has
// already made Windows refuse any other user's process.
func checkClient(net.Conn) error { return nil }

// dial connects to the agent's pipe and checks that the pipe belongs to
// this user. Another user could create a pipe of that name first (the name
// is predictable), but could not make it owned by us: the owner check is
// what keeps the client from talking to an impostor.
func dial(ctx context.Context, path string) (net.Conn, error) {
	if err := checkPipeName(path); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForeignAgent, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// winio dials at the anonymous impersonation level: the agent cannot
	// act as the client.
	conn, err := winio.DialPipeContext(dctx, path)
	if err != nil {
		return nil, ErrNoAgent
	}
	if err := checkPipeOwner(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrForeignAgent, err)
	}
	return conn, nil
}

// checkPipeOwner requires the pipe at the other end of conn to be owned by
// this process's user.
func checkPipeOwner(conn net.Conn) error {
	f, ok := conn.(interface{ Fd() uintptr })
	if !ok {
		return fmt.Errorf("cannot read the owner of the agent pipe")
	}
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the owner of the agent pipe: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("the agent pipe has no owner")
	}
	me, err := currentSID()
	if err != nil {
		return err
	}
	if !sameSID(owner.String(), me) {
		return fmt.Errorf("the agent pipe belongs to %s, not to you (%s)", owner.String(), me)
	}
	return nil
}
