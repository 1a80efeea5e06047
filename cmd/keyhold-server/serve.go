package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
)

// shutdownGrace is how long a shutdown waits for requests in flight.
const shutdownGrace = 10 * time.Second

type serveFlags struct {
	listen         string
	devTLS         bool
	tlsCert        string
	tlsKey         string
	insecureHTTP   bool
	mailerURL      string
	freeMaxDevices int
	trustProxy     bool
	newAccountPlan string
	trialDays      int
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR [--data DIR | --db URL] (--dev-tls | --tls-cert FILE --tls-key FILE | --insecure-http)",
		Short: "Serve the Keyhold API",
		Long: `Serve the Keyhold API on ADDR until SIGTERM or SIGINT.

The database is --db (or $` + envDB + `), a PostgreSQL URL, else SQLite in the
data directory. Several servers may share one PostgreSQL database.

Choose exactly one of:
  --tls-cert FILE --tls-key FILE   HTTPS with your certificate (reloaded when the files change)
  --dev-tls                        HTTPS with a self-signed certificate for localhost, kept in
                                   the data directory; its fingerprint is printed at start
  --insecure-http                  plain HTTP, on a loopback address only (behind a proxy
                                   that terminates TLS on the same machine)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8443", "address to listen on, host:port (port 0: any free port)")
	fl.BoolVar(&f.devTLS, "dev-tls", false, "serve HTTPS with a self-signed certificate for localhost (development)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate chain, PEM")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key, PEM")
	fl.BoolVar(&f.insecureHTTP, "insecure-http", false, "serve plain HTTP; only on a loopback address")
	fl.StringVar(&f.mailerURL, "mailer-url", "", "URL of the keyhold-mailer clients send recovery-kit mail requests to")
	fl.IntVar(&f.freeMaxDevices, "free-max-devices", server.DefaultMaxDevicesFree, "devices an account on the free plan may have (0: no limit)")
	fl.BoolVar(&f.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind a proxy that sets it)")
	fl.StringVar(&f.newAccountPlan, "new-account-plan", store.PlanFree, "plan of new accounts: free or trial")
	fl.IntVar(&f.trialDays, "trial-days", server.DefaultTrialDays, "length of a new account's trial, in days")
	a.addStoreFlags(cmd)
	return cmd
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	if err := checkTLSChoice(f); err != nil {
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
	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// TLS material first: a bad certificate should fail before the
	// database is touched.
	var tlsConf *tls.Config
	switch {
	case f.devTLS:
		dir, cleanup, err := a.devTLSDir()
		if err != nil {
			return err
		}
		defer cleanup()
		cert, fp, err := devCertificate(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "fingerprint: sha256:%s\n", fp)
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	case f.tlsCert != "":
		r, err := newCertReloader(f.tlsCert, f.tlsKey)
		if err != nil {
			return err
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}
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
	srv, err := server.New(server.Config{
		Store:          st,
		Logger:         log,
		Limits:         server.Limits{MaxDevicesFree: maxFree},
		MailerURL:      f.mailerURL,
		NewAccountPlan: f.newAccountPlan,
		TrialDays:      f.trialDays,
		TrustProxy:     f.trustProxy,
	})
	if err != nil {
		return err
	}
	hs := srv.HTTPServer()
	hs.TLSConfig = tlsConf

	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		l = tls.NewListener(l, tlsConf)
		hs.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	fmt.Fprintf(a.stderr, "listening on %s://%s\n", scheme, l.Addr())
	log.Info("serving", "address", l.Addr().String(), "database", st.Dialect(), "tls", tlsConf != nil)

	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-sigCtx.Done():
	}
	stop()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		log.Warn("requests still running after the grace period were cut off", "error", err.Error())
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// checkTLSChoice enforces one transport choice, and plain HTTP only where
// nothing but this machine can reach it.
func checkTLSChoice(f *serveFlags) error {
	n := 0
	for _, set := range []bool{f.devTLS, f.tlsCert != "" || f.tlsKey != "", f.insecureHTTP} {
		if set {
			n++
		}
	}
	if n == 0 {
		return usagef(`choose how clients connect:
  --tls-cert FILE --tls-key FILE  HTTPS with your certificate
  --dev-tls                       HTTPS with a self-signed certificate for localhost (development)
  --insecure-http                 plain HTTP on a loopback address, behind a local TLS proxy`)
	}
	if n > 1 {
		return usagef("give only one of --dev-tls, --tls-cert/--tls-key and --insecure-http")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if f.insecureHTTP && !isLoopback(f.listen) {
		return usagef("--insecure-http serves plain HTTP, so it is allowed only on a loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT), not %s\nhint: use --tls-cert/--tls-key to serve other machines, or put a TLS proxy on this machine in front of a loopback address", f.listen)
	}
	return nil
}

func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
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
