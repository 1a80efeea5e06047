package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/mailer"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/svc"
)

type serveFlags struct {
	svc.Transport
	serverKey      string
	smtpHost       string
	smtpPort       int
	smtpImplicit   bool
	smtpUser       string
	smtpPassFile   string
	smtpCAFile     string
	smtpHelo       string
	smtpTimeout    time.Duration
	from           string
	queueSize      int
	retries        int
	retryBackoff   time.Duration
	drainTimeout   time.Duration
	ratePerAccount int
	ratePerAddress int
	trustProxy     bool
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --server-key KEY|FILE --smtp-host H --smtp-port P --from ADDR (--tls-cert F --tls-key F | --dev-tls | --insecure-http)",
		Short: "Serve POST /v1/send and deliver kit mail through an SMTP relay",
		Long: `Serve the mailer's API on ADDR until SIGTERM or SIGINT, then stop taking
requests, deliver what is queued for up to --drain-timeout, drop the rest
(logging how many) and exit 0.

--server-key is keyhold-server's public mail key (keyhold-mail-key-v1:…),
or a file holding it. Tickets not signed with it are refused.

Mail goes to the relay over TLS only: the relay must offer STARTTLS, or
with --smtp-implicit-tls speak TLS from the first byte (port 465). Its
certificate must verify for --smtp-host against the system's authorities,
or against --smtp-ca-file for a private relay. With --smtp-user, the
password (first line of --smtp-password-file) is sent with AUTH PLAIN,
inside TLS only.

Choose exactly one of:
  --tls-cert FILE --tls-key FILE   HTTPS with your certificate (reloaded when the files change)
  --dev-tls                        HTTPS with a self-signed certificate for localhost, made at
                                   each start (never written to disk); its fingerprint is printed
  --insecure-http                  plain HTTP, on a loopback address only (behind a proxy
                                   that terminates TLS on the same machine)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), &f) },
	}
	fl := cmd.Flags()
	f.AddFlags(fl, "")
	fl.StringVar(&f.serverKey, "server-key", "", "keyhold-server's public mail key, or a file holding it")
	fl.StringVar(&f.smtpHost, "smtp-host", "", "SMTP relay host name (its certificate must be valid for it)")
	fl.IntVar(&f.smtpPort, "smtp-port", 0, "SMTP relay port (587 for STARTTLS, 465 with --smtp-implicit-tls)")
	fl.BoolVar(&f.smtpImplicit, "smtp-implicit-tls", false, "speak TLS from the first byte (port 465) instead of STARTTLS")
	fl.StringVar(&f.smtpUser, "smtp-user", "", "SMTP AUTH user name")
	fl.StringVar(&f.smtpPassFile, "smtp-password-file", "", "file whose first line is the SMTP AUTH password")
	fl.StringVar(&f.smtpCAFile, "smtp-ca-file", "", "PEM file of the authorities the relay's certificate must chain to (instead of the system's)")
	fl.StringVar(&f.smtpHelo, "smtp-helo", "localhost", "the name this mailer gives in EHLO")
	fl.DurationVar(&f.smtpTimeout, "smtp-timeout", mailer.DefaultSMTPTimeout, "time limit of one delivery attempt")
	fl.StringVar(&f.from, "from", "", "sender address, a plain address such as kit@example.org")
	fl.IntVar(&f.queueSize, "queue-size", mailer.DefaultQueueSize, "mails held in memory at most; more are refused with 503")
	fl.IntVar(&f.retries, "retries", 5, "delivery attempts after the first before a mail is dropped")
	fl.DurationVar(&f.retryBackoff, "retry-backoff", mailer.DefaultRetryBackoff, "wait before the first retry; doubles each time, up to 30m")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long to keep delivering queued mail before dropping it")
	fl.IntVar(&f.ratePerAccount, "rate-per-account", mailer.DefaultRatePerAccount, "mails one account may send per hour")
	fl.IntVar(&f.ratePerAddress, "rate-per-address", mailer.DefaultRatePerAddress, "requests one source address (IPv6: its /64) may make per hour")
	fl.BoolVar(&f.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind a proxy that sets it)")
	for _, name := range []string{"listen", "server-key", "smtp-host", "smtp-port", "from"} {
		cmd.MarkFlagRequired(name)
	}
	cmd.MarkFlagsRequiredTogether("smtp-user", "smtp-password-file")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	return cmd
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	if err := f.Check(); err != nil {
		return err
	}
	for _, v := range []struct {
		name string
		n    int
		min  int
	}{{"--queue-size", f.queueSize, 1}, {"--retries", f.retries, 0}, {"--rate-per-account", f.ratePerAccount, 1},
		{"--rate-per-address", f.ratePerAddress, 1}, {"--smtp-port", f.smtpPort, 1}} {
		if v.n < v.min {
			return usagef("%s must be at least %d", v.name, v.min)
		}
	}
	if f.retryBackoff <= 0 || f.drainTimeout < 0 || f.smtpTimeout <= 0 {
		return usagef("--retry-backoff and --smtp-timeout must be positive, --drain-timeout not negative")
	}

	// From here on SIGTERM and SIGINT mean a clean shutdown, also when
	// they arrive while the mailer is still starting.
	sigCtx, stop := svc.Signals(ctx)
	defer stop()

	key, err := mailticket.LoadPublicKey(f.serverKey)
	if err != nil {
		return svc.UsageError{Err: fmt.Errorf("--server-key: %w", err)}
	}
	cfg := mailer.Config{
		ServerKey: key,
		From:      f.from,
		SMTP: mailer.SMTP{
			Host:        f.smtpHost,
			Port:        f.smtpPort,
			ImplicitTLS: f.smtpImplicit,
			User:        f.smtpUser,
			HelloName:   f.smtpHelo,
			Timeout:     f.smtpTimeout,
		},
		QueueSize:      f.queueSize,
		Retries:        f.retries,
		RetryBackoff:   f.retryBackoff,
		RatePerAccount: f.ratePerAccount,
		RatePerAddress: f.ratePerAddress,
		TrustProxy:     f.trustProxy,
	}
	if f.smtpPassFile != "" {
		if cfg.SMTP.Password, err = a.readPassword(f.smtpPassFile); err != nil {
			return err
		}
	}
	if f.smtpCAFile != "" {
		if cfg.SMTP.RootCAs, err = readCAFile(f.smtpCAFile); err != nil {
			return err
		}
	}

	tlsConf, err := f.TLSConfig(svc.DevCert{Name: "keyhold-mailer development certificate", Validity: devCertValidity}, a.stderr)
	if err != nil {
		return err
	}

	log := slog.New(slog.NewJSONHandler(a.stderr, nil))
	cfg.Logger = log
	ms, err := mailer.New(cfg)
	if err != nil {
		return svc.UsageError{Err: err}
	}
	hs := ms.HTTPServer()

	l, err := svc.Listen(hs, f.Listen, tlsConf, a.stderr)
	if err != nil {
		return err
	}
	log.Info("serving", "address", l.Addr().String(), "tls", tlsConf != nil,
		"smtp_relay", net.JoinHostPort(f.smtpHost, fmt.Sprint(f.smtpPort)), "smtp_implicit_tls", f.smtpImplicit)

	delivering := make(chan struct{})
	go func() { ms.Run(context.Background()); close(delivering) }()
	serveErr := svc.Serve(sigCtx, hs, l, log, func() {
		stop()
		log.Info("shutting down", "drain_timeout", f.drainTimeout.String(), "queued", ms.Queued())
	})
	dctx, dcancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer dcancel()
	// Shutdown logs what it delivered and dropped; dropping mail at a
	// requested stop is not a failure of the process.
	ms.Shutdown(dctx)
	<-delivering
	clear(cfg.SMTP.Password)
	return serveErr
}

// readPassword reads the first line of the SMTP password file.
func (a *app) readPassword(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, usagef("--smtp-password-file: %v", err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("--smtp-password-file: %v", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	pw := bytes.Clone(line)
	clear(b)
	if len(pw) == 0 {
		return nil, usagef("--smtp-password-file: %s is empty", name)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(a.stderr, "keyhold-mailer: warning: %s can be read by other users\nhint: chmod 600 %s\n", name, name)
	}
	return pw, nil
}

// readCAFile reads the authorities a private relay's certificate must
// chain to.
func readCAFile(name string) (*x509.CertPool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("--smtp-ca-file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, usagef("--smtp-ca-file: %s holds no PEM certificate", name)
	}
	return pool, nil
}
