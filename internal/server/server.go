// Package server is keyhold-server's HTTP API (docs/API.md): accounts,
// OPAQUE login, sessions, devices, the sync feed and its event stream, and
// the signed tickets that let keyhold-mailer email a recovery kit.
//
// It holds no plaintext and cannot: item boxes, envelopes, key checks and
// manifests are opaque bytes sealed by clients, and the package does not
// import the packages that could open them (deps_test.go checks this). All
// state that matters lives in the store, so several replicas may serve one
// PostgreSQL database.
//
// Every authenticated handler takes the account from the session, never
// from the request: a token of one account cannot name another account's
// data.
package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero values of Config.
const (
	DefaultSessionTTL     = 30 * 24 * time.Hour
	DefaultMaxDevicesFree = 5
	DefaultTrialDays      = 30
	DefaultHeartbeat      = 25 * time.Second
)

// loginTTL is how long a pending login waits for its second message.
const loginTTL = 2 * time.Minute

// pakeKeysName is the store secret holding the PAKE server keys.
const pakeKeysName = "pake-server-keys"

// Limits are the plan limits the server enforces.
type Limits struct {
	// MaxDevicesFree is how many active devices an account on the free
	// plan may have: 0 means DefaultMaxDevicesFree, a negative value no
	// limit. Trial, premium and other plans have no device limit.
	MaxDevicesFree int
}

// Config configures a Server. Only Store is required.
type Config struct {
	Store  store.Store
	Logger *slog.Logger // nil: discard
	Limits Limits

	// SessionTTL is how long a login session lasts (0: DefaultSessionTTL).
	// Sessions do not slide: a device logs in again when its session ends.
	SessionTTL time.Duration

	// MailerURL is shown to clients in GET /v1/account and with every mail
	// ticket: where they send a recovery kit mail request. Empty: no
	// mailer (tickets are still signed, for a mailer the client knows).
	MailerURL string

	// NewAccountPlan is the plan of a new account: store.PlanFree (the
	// default, for "") or store.PlanTrial, which lasts TrialDays
	// (0: DefaultTrialDays) from the day the account is created.
	NewAccountPlan string
	TrialDays      int

	// TrustProxy takes the client address from the last X-Forwarded-For
	// entry (the one the proxy in front added) instead of the connection.
	// Only set it behind a proxy that sets the header: otherwise any
	// client can pick the address its failed logins are counted under.
	TrustProxy bool

	// Now is the clock for sessions, logins, throttles and plans
	// (nil: time.Now). Tests move it.
	Now func() time.Time

	// Heartbeat is the interval of comments on the event stream, which
	// keep proxies from closing an idle stream (0: DefaultHeartbeat).
	Heartbeat time.Duration

	// MaxLargeRequests is how many large requests (push, rotate) this
	// replica serves at once (0: DefaultMaxLargeRequests); each may hold
	// its body in memory.
	MaxLargeRequests int

	// Secrets are the server's long-term secrets. Nil: they are kept in
	// the database, made on first use. Set (serve --secrets), they are
	// used as given, the database need not hold them, and if it does they
	// must be the same.
	Secrets *Secrets

	// SeparateMetrics leaves /metrics off the API: the caller serves
	// MetricsHandler on a listener of its own (--metrics-listen).
	SeparateMetrics bool

	// Registry receives the server's metrics. Nil: a registry of its own,
	// with the Go and process collectors, served at /metrics.
	Registry *prometheus.Registry

	// Web serves every path outside /v1/ that no route of the API or of
	// operations (/healthz, /readyz, /metrics) takes: keyhold-server puts
	// the web vault there (internal/webui). Nil: such paths get the API's
	// JSON 404. The package does not import the web vault itself, which
	// keeps what it links small and free of the client's code.
	Web http.Handler
}

// Server serves the API. It is an http.Handler; HTTPServer wraps it with
// the timeouts keyhold-server uses.
type Server struct {
	cfg Config
	st  store.Store
	pk  *pake.Server
	// fakeHeaderKey derives the envelope headers of unknown accounts.
	fakeHeaderKey []byte
	// mailKey signs mail tickets (mail.go).
	mailKey ed25519.PrivateKey

	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	metrics *metrics
	reqLog  svc.RequestLog

	done      chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
	streams   streams
	touches   touches
	lockouts  auditedLockouts
	bigReqs   largeRequests
	// lastExpiry is when this replica last expired throttle counts
	// (UnixNano; limits.go).
	lastExpiry atomic.Int64
}

