package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
)

// Delivery uses the standard library's net/smtp client: it is small
// enough to read whole, and every decision that matters here is made in
// this file rather than in a library's defaults — TLS before anything is
// sent, refusal when STARTTLS is not offered, certificate verification,
// and AUTH PLAIN only inside TLS.

// Errors of a delivery attempt; each is logged and the job retried.
var (
	errNoSTARTTLS   = errors.New("the SMTP relay does not offer STARTTLS; refusing to send a kit without TLS (use --smtp-implicit-tls for a port that speaks TLS from the start)")
	errNoAuth       = errors.New("the SMTP relay does not offer AUTH, but a user name is configured")
	errNoAuthPlain  = errors.New("the SMTP relay does not offer AUTH PLAIN")
	errAuthNeedsTLS = errors.New("refusing to send the SMTP password without TLS")
)

// deliver makes one attempt to hand j to the relay.
func (s *Server) deliver(ctx context.Context, j *job) error {
	return s.cfg.SMTP.send(ctx, s.cfg.From, j.to, j.msg)
}

func (c *SMTP) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
}

// send delivers msg from from to to over one SMTP connection.
func (c *SMTP) send(ctx context.Context, from, to string, msg []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	d := &net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the SMTP relay %s: %w", addr, err)
	}
	// The deadline bounds every read and write; cancelling ctx (shutdown)
	// closes the connection under a blocked call.
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if c.ImplicitTLS {
		tc := tls.Client(conn, c.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS with the SMTP relay %s: %w", addr, err)
		}
		conn = tc
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP relay %s: %w", addr, err)
	}
	defer cl.Close()
	if err := cl.Hello(c.HelloName); err != nil {
		return fmt.Errorf("SMTP relay %s: EHLO: %w", addr, err)
	}
	if !c.ImplicitTLS {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return errNoSTARTTLS
		}
		if err := cl.StartTLS(c.tlsConfig()); err != nil {
			return fmt.Errorf("STARTTLS with the SMTP relay %s: %w", addr, err)
		}
	}
	if st, ok := cl.TLSConnectionState(); !ok || !st.HandshakeComplete {
		return errors.New("the connection to the SMTP relay is not encrypted") // unreachable: checked above
	}
	if c.User != "" {
		ok, mechs := cl.Extension("AUTH")
		if !ok {
			return errNoAuth
		}
		if !slices.Contains(strings.Fields(mechs), "PLAIN") {
			return errNoAuthPlain
		}
		if err := cl.Auth(&plainAuth{user: c.User, pass: c.Password}); err != nil {
			return fmt.Errorf("SMTP relay %s: AUTH: %w", addr, err)
		}
	}
	if err := cl.Mail(from); err != nil {
		return fmt.Errorf("SMTP relay %s: MAIL FROM: %w", addr, err)
	}
	if err := cl.Rcpt(to); err != nil {
		return fmt.Errorf("SMTP relay %s: RCPT TO: %w", addr, err)
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("SMTP relay %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("SMTP relay %s: sending the message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP relay %s: the message was not accepted: %w", addr, err)
	}
	// The relay has taken the mail; a failed QUIT changes nothing.
	cl.Quit()
	return nil
}

// plainAuth is SASL PLAIN (RFC 4616) that refuses to run outside TLS,
// with no exception for localhost (unlike smtp.PlainAuth).
type plainAuth struct {
	user string
	pass []byte
}

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errAuthNeedsTLS
	}
	resp := make([]byte, 0, 2+len(a.user)+len(a.pass))
	resp = append(resp, 0)
	resp = append(resp, a.user...)
	resp = append(resp, 0)
	resp = append(resp, a.pass...)
	return "PLAIN", resp, nil
}

func (a *plainAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("the SMTP relay asked for more than AUTH PLAIN sends")
	}
	return nil, nil
}
