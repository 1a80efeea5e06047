//go:build unix

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/mailer/mailertest"
	"github.com/keyhold/keyhold/internal/testenv"
)

// The scripts in testdata/mail run keyhold-server, keyhold-mailer and a
// real SMTP server (go-smtp, in the test process) that requires STARTTLS
// with a certificate from a test authority and AUTH, and check what
// arrives with independent tools: pdftoppm and zbarimg for the kit's QR
// code, gpg for PGP/MIME, age for age-encrypted attachments.

func buildMailer(t *testing.T) string {
	return mailerBin.build(t, "github.com/keyhold/keyhold/cmd/keyhold-mailer")
}

func TestMailScripts(t *testing.T) {
	testenv.NeedProgram(t, "gpg", "gnupg")
	testenv.NeedProgram(t, "age", "age")
	testenv.NeedProgram(t, "pdftoppm", "poppler-utils")
	testenv.NeedProgram(t, "zbarimg", "zbar-tools")
	sbin := buildServer(t)
	mbin := buildMailer(t)
	servers := &serverSet{procs: map[string]*serverProc{}}
	mailers := &serverSet{procs: map[string]*serverProc{}, bin: mbin, noData: true}
	smtps := &smtpSet{t: t, servers: map[string]*mailertest.Relay{}}
	recs := &recorders{t: t}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/mail",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			env.Setenv("PATH", filepath.Dir(sbin)+string(os.PathListSeparator)+filepath.Dir(mbin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("BACKEND", "sqlite")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"capture":  cmdCapture,
			"jsonget":  cmdJSONGet,
			"streq":    cmdStrEq,
			"server":   servers.cmd,
			"mailer":   mailers.cmd,
			"smtpd":    smtps.cmd,
			"mailwait": smtps.wait,
			"mimepart": cmdMIMEPart,
			"httprec":  recs.cmd,
			"mailsend": cmdMailSend,
			"sleep":    cmdSleep,
			"golden":   cmdGolden,
		},
	})
}

// recorders are HTTP proxies in front of a mailer that keep what the
// mailer receives, to show what leaves the device and to replay it as a
// hostile caller would.
type recorders struct {
	t *testing.T
}

