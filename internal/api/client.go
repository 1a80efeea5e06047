package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is the typed client of the /v1/ API. It is the only way the
// keyhold CLI talks to a server.
type Client struct {
	base  *url.URL
	http  *http.Client
	token string
	// peer names what is at the other end in errors: "server", or
	// "mailer" for keyhold-mailer, so that a mailer's certificate or
	// outage is not reported as the sync server's.
	peer string
	// UserAgent is sent with every request.
	UserAgent string
}

// ErrInsecureURL means a plain-HTTP server URL that is not on loopback.
var ErrInsecureURL = errors.New("plain http:// is only allowed for a server on this machine (127.0.0.1, ::1, localhost); use https://")

// ErrUnreachable means the server could not be reached (or the TLS
// handshake failed); the error wrapping it says why.
var ErrUnreachable = errors.New("cannot reach the server")

// ErrFingerprint means the server's certificate is not the pinned one.
var ErrFingerprint = errors.New("the server's certificate does not match the pinned fingerprint")

// ParseFingerprint accepts "sha256:HEX" or bare hex (colons allowed) and
// returns the 32 bytes.
func ParseFingerprint(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.TrimPrefix(s, "sha256:")
	s = strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("a server fingerprint is sha256: followed by 64 hex digits")
	}
	return b, nil
}

// Fingerprint formats the SHA-256 of a certificate as keyhold-server prints it.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(h[:])
}

// CheckURL validates a server URL: https, or http on loopback only.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not a server URL (expected https://HOST[:PORT])", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, ErrInsecureURL
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewClient makes a client for the server at rawURL. If fingerprint is not
// empty, the server's certificate must have exactly that SHA-256 (for a
// self-signed development certificate); otherwise the system's roots
// verify it.
func NewClient(rawURL, fingerprint string) (*Client, error) {
	return NewPeerClient(rawURL, fingerprint, "server")
}

// NewPeerClient is NewClient for another keyhold service (peer is
// "mailer" for keyhold-mailer), named so in errors.
func NewPeerClient(rawURL, fingerprint, peer string) (*Client, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if fingerprint != "" {
		want, err := ParseFingerprint(fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces chain verification: the certificate is
		// self-signed, and only its exact bytes are trusted.
		tr.TLSClientConfig.InsecureSkipVerify = true
		tr.TLSClientConfig.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return peerError{ErrFingerprint, "the " + peer + "'s certificate does not match the pinned fingerprint"}
			}
			got := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("%w (it has %s)", peerError{ErrFingerprint, "the " + peer + "'s certificate does not match the pinned fingerprint"}, Fingerprint(raw[0]))
			}
			return nil
		}
	}
	hc := &http.Client{Transport: tr, Timeout: 0, CheckRedirect: refuseRedirect(u.Host)}
	return &Client{base: u, http: hc, peer: peer, UserAgent: "keyhold"}, nil
}

// NewClientHTTP is NewClient over the caller's HTTP client: a program
// whose HTTP stack is not this process's own (in a browser, Go's net/http
// uses fetch) or that pins certificates its own way. Redirects are still
// refused; hc itself is not changed.
func NewClientHTTP(rawURL string, hc *http.Client) (*Client, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := *hc
	c.CheckRedirect = refuseRedirect(u.Host)
	return &Client{base: u, http: &c, peer: "server", UserAgent: "keyhold"}, nil
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// SetToken sets the session token sent as a bearer token.
func (c *Client) SetToken(t string) { c.token = t }

// Token is the session token in use.
func (c *Client) Token() string { return c.token }

// APIError is an error answer from the server.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
	// Peer is who answered when it is not the sync server ("mailer").
	Peer string
}

func (e *APIError) Error() string {
	peer := "server"
	if e.Peer != "" {
		peer = e.Peer
	}
	if e.Message != "" {
		return peer + ": " + e.Message
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", peer, e.Code, e.Status)
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// requestTimeout bounds ordinary requests; pushes and rotations of a large
// vault get transferTimeout.
const requestTimeout = 2 * time.Minute

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doWithin(ctx, requestTimeout, method, path, q, in, out)
}

// transferTimeout bounds a push or rotation, which may carry a whole vault.
const transferTimeout = 30 * time.Minute

func (c *Client) doWithin(ctx context.Context, timeout time.Duration, method, path string, q url.Values, in, out any) error {
	return c.doHeader(ctx, timeout, method, path, q, nil, in, out)
}

// doHeader is doWithin with extra request headers.
func (c *Client) doHeader(ctx context.Context, timeout time.Duration, method, path string, q url.Values, hdr http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrRedirect) {
			return unwrapURLError(err)
		}
		return fmt.Errorf("%w at %s: %w", c.unreachable(), c.base.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.readError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	var src io.Reader = &limitedReader{r: resp.Body, n: answerLimit(path)}
	if cr, ok := out.(*ChangesResponse); ok {
		// A page of changes is read whole and decoded by
		// decodeChangesFast when it is in the server's own form;
		// otherwise by encoding/json as every other answer.
		var buf bytes.Buffer
		if n := resp.ContentLength; n > 0 && n <= answerLimit(path) {
			buf.Grow(int(n) + 1)
		}
		if _, err := buf.ReadFrom(src); err != nil {
			return c.answerError(path, err)
		}
		if decodeChangesFast(buf.Bytes(), cr) {
			sanitizeAnswer(out)
			return nil
		}
		*cr = ChangesResponse{}
		src = &buf
	}
	if err := json.NewDecoder(src).Decode(out); err != nil {
		return c.answerError(path, err)
	}
	sanitizeAnswer(out)
	return nil
}

// answerError is the error for an answer to path that could not be read
// or decoded.
func (c *Client) answerError(path string, err error) error {
	if errors.Is(err, ErrAnswerTooLarge) {
		return fmt.Errorf("the server at %s sent an answer to %s longer than the %d bytes it may be: %w", c.base.Host, path, answerLimit(path), err)
	}
	return fmt.Errorf("the server at %s sent an unreadable answer: %v", c.base.Host, err)
}

// peerError is a sentinel error (ErrUnreachable, ErrFingerprint) said of
// a named peer: errors.Is still finds the sentinel.
type peerError struct {
	sentinel error
	msg      string
}

func (e peerError) Error() string { return e.msg }
func (e peerError) Unwrap() error { return e.sentinel }

// unreachable is ErrUnreachable said of this client's peer.
func (c *Client) unreachable() error {
	if c.peer == "" || c.peer == "server" {
		return ErrUnreachable
	}
	return peerError{ErrUnreachable, "cannot reach the " + c.peer}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readError reads an error answer, naming the client's peer if it is not
// the server.
func (c *Client) readError(resp *http.Response) error {
	err := readError(resp)
	var ae *APIError
	if c.peer != "" && c.peer != "server" && errors.As(err, &ae) {
		ae.Peer = c.peer
	}
	return err
}

func readError(resp *http.Response) error {
	ae := &APIError{Status: resp.StatusCode, Code: CodeInternal}
	var e Error
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e) == nil && e.Error.Code != "" {
		ae.Code, ae.Message = e.Error.Code, Printable(e.Error.Message)
		ae.RetryAfter = time.Duration(e.Error.RetryAfter) * time.Second
	}
	if s := resp.Header.Get("Retry-After"); s != "" && ae.RetryAfter == 0 {
		if n, err := strconv.Atoi(s); err == nil {
			ae.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return ae
}

// RegisterStart sends the first PAKE registration message.
func (c *Client) RegisterStart(ctx context.Context, r *RegisterStartRequest) (*RegisterStartResponse, error) {
	var out RegisterStartResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/register/start", nil, r, &out)
}

// CreateAccount creates an account.
func (c *Client) CreateAccount(ctx context.Context, r *CreateAccountRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/accounts", nil, r, nil)
}

// LoginStart sends KE1.
func (c *Client) LoginStart(ctx context.Context, r *LoginStartRequest) (*LoginStartResponse, error) {
	var out LoginStartResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/login/start", nil, r, &out)
}

// LoginFinish sends KE3 and, on success, keeps the session token (a
// reauth login keeps the token it was sent with).
func (c *Client) LoginFinish(ctx context.Context, r *LoginFinishRequest) (*LoginFinishResponse, error) {
	var out LoginFinishResponse
	if err := c.do(ctx, http.MethodPost, "/v1/login/finish", nil, r, &out); err != nil {
		return nil, err
	}
	if !r.Reauth {
		c.token = out.Token
	}
	return &out, nil
}

// Logout ends this session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/logout", nil, nil, nil)
}

// Account returns the account as the server keeps it.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	var out Account
	return &out, c.do(ctx, http.MethodGet, "/v1/account", nil, nil, &out)
}

// Keys returns the envelope, key check and rotation transition.
func (c *Client) Keys(ctx context.Context) (*Keys, error) {
	var out Keys
	return &out, c.do(ctx, http.MethodGet, "/v1/account/keys", nil, nil, &out)
}

// SetPassword replaces the envelope and PAKE record.
func (c *Client) SetPassword(ctx context.Context, r *PasswordRequest) error {
	return c.do(ctx, http.MethodPut, "/v1/account/password", nil, r, nil)
}

// Rotate replaces every revision and the keys in one transaction.
func (c *Client) Rotate(ctx context.Context, r *RotateRequest) (*PushResponse, error) {
	var out PushResponse
	return &out, c.doHeader(ctx, transferTimeout, http.MethodPost, "/v1/account/rotate", nil, keyVersionHeader(r.KeyVersion), r, &out)
}

// Log returns the newest audit events, newest first.
func (c *Client) Log(ctx context.Context, limit int) ([]Event, error) {
	var out []Event
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out, c.do(ctx, http.MethodGet, "/v1/account/log", q, nil, &out)
}

// SyncSettings returns the account's sync settings.
func (c *Client) SyncSettings(ctx context.Context) (*SyncSettings, error) {
	var out SyncSettings
	return &out, c.do(ctx, http.MethodGet, "/v1/account/sync-settings", nil, nil, &out)
}

// PutSyncSettings stores the account's sync settings.
func (c *Client) PutSyncSettings(ctx context.Context, s *SyncSettings) error {
	return c.do(ctx, http.MethodPut, "/v1/account/sync-settings", nil, s, nil)
}

// Devices lists the account's devices.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var out []Device
	return out, c.do(ctx, http.MethodGet, "/v1/devices", nil, nil, &out)
}

// RevokeDevice revokes a device: its sessions end at once.
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(id), nil, nil, nil)
}

// Changes returns one page of revisions after since.
func (c *Client) Changes(ctx context.Context, since uint64, limit int) (*ChangesResponse, error) {
	var out ChangesResponse
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return &out, c.do(ctx, http.MethodGet, "/v1/sync/changes", q, nil, &out)
}

// Push sends new revisions.
func (c *Client) Push(ctx context.Context, r *PushRequest) (*PushResponse, error) {
	var out PushResponse
	return &out, c.doHeader(ctx, transferTimeout, http.MethodPost, "/v1/sync/push", nil, keyVersionHeader(r.KeyVersion), r, &out)
}

// Events follows the account's head over server-sent events and calls fn
// for each one until ctx ends or the stream breaks.
func (c *Client) Events(ctx context.Context, fn func(HeadEvent)) error {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/sync/events"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", c.UserAgent)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", c.unreachable(), c.base.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return c.readError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			event = ""
		case strings.HasPrefix(line, ":"):
			// heartbeat comment
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "head":
			var h HeadEvent
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &h); err == nil {
				fn(h)
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the server's event stream broke: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("the server closed the event stream")
}

// LoginParams returns the envelope header a device needs to derive its
// login key before it can log in.
func (c *Client) LoginParams(ctx context.Context, accountID string) (*LoginParamsResponse, error) {
	var out LoginParamsResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/login/params", nil, &LoginParamsRequest{AccountID: accountID}, &out)
}

// MailTicket asks the server for a ticket to email the kit to one address.
func (c *Client) MailTicket(ctx context.Context, r *MailTicketRequest) (*MailTicketResponse, error) {
	var out MailTicketResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/mail/ticket", nil, r, &out)
}

// SendKit hands a kit and its ticket to keyhold-mailer (a Client made for
// the mailer's URL).
func (c *Client) SendKit(ctx context.Context, r *MailSendRequest) (*MailSendResponse, error) {
	var out MailSendResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/send", nil, r, &out)
}
