// Package clip copies a secret to the system clipboard and clears it again
// after a delay.
//
// The clearing is done by a separate, detached helper process (in keyhold, a
// hidden subcommand of the keyhold binary itself), so that the CLI can exit
// at once and the clipboard is still cleared. The helper is given only the
// SHA-256 of the secret and the delay, over its standard input; never the
// secret, and nothing on its command line or in its environment, where other
// users' processes could read it. When the delay is up it clears the
// clipboard only if the clipboard still holds the secret, so that it never
// destroys something the user copied since. This is the design gopass uses.
//
// The helper waits by the wall clock, so a delay spanning a suspend of the
// machine ends on resume rather than a full delay later. Clipboard managers
// that keep a history may keep a copy of the secret; that is beyond what
// clearing the clipboard can fix.
package clip

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/atotto/clipboard"
)

// ErrNoClipboard means there is no clipboard to copy to: no clipboard
// program is installed, or the process is not in a graphical session. Copy
// checks this before touching the clipboard or starting anything.
var ErrNoClipboard = errors.New("no clipboard available: install xclip, xsel or wl-clipboard, " +
	"and run inside a graphical session (DISPLAY or WAYLAND_DISPLAY); " +
	"use `keyhold show --field password` to print instead")

// MaxClearAfter is the longest delay Copy accepts. A password left on the
// clipboard for longer is as good as never cleared, and the helper refuses
// longer requests so that a garbled one cannot leave it sleeping for years.
const MaxClearAfter = 24 * time.Hour

// Session is the graphical session the caller runs in, as its
// environment describes it: the values of WAYLAND_DISPLAY and DISPLAY.
// The caller reads them (the package never reads the environment), and
// an empty value means there is no such session. macOS and Windows need
// neither.
type Session struct {
	WaylandDisplay string
	X11Display     string
}

// Copy puts secret on the system clipboard and starts the detached helper
// process helperArgv (for example {"/usr/bin/keyhold", "__clip-clear"},
// which must end up calling RunClearHelper on its standard input), which
// clears the clipboard after clearAfter if it still holds secret. On Linux
// and the BSDs it copies only within a graphical session (session).
//
// The helper is started before the clipboard is written: if it cannot be
// started, the secret is never copied. The clipboard libraries take a Go
// string, so secret is copied into one for the duration of the write.
func Copy(secret []byte, clearAfter time.Duration, helperArgv []string, session Session) error {
	if clearAfter < time.Millisecond || clearAfter > MaxClearAfter {
		return fmt.Errorf("the clipboard clear delay must be between 1ms and %v, not %v", MaxClearAfter, clearAfter)
	}
	if len(helperArgv) == 0 || helperArgv[0] == "" {
		return errors.New("internal error: no helper command to clear the clipboard")
	}
	if err := available(session); err != nil {
		return err
	}

	req := request{hash: sha256.Sum256(secret), after: clearAfter}
	cmd := exec.Command(helperArgv[0], helperArgv[1:]...)
	detach(cmd)
	// cmd.Stdout and cmd.Stderr stay nil: the helper writes to /dev/null,
	// and nothing of ours waits for it to close a pipe.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("starting the clipboard clearer: %w", err)
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return fmt.Errorf("starting the clipboard clearer: %w; the secret was not copied", err)
	}
	done := make(chan error, 1)
	if testHookStarted != nil {
		testHookStarted(cmd.Process, done)
	}
	abort := func() {
		stdin.Close()
		cmd.Process.Kill()
		done <- cmd.Wait()
	}

	if err := clipboard.WriteAll(string(secret)); err != nil {
		abort()
		return fmt.Errorf("copying to the clipboard: %w", err)
	}
	if _, err := stdin.Write(req.encode()); err == nil {
		err = stdin.Close()
	}
	if err != nil {
		abort()
		// The helper never got its instructions, so clear now rather than
		// leave the secret on the clipboard indefinitely.
		if cerr := clearIfHolds(req.hash); cerr != nil {
			return fmt.Errorf("handing the clipboard to its clearer: %v; clearing the clipboard also failed (%v): clear it by copying something else", err, cerr)
		}
		return fmt.Errorf("handing the clipboard to its clearer: %w; the clipboard was cleared", err)
	}
	// In a short-lived CLI this goroutine dies with the process, and the
	// helper is adopted by init; in a long-lived one it reaps the helper.
	go func() { done <- cmd.Wait() }()
	return nil
}

