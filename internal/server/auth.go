package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// tokenSize is the length of a session token's random bytes. The token on
// the wire is their unpadded base64url form (43 characters).
const tokenSize = 32

// touchEvery is how often a device's last-seen time is written: more often
// would turn every request into a database write.
const touchEvery = time.Minute

// newToken makes a session token and the SHA-256 the store keeps. Only the
// hash is stored, so a copy of the database holds no usable token.
func newToken() (string, [32]byte, error) {
	var b [tokenSize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256(b[:])
	clear(b[:])
	return tok, h, nil
}

// errNoToken and errBadToken say why a request has no session.
var (
	errNoToken  = errors.New("no bearer token")
	errBadToken = errors.New("malformed bearer token")
)

// tokenHash reads the bearer token of r and returns its SHA-256.
func tokenHash(r *http.Request) ([32]byte, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return [32]byte{}, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return [32]byte{}, errBadToken
	}
	tok = strings.TrimSpace(tok)
	if len(tok) != base64.RawURLEncoding.EncodedLen(tokenSize) {
		return [32]byte{}, errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != tokenSize {
		return [32]byte{}, errBadToken
	}
	sum := sha256.Sum256(b)
	clear(b)
	return sum, nil
}

// authed is what an authenticated handler knows: the session, and the
// account it belongs to (loaded fresh for this request).
type authed struct {
	hash    [32]byte
	session *store.Session
	account *store.Account
}

type authHandler func(w http.ResponseWriter, r *http.Request, a *authed)

// auth wraps h so that it runs only with a live session of an enabled
// account, and hands it that session's account.
func (s *Server) auth(h authHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		h(w, r, a)
	}
}

// authenticate checks the bearer token of r and answers the failure
// itself; ok reports whether the request may go on.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (a *authed, ok bool) {
	hash, err := tokenHash(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyhold"`)
		msg := "this endpoint needs a session: log in first"
		if errors.Is(err, errBadToken) {
			msg = "the Authorization header does not hold a keyhold session token"
		}
		svc.WriteError(w, http.StatusUnauthorized, api.CodeUnauthorized, msg, 0)
		return nil, false
	}
	a, err = s.session(r, hash)
	if err != nil {
		s.authError(w, r, err)
		return nil, false
	}
	setLogAccount(r, a.account.ID)
	s.touch(r, a.session)
	return a, true
}

// errDisabled means the session's account was disabled by the operator.
var errDisabled = errors.New("account disabled")

// session loads the session with token hash and its account. It gives
// store.ErrNotFound for a missing, expired or revoked session,
// errDisabled for a disabled account, and errNarrowed for a session
// narrowed by a key rotation asking for more than following it needs.
func (s *Server) session(r *http.Request, hash [32]byte) (*authed, error) {
	sess, err := s.st.Session(r.Context(), hash, s.now())
	if err != nil {
		return nil, err
	}
	acct, err := s.st.Account(r.Context(), sess.AccountID)
	if err != nil {
		return nil, err
	}
	if acct.Disabled {
		return nil, errDisabled
	}
	if sess.Narrowed && !followsRotation(r.Pattern) {
		return nil, errNarrowed
	}
	return &authed{hash: hash, session: sess, account: acct}, nil
}

func (s *Server) authError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyhold", error="invalid_token"`)
		svc.WriteError(w, http.StatusUnauthorized, api.CodeUnauthorized, "the session has expired or was ended; log in again", 0)
	case errors.Is(err, errNarrowed):
		narrowedError(w)
	case errors.Is(err, errDisabled):
		svc.WriteError(w, http.StatusForbidden, api.CodeDisabled, "this account is disabled; contact the server's operator", 0)
	default:
		s.internal(w, r, err)
	}
}

// touches remembers when this replica last wrote each device's last-seen
// time. Another replica may write it too: the rule bounds writes per
// replica, which is what matters for load.
type touches struct {
	mu   sync.Mutex
	last map[store.ID]time.Time
}

func (t *touches) init() { t.last = make(map[store.ID]time.Time) }

// due reports whether device d's last-seen time should be written now, and
// if so notes that it is.
func (t *touches) due(d store.ID, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[d]; ok && now.Sub(last) < touchEvery && !now.Before(last) {
		return false
	}
	if len(t.last) > 100_000 { // forget everything rather than grow without bound
		clear(t.last)
	}
	t.last[d] = now
	return true
}

func (s *Server) touch(r *http.Request, sess *store.Session) {
	now := s.now()
	if !s.touches.due(sess.DeviceID, now) {
		return
	}
	if err := s.st.TouchDevice(r.Context(), sess.AccountID, sess.DeviceID, now); err != nil {
		// Last-seen is informational: the request goes on.
		s.log.Warn("recording device last-seen failed", "error", err.Error())
	}
}

// source is the client address as the audit log shows it.
func (s *Server) source(r *http.Request) string {
	a := svc.ClientAddr(r, s.cfg.TrustProxy)
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
