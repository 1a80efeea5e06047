package svc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os/signal"
	"syscall"
	"time"
)

// ShutdownGrace is how long a shutdown waits for requests in flight.
const ShutdownGrace = 10 * time.Second

// Transport is how clients reach a service: the flags --listen, --dev-tls,
// --tls-cert/--tls-key and --insecure-http, the same for both services.
type Transport struct {
	Listen       string
	DevTLS       bool
	TLSCert      string
	TLSKey       string
	InsecureHTTP bool
}

// flagSet is the part of a cobra command's flag set AddFlags uses.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

// AddFlags adds the transport flags to fl; listen is --listen's default.
func (t *Transport) AddFlags(fl flagSet, listen string) {
	fl.StringVar(&t.Listen, "listen", listen, "address to listen on, host:port (port 0: any free port)")
	fl.BoolVar(&t.DevTLS, "dev-tls", false, "serve HTTPS with a self-signed certificate for localhost (development)")
	fl.StringVar(&t.TLSCert, "tls-cert", "", "TLS certificate chain, PEM")
	fl.StringVar(&t.TLSKey, "tls-key", "", "TLS private key, PEM")
	fl.BoolVar(&t.InsecureHTTP, "insecure-http", false, "serve plain HTTP; only on a loopback address")
}

// Check enforces one transport choice, and plain HTTP only where nothing
// but this machine can reach it. Its errors are UsageErrors.
func (t *Transport) Check() error {
	n := 0
	for _, set := range []bool{t.DevTLS, t.TLSCert != "" || t.TLSKey != "", t.InsecureHTTP} {
		if set {
			n++
		}
	}
	if n == 0 {
		return Usagef(`choose how clients connect:
  --tls-cert FILE --tls-key FILE  HTTPS with your certificate
  --dev-tls                       HTTPS with a self-signed certificate for localhost (development)
  --insecure-http                 plain HTTP on a loopback address, behind a local TLS proxy`)
	}
	if n > 1 {
		return Usagef("give only one of --dev-tls, --tls-cert/--tls-key and --insecure-http")
	}
	if (t.TLSCert == "") != (t.TLSKey == "") {
		return Usagef("--tls-cert and --tls-key go together")
	}
	if t.InsecureHTTP && !isLoopback(t.Listen) {
		return Usagef("--insecure-http serves plain HTTP, so it is allowed only on a loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT), not %s\nhint: use --tls-cert/--tls-key to serve other machines, or put a TLS proxy on this machine in front of a loopback address", t.Listen)
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

// Signals returns a context that ends at SIGTERM or SIGINT, which from
// then on mean a clean shutdown, also while the service is still starting.
// Call stop once shutting down, so that a second signal kills the process.
func Signals(ctx context.Context) (sigCtx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
}

// Listen listens on addr for hs, with TLS if tlsConf is not nil (HTTP/2
// and HTTP/1.1), and prints "listening on SCHEME://ADDRESS" to stderr:
// the line scripts wait for, which names the port even for port 0.
func Listen(hs *http.Server, addr string, tlsConf *tls.Config, stderr io.Writer) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs.TLSConfig = tlsConf
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
		tlsConf.NextProtos = []string{"h2", "http/1.1"}
		l = tls.NewListener(l, tlsConf)
	}
	fmt.Fprintf(stderr, "listening on %s://%s\n", scheme, l.Addr())
	return l, nil
}

// Serve serves hs on l until ctx ends, then calls stopping (which logs
// that the service stops) and shuts hs down: it takes no new connections
// and gives requests in flight ShutdownGrace to finish before cutting them
// off, logging a warning to log if it has to.
//
// If serving fails first, hs is shut down the same way and the failure is
// returned, as "serving: …". A clean stop returns nil.
func Serve(ctx context.Context, hs *http.Server, l net.Listener, log *slog.Logger, stopping func()) error {
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	var serveErr error
	select {
	case err := <-served:
		serveErr = fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	stopping()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		log.Warn("requests still running after the grace period were cut off", "error", err.Error())
	}
	if serveErr == nil {
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serving: %w", err)
		}
	}
	return serveErr
}