// testHookStarted, when set by tests, is told of every helper process Copy
// starts, with a channel that receives its exit status.
var testHookStarted func(p *os.Process, done <-chan error)

// RunClearHelper is the body of the helper process that Copy starts. It
// reads Copy's request from stdin (until EOF), waits for the delay, then
// clears the clipboard if its content still hashes to the requested hash.
func RunClearHelper(stdin io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(stdin, int64(maxRequestLen)+1))
	if err != nil {
		return fmt.Errorf("reading the clear request: %w", err)
	}
	req, err := parseRequest(data)
	if err != nil {
		return err
	}
	sleepUntil(time.Now().Add(req.after))
	return clearIfHolds(req.hash)
}

// sleepUntil sleeps until the wall clock reaches deadline. time.Sleep
// alone follows the monotonic clock, which stops while the machine is
// suspended.
func sleepUntil(deadline time.Time) {
	deadline = deadline.Round(0) // drop the monotonic reading
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, time.Second))
	}
}

// clearIfHolds empties the clipboard if its content has SHA-256 hash.
func clearIfHolds(hash [sha256.Size]byte) error {
	current, err := clipboard.ReadAll()
	if err != nil {
		return fmt.Errorf("reading the clipboard: %w", err)
	}
	b := []byte(current)
	sum := sha256.Sum256(b)
	clear(b)
	if subtle.ConstantTimeCompare(sum[:], hash[:]) != 1 {
		return nil // the user has copied something else since
	}
	if err := clipboard.WriteAll(""); err != nil {
		return fmt.Errorf("clearing the clipboard: %w", err)
	}
	return nil
}

// request is what Copy sends the helper: one line,
//
//	keyhold-clip-clear/v1 <SHA-256 in lower-case hex> <delay in milliseconds>\n
//
// The version lets a newer keyhold binary, replaced while an older one's
// helper is being started, refuse a request it does not understand instead
// of misreading it.
type request struct {
	hash  [sha256.Size]byte
	after time.Duration
}

const requestMagic = "keyhold-clip-clear/v1"

// maxRequestLen bounds what the helper reads: magic, hash, a 24-hour delay
// in milliseconds, separators.
const maxRequestLen = len(requestMagic) + 1 + 2*sha256.Size + 1 + 8 + 1

func (r request) encode() []byte {
	b := make([]byte, 0, maxRequestLen)
	b = append(b, requestMagic...)
	b = append(b, ' ')
	b = hex.AppendEncode(b, r.hash[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.after.Milliseconds(), 10)
	return append(b, '\n')
}

// errBadRequest is wrapped by every parseRequest error.
var errBadRequest = errors.New("malformed clipboard clear request")

// parseRequest parses what encode produces, and only that: exactly one
// encoding per request, so nothing else can slip through.
func parseRequest(data []byte) (request, error) {
	var r request
	if len(data) > maxRequestLen {
		return r, fmt.Errorf("%w: too long", errBadRequest)
	}
	line, ok := bytes.CutSuffix(data, []byte("\n"))
	if !ok {
		return r, fmt.Errorf("%w: no end of line", errBadRequest)
	}
	fields := bytes.Split(line, []byte(" "))
	if len(fields) != 3 || string(fields[0]) != requestMagic {
		return r, fmt.Errorf("%w: want %q, a hash and a delay", errBadRequest, requestMagic)
	}
	hexHash := fields[1]
	if len(hexHash) != 2*sha256.Size || !bytes.Equal(hexHash, bytes.ToLower(hexHash)) {
		return r, fmt.Errorf("%w: the hash is not %d lower-case hex digits", errBadRequest, 2*sha256.Size)
	}
	if _, err := hex.Decode(r.hash[:], hexHash); err != nil {
		return r, fmt.Errorf("%w: the hash is not %d lower-case hex digits", errBadRequest, 2*sha256.Size)
	}
	ms := fields[2]
	if len(ms) == 0 || len(ms) > 1 && ms[0] == '0' || ms[0] == '+' || ms[0] == '-' {
		return r, fmt.Errorf("%w: the delay is not a plain number of milliseconds", errBadRequest)
	}
	n, err := strconv.ParseInt(string(ms), 10, 64)
	if err != nil || n <= 0 || time.Duration(n)*time.Millisecond > MaxClearAfter {
		return r, fmt.Errorf("%w: the delay must be 1 to %d milliseconds", errBadRequest, MaxClearAfter.Milliseconds())
	}
	r.after = time.Duration(n) * time.Millisecond
	return r, nil
}
