package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
	"github.com/keyhold/keyhold/internal/webui"
)

type serveFlags struct {
	svc.Transport
	mailerURL      string
	freeMaxDevices int
	trustProxy     bool
	newAccountPlan string
	trialDays      int
	metricsListen  string
	secrets        string
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR [--data DIR | --db URL] (--dev-tls | --tls-cert FILE --tls-key FILE | --insecure-http) [--metrics-listen ADDR] [--secrets FILE]",
		Short: "Serve the Keyhold API and the web vault",
		Long: `Serve the Keyhold API (under /v1/) and the web vault (at /) on ADDR
until SIGTERM or SIGINT.

The database is --db (or $` + envDB + `), a PostgreSQL URL, else SQLite in the
data directory. Several servers may share one PostgreSQL database.

Choose exactly one of:
  --tls-cert FILE --tls-key FILE   HTTPS with your certificate (reloaded when the files change)
  --dev-tls                        HTTPS with a self-signed certificate for localhost, kept in
                                   the data directory; its fingerprint is printed at start
  --insecure-http                  plain HTTP, on a loopback address only (behind a proxy
                                   that terminates TLS on the same machine)

/metrics is served on the API port unless --metrics-listen gives it an
address of its own (plain HTTP: keep it on loopback or a monitoring network).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), &f) },
	}
	fl := cmd.Flags()
	f.AddFlags(fl, "127.0.0.1:8443")
	fl.StringVar(&f.mailerURL, "mailer-url", "", "URL of the keyhold-mailer clients send recovery-kit mail requests to")
	fl.IntVar(&f.freeMaxDevices, "free-max-devices", server.DefaultMaxDevicesFree, "devices an account on the free plan may have (0: no limit)")
	fl.BoolVar(&f.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind a proxy that sets it)")
	fl.StringVar(&f.newAccountPlan, "new-account-plan", store.PlanFree, "plan of new accounts: free or trial")
	fl.IntVar(&f.trialDays, "trial-days", server.DefaultTrialDays, "length of a new account's trial, in days")
	fl.StringVar(&f.secrets, "secrets", "", "read the server's long-term secrets from this file (mode 0600) instead of the database (or set "+envSecrets+" to its content)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "serve /metrics on this address (plain HTTP, e.g. 127.0.0.1:9090) instead of the API port")
	a.addStoreFlags(cmd)
	return cmd
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	if err := f.Check(); err != nil {
		return err
	}
	if f.mailerURL != "" {
		if u, err := url.Parse(f.mailerURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usagef("--mailer-url must be an https:// URL")
		}
	}
	if f.freeMaxDevices < 0 {
		return usagef("--free-max-devices must be 0 (no limit) or more")
	}
	if f.newAccountPlan != store.PlanFree && f.newAccountPlan != store.PlanTrial {
		return usagef("--new-account-plan must be free or trial")
	}
	if f.trialDays < 1 {
		return usagef("--trial-days must be at least 1")
	}

	// From here on SIGTERM and SIGINT mean a clean shutdown, also when
	// they arrive while the server is still starting.
	sigCtx, stop := svc.Signals(ctx)
	defer stop()

	// TLS material first: a bad certificate should fail before the
	// database is touched.
	dev := svc.DevCert{Name: "keyhold-server development certificate", Validity: devCertValidity}
	if f.DevTLS {
		dir, cleanup, err := a.devTLSDir()
		if err != nil {
			return err
		}
		defer cleanup()
		dev.Dir = dir
	}
	tlsConf, err := f.TLSConfig(dev, a.stderr)
	if err != nil {
		return err
	}

	secrets, err := loadSecrets(f.secrets)
	if err != nil {
		return err
	}

	log := slog.New(slog.NewJSONHandler(a.stderr, nil))
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	maxFree := f.freeMaxDevices
	if maxFree == 0 {
		maxFree = -1 // Limits: negative means no limit
	}
	web, err := webui.New(webui.Options{})
	if err != nil {
		return fmt.Errorf("the web vault built into this binary: %w", err)
	}
	srv, err := server.New(server.Config{
		Store:           st,
		Logger:          log,
		Limits:          server.Limits{MaxDevicesFree: maxFree},
		MailerURL:       f.mailerURL,
		NewAccountPlan:  f.newAccountPlan,
		TrialDays:       f.trialDays,
		TrustProxy:      f.trustProxy,
		SeparateMetrics: f.metricsListen != "",
		Secrets:         secrets,
		Web:             web,
	})
	if err != nil {
		return err
	}
	hs := srv.HTTPServer()

	// Every listener is bound before anything says the server listens: a
	// supervisor or script that waits for "listening on" must not see it
	// from a server that is about to fail on its metrics address.
	var ml net.Listener
	if f.metricsListen != "" {
		if ml, err = net.Listen("tcp", f.metricsListen); err != nil {
			return fmt.Errorf("--metrics-listen: listen on %s: %w", f.metricsListen, err)
		}
	}
	l, err := svc.Listen(hs, f.Listen, tlsConf, a.stderr)
	if err != nil {
		if ml != nil {
			ml.Close()
		}
		return err
	}
	webVault := "not built into this binary"
	if web.Built() {
		webVault = web.ID()
	}
	log.Info("serving", "address", l.Addr().String(), "database", st.Dialect(), "tls", tlsConf != nil, "web_vault", webVault)
	if ml != nil {
		defer a.serveMetrics(ml, srv, log)()
	}

	return svc.Serve(sigCtx, hs, l, log, func() {
		stop()
		log.Info("shutting down")
	})
}

// serveMetrics serves srv's metrics on ml, plain HTTP, until the
// returned stop is called. Metrics hold no account data (metrics.go), but
// they say how busy the server is: an operator keeps addr on loopback or
// a monitoring network.
func (a *app) serveMetrics(ml net.Listener, srv *server.Server, log *slog.Logger) (stop func()) {
	ms := &http.Server{
		Handler:           srv.MetricsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(a.stderr, "metrics on http://%s/metrics\n", ml.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ms.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics failed", "error", err.Error())
		}
	}()
	return func() { ms.Close(); <-done }
}

// devTLSDir is where the development certificate is kept: the data
// directory, or with --db and no --data a temporary directory (then the
// fingerprint changes at each start).
func (a *app) devTLSDir() (dir string, cleanup func(), err error) {
	if a.dbURL() != "" && a.data == "" {
		d, err := os.MkdirTemp("", "keyhold-server-tls-")
		if err != nil {
			return "", nil, err
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	d, err := a.dataDir()
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", nil, fmt.Errorf("data directory: %w", err)
	}
	return d, func() {}, nil
}