// New checks cfg and builds the server. It loads the PAKE server keys and
// the mail ticket key from the store, creating them on first use, so every
// replica sharing a database uses the same keys.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Limits.MaxDevicesFree == 0 {
		cfg.Limits.MaxDevicesFree = DefaultMaxDevicesFree
	}
	switch cfg.NewAccountPlan {
	case "":
		cfg.NewAccountPlan = store.PlanFree
	case store.PlanFree, store.PlanTrial:
	default:
		return nil, fmt.Errorf("server: a new account's plan must be %s or %s, not %q", store.PlanFree, store.PlanTrial, cfg.NewAccountPlan)
	}
	if cfg.TrialDays <= 0 {
		cfg.TrialDays = DefaultTrialDays
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MaxLargeRequests <= 0 {
		cfg.MaxLargeRequests = DefaultMaxLargeRequests
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sec, inDB, err := loadSecrets(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Secrets != nil && inDB {
		cfg.Logger.Warn("the database still holds the server secrets given separately: a copy of the database holds them too; remove them with keyhold-server admin secrets remove --secrets FILE")
	}
	pk, err := pake.NewServer(sec.PAKEKeys)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	fhk := bytes.Clone(sec.FakeHeaderKey)
	mk, err := mailticket.KeyFromSeed(sec.MailKeySeed)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if cfg.Secrets == nil {
		sec.Clear()
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:           cfg,
		st:            cfg.Store,
		pk:            pk,
		fakeHeaderKey: fhk,
		mailKey:       mk,
		log:           cfg.Logger,
		now:           cfg.Now,
		metrics:       m,
		reqLog: svc.RequestLog{
			Log:           cfg.Logger,
			InternalError: "internal server error",
			LogPanicValue: true,
			Observe:       m.observe,
			Attrs:         logAttrs,
		},
		done: make(chan struct{}),
	}
	s.streams.init()
	s.touches.init()
	s.bigReqs.init(cfg.MaxLargeRequests)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	s.mux = mux
	body := func(max int64, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				tooLarge(w, max) // unread
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
			h(w, r)
		}
	}
	// Unauthenticated.
	mux.HandleFunc("POST /v1/register/start", body(api.MaxBody, s.registerStart))
	mux.HandleFunc("POST /v1/accounts", body(api.MaxBody, s.createAccount))
	mux.HandleFunc("POST /v1/login/params", body(api.MaxBody, s.loginParams))
	mux.HandleFunc("POST /v1/login/start", body(api.MaxBody, s.loginStart))
	mux.HandleFunc("POST /v1/login/finish", body(api.MaxBody, s.loginFinish))
	// Authenticated: the account comes from the session.
	mux.HandleFunc("POST /v1/logout", body(api.MaxBody, s.auth(s.logout)))
	mux.HandleFunc("GET /v1/account", s.auth(s.account))
	mux.HandleFunc("GET /v1/account/keys", s.auth(s.keys))
	mux.HandleFunc("PUT /v1/account/password", body(api.MaxBody, s.auth(s.password)))
	mux.HandleFunc("POST /v1/account/rotate", s.large(api.MaxRotateBody, 30*time.Minute, rotateVersion, s.rotate))
	mux.HandleFunc("GET /v1/account/log", s.auth(s.auditLog))
	mux.HandleFunc("GET /v1/account/sync-settings", s.auth(s.getSyncSettings))
	mux.HandleFunc("PUT /v1/account/sync-settings", body(api.MaxBody, s.auth(s.putSyncSettings)))
	mux.HandleFunc("GET /v1/devices", s.auth(s.devices))
	mux.HandleFunc("DELETE /v1/devices/{id}", s.auth(s.revokeDevice))
	mux.HandleFunc("GET /v1/sync/changes", s.auth(s.changes))
	mux.HandleFunc("POST /v1/sync/push", s.large(api.MaxPushBody, 5*time.Minute, pushVersion, s.push))
	mux.HandleFunc("GET /v1/sync/events", s.auth(s.events))
	mux.HandleFunc("POST /v1/mail/ticket", body(api.MaxBody, s.auth(s.mailTicket)))
	// Operations.
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if !s.cfg.SeparateMetrics {
		mux.Handle("GET /metrics", s.metrics.handler())
	}
}

// MetricsHandler serves the server's metrics in the Prometheus text
// format, for a listener other than the API's (Config.SeparateMetrics).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}

// ServeHTTP serves one request and logs it: one JSON line with the method,
// route pattern, status and duration (and the account once authenticated),
// never a header, token or body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	s.reqLog.Serve(w, r, http.HandlerFunc(s.serve))
}

// logAttrs adds the account, once authenticated, to a request's log line.
func logAttrs(r *http.Request) []slog.Attr {
	if info, ok := r.Context().Value(infoKey{}).(*reqInfo); ok && info.account != "" {
		return []slog.Attr{slog.String("account", info.account)}
	}
	return nil
}

// serve dispatches to the mux, answering unknown paths and wrong methods
// with a JSON error like every other failure.
//
// Paths outside /v1/ that no route takes go to Config.Web, logged (and
// counted in metrics) under the one route "web", so that a client
// cannot make up route labels.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Web != nil && !strings.HasPrefix(r.URL.Path, "/v1/") {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			r.Pattern = webRoute
			s.cfg.Web.ServeHTTP(w, r)
			return
		}
	}
	svc.ServeMux(w, r, s.mux)
}

// webRoute is the route name of requests Config.Web serves.
const webRoute = "web"

// Close ends every event stream this server is serving. Call it when the
// HTTP server shuts down (HTTPServer registers it), since a stream never
// goes idle on its own. The Server must not be used afterwards.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// HTTPServer returns an http.Server serving s with keyhold-server's
// timeouts; its Shutdown ends s's event streams. The read timeout is short
// (authReadTimeout): routes that need longer (push, rotate, the event
// stream) extend their deadlines themselves, once the request is
// authorised.
func (s *Server) HTTPServer() *http.Server {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       authReadTimeout,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.Close)
	return hs
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.st.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "error", err.Error())
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "database unreachable\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// reqInfo carries what the request log line may say about a request.
type reqInfo struct {
	account string
}

type infoKey struct{}

func setLogAccount(r *http.Request, id store.ID) {
	if info, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		info.account = api.FormatID(id)
	}
}
