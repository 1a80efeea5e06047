// Package mailer is keyhold-mailer: a small HTTPS service that relays one
// sealed recovery kit mail to the one address a mail ticket names.
//
// The mailer has no access to the account database. What it trusts is the
// ticket (internal/mailticket), signed by keyhold-server, which it checks
// with the server's public key from its own configuration; each ticket's
// nonce is accepted once. The ticket binds the SHA-256 of the payload, the
// address and the kind, so the mailer relays only what the account's
// device sealed for that address. The device renders and seals the kit
// (internal/kitmail): PGP/MIME to an OpenPGP key, or an age file; the
// mailer cannot read either. It adds the outer headers and, for age, a
// fixed text, and hands the mail to an SMTP relay over verified TLS from a
// bounded in-memory queue. Only a kit the user sent with --unencrypted
// (kind plain) is readable here.
//
// Nothing about a kit is written to disk or to the log; the composed
// message is wiped from memory once delivered or dropped. See
// docs/MAILER.md.
package mailer

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/svc"
)

// Defaults for the zero values of Config.
const (
	DefaultQueueSize      = 100
	DefaultRetryBackoff   = 30 * time.Second
	DefaultRatePerAccount = 5  // mails an account may have sent per hour
	DefaultRatePerAddress = 60 // requests one source address may make per hour
	DefaultWorkers        = 2
	DefaultSMTPTimeout    = 60 * time.Second

	// maxRetryBackoff caps the doubling wait between attempts.
	maxRetryBackoff = 30 * time.Minute
)

// Subject is the subject of every kit mail (kitmail.Subject). It is
// neutral on purpose: it travels in the clear even when the body is
// encrypted.
const Subject = kitmail.Subject

// Config is the mailer's configuration. Nothing in it points at account
// data: the server's public key is all the mailer knows of the server.
type Config struct {
	// ServerKey is keyhold-server's public mail ticket key
	// (mailticket.LoadPublicKey).
	ServerKey ed25519.PublicKey
	// From is the sender, a plain address such as kit@example.org.
	From string
	// SMTP is the relay mail is handed to.
	SMTP SMTP

	// QueueSize bounds the mails held in memory, waiting or being sent;
	// a request beyond it is refused with 503. 0: DefaultQueueSize.
	QueueSize int
	// Retries is how many times a failed delivery is tried again before
	// the mail is dropped (0: none).
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles for
	// each later one, up to 30 minutes. 0: DefaultRetryBackoff.
	RetryBackoff time.Duration
	// RatePerAccount is how many mails one account may have sent per
	// hour (at most that many at once). 0: DefaultRatePerAccount.
	RatePerAccount int
	// RatePerAddress is how many requests one source address (an IPv6
	// /64) may make per hour, refused ones included. 0:
	// DefaultRatePerAddress.
	RatePerAddress int
	// Workers is how many mails are delivered at the same time. 0:
	// DefaultWorkers.
	Workers int
	// TrustProxy takes the source address from the last X-Forwarded-For
	// entry (only behind a proxy that sets it).
	TrustProxy bool

	// Logger receives JSON-friendly structured logs. Nil: discard.
	Logger *slog.Logger
	// Registry receives the metrics. Nil: a registry of its own, served
	// at /metrics.
	Registry *prometheus.Registry
	// Now is the clock (tests). Nil: time.Now.
	Now func() time.Time
}

// SMTP says how to reach the relay. TLS is not optional: either the
// connection starts with TLS (ImplicitTLS, usually port 465) or the relay
// must offer STARTTLS, and its certificate must verify for Host.
type SMTP struct {
	Host        string
	Port        int
	ImplicitTLS bool
	// User and Password, if User is set, log in with AUTH PLAIN, which
	// is only ever sent over TLS.
	User     string
	Password []byte
	// RootCAs verifies the relay's certificate. Nil: the system's roots.
	RootCAs *x509.CertPool
	// HelloName is the name given in EHLO. "": "localhost".
	HelloName string
	// Timeout bounds one delivery attempt. 0: DefaultSMTPTimeout.
	Timeout time.Duration
}

// Server is a running mailer: an http.Handler for its API, and a delivery
// queue run by Run and stopped by Shutdown.
type Server struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	metrics *metrics
	nonces  *nonceSet
	account *limiter
	address *limiter
	q       *queue
	closing atomic.Bool
	// reqLog logs requests; a panic's value is not logged, since it
	// could hold request data.
	reqLog svc.RequestLog
}

// New checks cfg and returns a Server. Call Run to start delivering.
func New(cfg Config) (*Server, error) {
	if len(cfg.ServerKey) != ed25519.PublicKeySize {
		return nil, errors.New("mailer: the server's public mail key is missing")
	}
	if a, err := mail.ParseAddress(cfg.From); err != nil || a.Name != "" || a.Address != cfg.From || mailticket.CheckAddress(cfg.From) != nil {
		return nil, fmt.Errorf("mailer: the sender address %q is not a plain address like kit@example.org", cfg.From)
	}
	if cfg.SMTP.Host == "" {
		return nil, errors.New("mailer: the SMTP relay's host is missing")
	}
	if cfg.SMTP.Port <= 0 || cfg.SMTP.Port > 65535 {
		return nil, fmt.Errorf("mailer: the SMTP port %d is out of range", cfg.SMTP.Port)
	}
	if cfg.SMTP.User == "" && len(cfg.SMTP.Password) > 0 {
		return nil, errors.New("mailer: an SMTP password without a user name")
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"queue size", cfg.QueueSize}, {"retries", cfg.Retries}, {"rate per account", cfg.RatePerAccount},
		{"rate per address", cfg.RatePerAddress}, {"workers", cfg.Workers}} {
		if v.n < 0 {
			return nil, fmt.Errorf("mailer: the %s must not be negative", v.name)
		}
	}
	if cfg.RetryBackoff < 0 || cfg.SMTP.Timeout < 0 {
		return nil, errors.New("mailer: durations must not be negative")
	}
	cfg.QueueSize = orDefault(cfg.QueueSize, DefaultQueueSize)
	cfg.RatePerAccount = orDefault(cfg.RatePerAccount, DefaultRatePerAccount)
	cfg.RatePerAddress = orDefault(cfg.RatePerAddress, DefaultRatePerAddress)
	cfg.Workers = orDefault(cfg.Workers, DefaultWorkers)
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.SMTP.Timeout == 0 {
		cfg.SMTP.Timeout = DefaultSMTPTimeout
	}
	if cfg.SMTP.HelloName == "" {
		cfg.SMTP.HelloName = "localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		now:     cfg.Now,
		metrics: m,
		nonces:  newNonceSet(maxNonces),
		account: newLimiter(cfg.RatePerAccount, maxLimiterKeys),
		address: newLimiter(cfg.RatePerAddress, maxLimiterKeys),
		reqLog:  svc.RequestLog{Log: log, InternalError: "internal error"},
	}
	s.q = newQueue(cfg.QueueSize, cfg.Workers, s.deliver, log, m)
	s.q.retries, s.q.backoff = cfg.Retries, cfg.RetryBackoff
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/send", s.send)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", m.handler())
	return s, nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// Run delivers queued mail until ctx is done or Shutdown has finished.
// When ctx ends first, mail still held is dropped (and wiped) at once.
func (s *Server) Run(ctx context.Context) error {
	s.q.run(ctx)
	return nil
}

// Shutdown stops accepting mail and tries to deliver what is queued until
// ctx is done; then it drops what is left, wiping it, and logs how many
// mails were dropped. Mail waiting for a retry is tried once more at once.
// It returns an error naming the count if any mail was dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	sent, dropped := s.q.shutdown(ctx)
	s.log.Info("mail queue stopped", "delivered_while_draining", sent, "dropped", dropped)
	if dropped > 0 {
		return fmt.Errorf("mailer: %d mail(s) were dropped undelivered at shutdown", dropped)
	}
	return nil
}

// Queued is how many mails are held now, waiting or being sent.
func (s *Server) Queued() int { return s.q.len() }

// HTTPServer returns an http.Server serving s with the mailer's timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ServeHTTP serves one request and logs it: method, route, status and
// duration, never a header or the body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reqLog.Serve(w, r, http.HandlerFunc(s.serve))
}

// serve dispatches to the mux, answering everything else with a JSON
// error.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	svc.ServeMux(w, r, s.mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.closing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}
