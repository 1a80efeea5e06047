package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/pgtest"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc/svctest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// opener opens a Store on one test database; called twice, it gives two
// replicas sharing that database.
type opener func(t testing.TB) store.Store

// eachStore runs f on a fresh SQLite database and a fresh PostgreSQL
// database.
func eachStore(t *testing.T, f func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "keyhold-server.db")
		f(t, func(t testing.TB) store.Store {
			st, err := store.OpenSQLite(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.New(t)
		f(t, func(t testing.TB) store.Store {
			st, err := store.OpenPostgres(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one server on a real loopback listener.
type env struct {
	t     testing.TB
	st    store.Store
	srv   *Server
	hs    *httptest.Server
	clock *clock
	logs  *svctest.LockedBuffer
}

func newEnv(t testing.TB, st store.Store, configure ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, st: st, clock: newClock(), logs: &svctest.LockedBuffer{}}
	cfg := Config{
		Store:     st,
		Logger:    slog.New(slog.NewJSONHandler(e.logs, nil)),
		Now:       e.clock.Now,
		MailerURL: "https://mailer.example",
	}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.hs = httptest.NewUnstartedServer(nil)
	e.hs.Config = srv.HTTPServer()
	e.hs.Start()
	t.Cleanup(func() {
		srv.Close()
		e.hs.Close()
	})
	return e
}

// resp is an answer, read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes an error answer.
func (r *resp) code() string {
	var e api.Error
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request. body is sent as is if it is a string or []byte, else
// as its JSON.
func (e *env) do(method, path, token string, body any) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.hs.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// ok checks r's status and decodes its body into v (if not nil).
func (r *resp) ok(t testing.TB, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("answer %s: %v", r.body, err)
		}
	}
}

// fails checks r's status and error code.
func (r *resp) fails(t testing.TB, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.status, r.code(), status, code, r.body)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("error answer has Content-Type %q", r.header.Get("Content-Type"))
	}
}

// user is one account as a client knows it.
type user struct {
	id       [16]byte
	idStr    string
	loginKey []byte
	device   api.DeviceInfo
	token    string
}

func newID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID
	id[8] = id[8]&0x3f | 0x80
	return id
}

func newDevice(name string) api.DeviceInfo {
	return api.DeviceInfo{ID: api.FormatID(newID()), Name: name, Platform: "linux/amd64"}
}

func randomKey() []byte {
	k := make([]byte, pake.LoginKeySize)
	rand.Read(k)
	return k
}

// register runs the registration exchange for account id with loginKey and
// returns the record; token is set for a password change.
func (e *env) register(id [16]byte, loginKey []byte, token string) []byte {
	e.t.Helper()
	reg, msg, err := pake.RegisterStart(loginKey)
	if err != nil {
		e.t.Fatal(err)
	}
	var rs api.RegisterStartResponse
	e.do("POST", "/v1/register/start", token, api.RegisterStartRequest{AccountID: api.FormatID(id), Request: msg}).ok(e.t, 200, &rs)
	record, err := reg.Finish(id, rs.Response)
	if err != nil {
		e.t.Fatal(err)
	}
	return record
}

// newUser creates an account and logs its first device in.
func (e *env) newUser() *user {
	e.t.Helper()
	u := &user{id: newID(), loginKey: randomKey(), device: newDevice("first")}
	u.idStr = api.FormatID(u.id)
	record := e.register(u.id, u.loginKey, "")
	e.do("POST", "/v1/accounts", "", api.CreateAccountRequest{
		AccountID:  u.idStr,
		Email:      "user@example.com",
		Record:     record,
		Envelope:   envelope(u.id, 1, 'E'),
		KeyCheck:   []byte("sealed key check"),
		KeyVersion: 1,
		Device:     u.device,
	}).ok(e.t, 201, nil)
	u.token = e.mustLogin(u, u.device)
	return u
}

// loginStart sends KE1 for u from device d.
func (e *env) loginStart(u *user, d api.DeviceInfo, loginKey []byte) (*pake.Login, *resp) {
	e.t.Helper()
	l, ke1, err := pake.LoginStart(loginKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return l, e.do("POST", "/v1/login/start", "", api.LoginStartRequest{AccountID: u.idStr, Device: d, Message: ke1})
}

// login runs a whole login of u from device d with loginKey. With a wrong
// key the client cannot make a valid KE3 (the server's KE2 does not verify),
// so it sends junk of the right size, as an attacker guessing would.
func (e *env) login(u *user, d api.DeviceInfo, loginKey []byte) *resp {
	e.t.Helper()
	return e.runLogin(u, d, "", loginKey, false)
}

// runLogin is a whole login; with reauth it is finished with token as a
// fresh proof of that session.
func (e *env) runLogin(u *user, d api.DeviceInfo, token string, loginKey []byte, reauth bool) *resp {
	e.t.Helper()
	l, r := e.loginStart(u, d, loginKey)
	if r.status != 200 {
		return r
	}
	var ls api.LoginStartResponse
	r.ok(e.t, 200, &ls)
	ke3, err := l.Finish(u.id, ls.Message)
	if err != nil {
		ke3 = make([]byte, pake.KE3Size)
		rand.Read(ke3)
	}
	return e.do("POST", "/v1/login/finish", token, api.LoginFinishRequest{LoginID: ls.LoginID, Message: ke3, Reauth: reauth})
}

func (e *env) mustLogin(u *user, d api.DeviceInfo) string {
	e.t.Helper()
	var lf api.LoginFinishResponse
	e.login(u, d, u.loginKey).ok(e.t, 200, &lf)
	if lf.Token == "" || lf.DeviceID != d.ID {
		e.t.Fatalf("login answer %+v", lf)
	}
	return lf.Token
}

// events returns the kinds of u's audit log, oldest first.
func (e *env) eventKinds(u *user) []string {
	e.t.Helper()
	var evs []api.Event
	e.do("GET", "/v1/account/log?limit=1000", u.token, nil).ok(e.t, 200, &evs)
	var kinds []string
	for i := len(evs) - 1; i >= 0; i-- {
		kinds = append(kinds, evs[i].Kind)
	}
	return kinds
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// pushOne pushes revisions of one item.
func pushItem(id string, base uint64, boxes ...string) api.PushItem {
	it := api.PushItem{ItemID: id, BaseRev: base}
	for i, b := range boxes {
		rv := api.Revision{Rev: base + uint64(i) + 1}
		if b == "" {
			rv.Deleted = true
		} else {
			rv.Box = []byte(b)
		}
		it.Revs = append(it.Revs, rv)
	}
	return it
}

// sse reads server-sent events from a stream.
type sse struct {
	res   *http.Response
	lines chan string
}

func (e *env) openEvents(token string) *sse {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.hs.URL+"/v1/sync/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.hs.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		e.t.Fatalf("events: %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &sse{res: res, lines: make(chan string, 100)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	e.t.Cleanup(func() { res.Body.Close() })
	return s
}

// next returns the next head event, skipping comments; ok is false if the
// stream ended.
func (s *sse) next(t testing.TB) (ev api.HeadEvent, ok bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	var event string
	for {
		select {
		case line, open := <-s.lines:
			if !open {
				return ev, false
			}
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if event != "head" {
					t.Fatalf("data for event %q", event)
				}
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
					t.Fatal(err)
				}
				return ev, true
			}
		case <-timeout:
			t.Fatal("no event within 10 s")
		}
	}
}

// waitHead reads events until one reports head h.
func (s *sse) waitHead(t testing.TB, h uint64) {
	t.Helper()
	for {
		ev, ok := s.next(t)
		if !ok {
			t.Fatalf("stream ended before head %d", h)
		}
		if ev.Head == h {
			return
		}
		if ev.Head > h {
			t.Fatalf("head %d, past %d", ev.Head, h)
		}
	}
}

// ends checks that the stream ends within a few seconds.
func (s *sse) ends(t testing.TB) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, open := <-s.lines:
			if !open {
				return
			}
		case <-timeout:
			t.Fatal("the event stream did not end")
		}
	}
}

func pgURL(t *testing.T) string { return pgtest.New(t) }

func openPG(t testing.TB, url string) store.Store {
	st, err := store.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openSQLite(t testing.TB) store.Store {
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "keyhold-server.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// envelope makes an opaque envelope of the real size whose header has the
// layout of SPEC §6 (the server hands the header out before login), filled
// with fill.
func envelope(id [16]byte, keyVersion uint32, fill byte) []byte {
	return envelopeAt(id, keyVersion, keyVersion, fill)
}

// envelopeAt is an envelope of the current version (SPEC §6) with the
// given password epoch; the server reads no other field.
func envelopeAt(id [16]byte, keyVersion, epoch uint32, fill byte) []byte {
	e := bytes.Repeat([]byte{fill}, 175)
	copy(e, "KHEK\x02")
	copy(e[5:], id[:])
	binary.BigEndian.PutUint32(e[21:], keyVersion)
	binary.BigEndian.PutUint32(e[25:], epoch)
	return e
}
