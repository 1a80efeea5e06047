// Package nativemsg reads and writes the framing of browser native
// messaging, the channel between the browser extension and the native
// host: each message is a 32-bit length in the machine's native byte
// order, then that many bytes of UTF-8 JSON. Chromium and Firefox both
// speak it on the host's stdin and stdout.
//
// The package knows nothing of the messages themselves; it only makes
// sure that a length read from the pipe cannot make the host allocate
// without bound, and that a message cut short is an error rather than a
// shorter message.
package nativemsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxMessage is the largest message either side may send, in bytes.
// Chromium refuses a message of more than 1 MiB from a host (and would
// close the port), so nothing larger is ever written; the host's requests
// are small, so the same cap on reading keeps a corrupt or hostile length
// from making the host allocate up to 4 GiB.
const MaxMessage = 1 << 20

// ErrTooLarge is returned when a message is longer than MaxMessage, by
// Write before anything is written, and by Read on a length prefix that
// announces more. After it, a Reader's stream is out of step and must be
// abandoned.
var ErrTooLarge = errors.New("native message larger than " + strconv.Itoa(MaxMessage) + " bytes")

// ErrTruncated is returned when the stream ends inside a message: in its
// length prefix or in its body. It also matches io.ErrUnexpectedEOF.
var ErrTruncated = errors.New("native message cut short")

// Reader reads messages one at a time from a stream.
type Reader struct {
	r io.Reader
}

// NewReader returns a Reader of r. It reads exactly the bytes of each
// message and no further, so r may be the host's stdin without buffering.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// Read returns the next message's bytes, in a new slice the caller owns
// (and should clear once used, if it held a secret such as an unlock
// password). It returns io.EOF only when the stream ends cleanly between
// messages, which is how the browser tells a host to exit; an end inside
// a message is ErrTruncated, and a length over MaxMessage is ErrTooLarge
// (the body is not read).
func (r *Reader) Read() ([]byte, error) {
	var hdr [4]byte
	n, err := io.ReadFull(r.r, hdr[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %d of 4 length bytes: %w", ErrTruncated, n, io.ErrUnexpectedEOF)
	case err != nil:
		return nil, err
	}
	size := binary.NativeEndian.Uint32(hdr[:])
	if size > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes announced", ErrTooLarge, size)
	}
	msg := make([]byte, size)
	n, err = io.ReadFull(r.r, msg)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %d of %d bytes: %w", ErrTruncated, n, size, io.ErrUnexpectedEOF)
	case err != nil:
		return nil, err
	}
	return msg, nil
}

// Write writes msg as one message: its length, then its bytes, in a
// single Write call, so that a reader never sees a length without its
// message. Writers sharing a stream must be serialised. A message longer
// than MaxMessage is refused with ErrTooLarge before anything is written.
//
// Messages to the browser carry secrets (a fill's password), so the copy
// Write makes to frame msg is cleared once written; msg itself is the
// caller's to clear.
func Write(w io.Writer, msg []byte) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	buf := make([]byte, 4+len(msg))
	defer clear(buf)
	binary.NativeEndian.PutUint32(buf, uint32(len(msg)))
	copy(buf[4:], msg)
	_, err := w.Write(buf)
	return err
}
