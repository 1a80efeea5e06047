//go:build unix

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// SocketPath returns where the agent for vaultDir listens: a file named by
// a hash of the vault's absolute path, in runtimeDir/keyhold or else
// /tmp/keyhold-UID. Unix socket paths are limited to ~100 bytes, so the
// vault directory itself (often deep) is not used.
//
// runtimeDir is the user's runtime directory ($XDG_RUNTIME_DIR), or ""
// when there is none. The caller reads it from its environment: a
// library that read the environment itself would be configured by
// whatever process happened to load it.
func SocketPath(vaultDir, runtimeDir string) (string, error) {
	abs, err := filepath.Abs(vaultDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	var base string
	if runtimeDir != "" {
		base = filepath.Join(runtimeDir, "keyhold")
	} else {
		base = filepath.Join(os.TempDir(), fmt.Sprintf("keyhold-%d", os.Getuid()))
	}
	return filepath.Join(base, hex.EncodeToString(sum[:8])+".sock"), nil
}

// Listening reports whether something is at the agent's path, so that a
// command does not dial a socket that is not there.
func Listening(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// listen creates the socket 0600 in its 0700 directory, replacing the
// stale socket of a dead agent.
func listen(path string) (net.Listener, error) {
	if err := prepareDir(path); err != nil {
		return nil, err
	}
	os.Remove(path) // a stale socket of a dead agent
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return l, nil
}

func unlisten(l net.Listener, path string) {
	l.Close()
	os.Remove(path)
}

// listenerGone reports that the socket was removed (a cleaned /tmp).
func listenerGone(path string) bool {
	_, err := os.Stat(path)
	return err != nil
}

// checkClient refuses a connection from a process of another user.
func checkClient(c net.Conn) error {
	return checkPeer(c.(*net.UnixConn))
}

// dial connects to the agent only if its directory is ours and closed to
// others and the process at the other end runs as us.
func dial(ctx context.Context, path string) (net.Conn, error) {
	if err := checkOwnDir(dirOf(path)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForeignAgent, err)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if _, serr := os.Stat(path); serr == nil && isRefused(err) {
			os.Remove(path) // the agent died and left its socket
		}
		return nil, ErrNoAgent
	}
	if err := checkPeer(conn.(*net.UnixConn)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrForeignAgent, err)
	}
	return conn, nil
}

// prepareDir makes the socket's directory 0700 and refuses one that another
// user owns or others can enter.
func prepareDir(sock string) error {
	dir := dirOf(sock)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return checkOwnDir(dir)
}

// checkOwnDir requires dir to be a real directory (not a link) owned by
// this user and closed to everyone else.
func checkOwnDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	if int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("the agent directory %s must be a directory owned by you with mode 0700", dir)
	}
	return nil
}

func dirOf(sock string) string { return filepath.Dir(sock) }
