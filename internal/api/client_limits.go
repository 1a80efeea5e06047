package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// MaxPageBytes bounds the item boxes in one page of changes. The server
// stops a page before it would pass this (a page always holds at least
// one revision, and a box is at most MaxBox), so a device can bound what
// it reads for one page.
const MaxPageBytes = 8 << 20

// Limits on answers the client reads, per endpoint. Each is far above what
// an honest server sends and far below what would hurt a device: a server
// that sends more is refused before the rest is read, so a broken or
// hostile server cannot make a device hold an answer of any size.
const (
	maxParamsAnswer = 1 << 10  // login params: a 67-byte envelope header, in base64
	maxPAKEAnswer   = 16 << 10 // login and registration: PAKE messages of at most 4 KiB, in base64
	maxSmallAnswer  = 64 << 10 // account, ticket, session and other small answers
	maxKeysAnswer   = 1 << 20  // envelope, key check, transition (each ≤ 64 KiB, base64)
	maxListAnswer   = 4 << 20  // audit log (≤ 1000 events), devices, sync settings
	// maxChangesAnswer is one page of changes: MaxPageBytes of boxes plus
	// one box over, in base64, and per revision its ids and numbers; plus
	// the manifest.
	maxChangesAnswer = (MaxPageBytes+MaxBox)/3*4 + MaxPageSize*256 + 2*maxKeyBlob + 4096
)

// answerLimit is the largest answer the client reads from path.
func answerLimit(path string) int64 {
	switch path {
	case "/v1/login/params":
		return maxParamsAnswer
	case "/v1/login/start", "/v1/login/finish", "/v1/register/start":
		return maxPAKEAnswer
	case "/v1/sync/changes":
		return maxChangesAnswer
	case "/v1/account/keys":
		return maxKeysAnswer
	case "/v1/account/log", "/v1/devices", "/v1/account/sync-settings":
		return maxListAnswer
	case "/v1/sync/push", "/v1/account/rotate":
		// One entry per item pushed (at most MaxPushItems).
		return maxListAnswer
	}
	return maxSmallAnswer
}

// ErrAnswerTooLarge means the server sent a longer answer than the
// endpoint allows; the client stopped reading it.
var ErrAnswerTooLarge = errors.New("the server sent a longer answer than this request allows")

// ErrRedirect means the server answered with a redirect. The client never
// follows one: the request would carry the session token to wherever the
// server pointed.
var ErrRedirect = errors.New("the server answered with a redirect, which keyhold does not follow")

// refuseRedirect is the http.Client's CheckRedirect: it refuses every
// redirect, naming the server and where it pointed (made printable: it is
// the server's text).
func refuseRedirect(server string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		to := Printable(req.URL.Redacted())
		if len(to) > 200 {
			to = to[:200] + "…"
		}
		return fmt.Errorf("%w: the server at %s redirected to %s; if that is where your server now lives, set that URL instead", ErrRedirect, server, to)
	}
}

// limitedReader reads at most n bytes and then fails with
// ErrAnswerTooLarge (io.LimitReader would end quietly, which a JSON
// decoder reports as a truncated answer).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells a long answer from one that fits exactly.
		var b [1]byte
		if _, err := io.ReadFull(l.r, b[:]); err != nil {
			return 0, err // io.EOF: the answer fit
		}
		return 0, ErrAnswerTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// keyVersionHeader declares the key version of a large request's body
// (KeyVersionHeader); 0, "not stated", sends none.
func keyVersionHeader(v uint32) http.Header {
	if v == 0 {
		return nil
	}
	return http.Header{KeyVersionHeader: {strconv.FormatUint(uint64(v), 10)}}
}