// httprec start NAME URL [drop]
//
//	starts an HTTP proxy on loopback in front of URL ($NAME_URL) that
//	saves the body of every request it gets to NAME-req/N.json and the
//	payload of a POST /v1/send to NAME-req/N.payload. With "drop" it
//	forwards nothing and answers 503, so the ticket stays unused.
func (r *recorders) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || args[0] != "start" {
		ts.Fatalf("usage: httprec start NAME URL [drop]")
	}
	name, target := args[1], args[2]
	drop := len(args) > 3 && args[3] == "drop"
	u, err := url.Parse(target)
	if err != nil {
		ts.Fatalf("httprec: %v", err)
	}
	dir := ts.MkAbs(name + "-req")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		ts.Fatalf("%v", err)
	}
	var mu sync.Mutex
	n := 0
	proxy := httputil.NewSingleHostReverseProxy(u)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.json", i)), body, 0o600)
		var sr struct{ Payload []byte }
		if json.Unmarshal(body, &sr) == nil && sr.Payload != nil {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.payload", i)), sr.Payload, 0o600)
		}
		if drop {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"held by the test"}}`)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, req)
	}))
	r.t.Cleanup(hs.Close)
	ts.Setenv(name+"_URL", hs.URL)
}

// mailsend URL FILE [payload FILE2 | to ADDR]
//
//	posts the send request FILE (as httprec saved it) to URL/v1/send, as
//	a hostile caller holding its ticket could: with the payload from
//	FILE2, or the address ADDR, instead of its own. Prints the status and
//	the error code, if any ("403 ticket_mismatch").
func cmdMailSend(ts *testscript.TestScript, neg bool, args []string) {
	if neg || (len(args) != 2 && len(args) != 4) {
		ts.Fatalf("usage: mailsend URL FILE [payload FILE2 | to ADDR]")
	}
	var req map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[1])), &req); err != nil {
		ts.Fatalf("mailsend: %v", err)
	}
	if len(args) == 4 {
		switch args[2] {
		case "payload":
			b, err := os.ReadFile(ts.MkAbs(args[3]))
			if err != nil {
				ts.Fatalf("%v", err)
			}
			req["payload"] = b
		case "to":
			req["to"] = args[3]
		default:
			ts.Fatalf("mailsend: unknown change %q", args[2])
		}
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(args[0]+"/v1/send", "application/json", bytes.NewReader(body))
	if err != nil {
		ts.Fatalf("mailsend: %v", err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	fmt.Fprintf(ts.Stdout(), "%d %s\n", resp.StatusCode, e.Error.Code)
}

// smtpSet runs relays (internal/mailer/mailertest: a real go-smtp server
// on loopback with a test authority, requiring AUTH) for the scripts.
type smtpSet struct {
	t       *testing.T
	mu      sync.Mutex
	servers map[string]*mailertest.Relay
}

// smtpd start NAME [starttls|none|implicit] [trusted|untrusted]
//
//	starts a relay and sets $NAME_PORT, $NAME_CA (the authority's PEM
//	file), $NAME_USER and $NAME_PASSFILE (AUTH PLAIN credentials).
//	"starttls" (default) offers and requires STARTTLS before MAIL and
//	AUTH; "none" offers no TLS at all; "implicit" speaks TLS from the
//	first byte. "untrusted" gives $NAME_CA another authority than the one
//	that signed the relay's certificate.
func (s *smtpSet) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || args[0] != "start" {
		ts.Fatalf("usage: smtpd start NAME [starttls|none|implicit] [trusted|untrusted]")
	}
	name := args[1]
	mode, trusted := mailertest.STARTTLS, true
	for _, a := range args[2:] {
		switch a {
		case "starttls":
			mode = mailertest.STARTTLS
		case "none":
			mode = mailertest.NoTLS
		case "implicit":
			mode = mailertest.Implicit
		case "trusted", "untrusted":
			trusted = a == "trusted"
		default:
			ts.Fatalf("smtpd: unknown option %q", a)
		}
	}
	r := mailertest.Start(s.t, mode)
	caPEM := r.CAPEM
	if !trusted {
		caPEM, _, _ = mailertest.Certificate(s.t)
	}
	caFile := ts.MkAbs(name + "-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
	passFile := ts.MkAbs(name + "-smtp-password")
	if err := os.WriteFile(passFile, []byte(mailertest.Password+"\n"), 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
	s.mu.Lock()
	s.servers[fmt.Sprintf("%p/%s", ts, name)] = r
	s.mu.Unlock()
	ts.Setenv(name+"_PORT", strconv.Itoa(r.Port))
	ts.Setenv(name+"_CA", caFile)
	ts.Setenv(name+"_USER", mailertest.User)
	ts.Setenv(name+"_PASSFILE", passFile)
}

// mailwait NAME N TIMEOUT
// waits until relay NAME has accepted N messages (exactly N: more fails
// the wait), writes them to NAME-mail/1.eml … N.eml, or fails after
// TIMEOUT. "! mailwait" passes if N do not arrive within TIMEOUT.
func (s *smtpSet) wait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: mailwait NAME N TIMEOUT")
	}
	s.mu.Lock()
	r := s.servers[fmt.Sprintf("%p/%s", ts, args[0])]
	s.mu.Unlock()
	if r == nil {
		ts.Fatalf("no smtpd %s", args[0])
	}
	want, _ := strconv.Atoi(args[1])
	d, err := time.ParseDuration(args[2])
	if err != nil {
		ts.Fatalf("mailwait: %v", err)
	}
	deadline := time.Now().Add(d)
	for {
		n := r.Count()
		if n > want {
			ts.Fatalf("smtpd %s received %d messages, want %d", args[0], n, want)
		}
		if n == want {
			if neg {
				ts.Fatalf("smtpd %s received %d messages", args[0], n)
			}
			dir := ts.MkAbs(args[0] + "-mail")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				ts.Fatalf("%v", err)
			}
			for i, m := range r.Messages() {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.eml", i+1)), m.Data, 0o600); err != nil {
					ts.Fatalf("%v", err)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			if neg {
				return
			}
			ts.Fatalf("smtpd %s received %d messages within %s, want %d", args[0], n, d, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mimepart FILE TYPE OUT
// writes the body (transfer-decoded) of the first MIME part of message
// FILE whose Content-Type is TYPE (searching nested multiparts) to OUT.
// TYPE "file:NAME" picks the part whose file name is NAME instead.
func cmdMIMEPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: mimepart FILE TYPE OUT")
	}
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		ts.Fatalf("mimepart: %s is not a mail message: %v", args[0], err)
	}
	body, found, err := findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Disposition"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, args[1])
	if err != nil {
		ts.Fatalf("mimepart: %v", err)
	}
	if neg {
		if found {
			ts.Fatalf("mimepart: %s has a %s part", args[0], args[1])
		}
		return
	}
	if !found {
		ts.Fatalf("mimepart: %s has no %s part", args[0], args[1])
	}
	if err := os.WriteFile(ts.MkAbs(args[2]), body, 0o600); err != nil {
		ts.Fatalf("%v", err)
	}
}

func findPart(ctype, disp, cte string, r io.Reader, want string) ([]byte, bool, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			b, found, err := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"), p.Header.Get("Content-Transfer-Encoding"), p, want)
			if err != nil || found {
				return b, found, err
			}
		}
	}
	if file, ok := strings.CutPrefix(want, "file:"); ok {
		_, dp, _ := mime.ParseMediaType(disp)
		if dp["filename"] != file && params["name"] != file {
			return nil, false, nil
		}
	} else if mt != want {
		return nil, false, nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, false, err
	}
	switch strings.ToLower(cte) {
	case "base64":
		return decodeBase64Lines(b)
	case "quoted-printable":
		q, err := io.ReadAll(newQP(b))
		return q, true, err
	}
	return b, true, nil
}

func decodeBase64Lines(b []byte) ([]byte, bool, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	return out[:n], true, err
}

func newQP(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }
