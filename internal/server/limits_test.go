package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/pake"
)

// countingBody is a request body that counts what the server reads of it
// and holds size bytes (then EOF): a JSON push, then spaces. block, if
// set, is waited for before the first byte.
type countingBody struct {
	size  int64
	read  atomic.Int64
	block chan struct{}
}

const countingPrefix = `{"cursor":0,"items":[]}`

func (b *countingBody) Read(p []byte) (int, error) {
	if b.block != nil {
		<-b.block
	}
	left := b.size - b.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), left)
	for i := range p[:n] {
		p[i] = ' '
		if off := b.read.Load() + int64(i); off < int64(len(countingPrefix)) {
			p[i] = countingPrefix[off]
		}
	}
	b.read.Add(n)
	return int(n), nil
}

func (b *countingBody) Close() error { return nil }

// serveFrom serves one request in process, as if from addr; contentLength
// -1 sends the body as if chunked (length not declared).
func (e *env) serveFrom(addr, method, path, token string, hdr http.Header, body io.ReadCloser, contentLength int64) *resp {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = addr + ":40000"
	if body != nil {
		req.Body = body
		req.ContentLength = contentLength
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return &resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func jsonBody(t testing.TB, v any) (io.ReadCloser, int64) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b))
}

func versionHeader(v uint32) http.Header {
	return http.Header{api.KeyVersionHeader: {strconv.FormatUint(uint64(v), 10)}}
}

// TestLoginStartsPerAddress: one address starting logins for made-up
// accounts (each under its own account's free attempts) is throttled by
// its address; other addresses are not.
func TestLoginStartsPerAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		start := func(addr string, id [16]byte) *resp {
			_, ke1, err := pake.LoginStart(randomKey())
			if err != nil {
				t.Fatal(err)
			}
			b, n := jsonBody(t, api.LoginStartRequest{AccountID: api.FormatID(id), Device: newDevice("d"), Message: ke1})
			return e.serveFrom(addr, "POST", "/v1/login/start", "", nil, b, n)
		}
		const attacker = "198.51.100.7"
		for i := range freeAddrStarts + 1 {
			if r := start(attacker, newID()); r.status != 200 {
				t.Fatalf("start %d from one address: %d %s", i, r.status, r.body)
			}
		}
		r := start(attacker, newID())
		r.fails(t, 429, api.CodeThrottled)
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		// A real account's start from that address waits too…
		start(attacker, u.id).fails(t, 429, api.CodeThrottled)
		// …but not from another address, nor from another /64.
		start("203.0.113.9", u.id).ok(t, 200, nil)
		// The lockout doubles like any other, and a finished login from
		// the address does not reset it.
		wait, _, err := e.srv.throttled(context.Background(), startAddrKey(addrKey(mustAddr(attacker))))
		if err != nil || wait <= 0 {
			t.Fatalf("address lockout: %v, %v", wait, err)
		}
		e.clock.Add(wait)
		start(attacker, newID()).ok(t, 200, nil)
		start(attacker, newID()).fails(t, 429, api.CodeThrottled)
		wait2, _, _ := e.srv.throttled(context.Background(), startAddrKey(addrKey(mustAddr(attacker))))
		if wait2 < 2*wait-time.Second {
			t.Errorf("lockouts %v then %v: not doubling", wait, wait2)
		}
	})
}

// TestRegisterStartsPerAddress: register/start costs an OPRF evaluation
// like a login start, and is counted like one against the address: with
// no session (account creation) and with one (docs/LOGIN.md).
func TestRegisterStartsPerAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		e.mustReauth(u)
		start := func(addr, token string, id [16]byte) *resp {
			_, msg, err := pake.RegisterStart(randomKey())
			if err != nil {
				t.Fatal(err)
			}
			b, n := jsonBody(t, api.RegisterStartRequest{AccountID: api.FormatID(id), Request: msg})
			return e.serveFrom(addr, "POST", "/v1/register/start", token, nil, b, n)
		}
		const attacker = "198.51.100.7"
		for i := range freeAddrStarts + 1 {
			if r := start(attacker, "", newID()); r.status != 200 {
				t.Fatalf("start %d from one address: %d %s", i, r.status, r.body)
			}
		}
		start(attacker, "", newID()).fails(t, 429, api.CodeThrottled)
		// The same count holds logins and a session's register/start…
		_, ke1, _ := pake.LoginStart(randomKey())
		b, n := jsonBody(t, api.LoginStartRequest{AccountID: u.idStr, Device: newDevice("d"), Message: ke1})
		e.serveFrom(attacker, "POST", "/v1/login/start", "", nil, b, n).fails(t, 429, api.CodeThrottled)
		start(attacker, u.token, u.id).fails(t, 429, api.CodeThrottled)
		// …which from elsewhere goes on.
		start("203.0.113.9", u.token, u.id).ok(t, 200, nil)

		// A session's register/start is one more start of its address.
		const other = "192.0.2.44"
		key := startAddrKey(addrKey(mustAddr(other))).key
		before, _, err := e.st.Failures(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		e.stampProof(u.token)
		start(other, u.token, u.id).ok(t, 200, nil)
		if after, _, _ := e.st.Failures(context.Background(), key); after != before+1 {
			t.Errorf("a session's register/start counted %d starts against its address, want 1", after-before)
		}
	})
}

// TestThrottleCountsExpire: counts made up by clients (random account ids)
// are deleted once quiet for forgetAfter, so the table does not grow with
// every attempt ever made.
func TestThrottleCountsExpire(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		ghosts := make([]*user, 5)
		for i := range ghosts {
			g := &user{id: newID()}
			g.idStr = api.FormatID(g.id)
			ghosts[i] = g
			_, r := e.loginStart(g, newDevice("d"), randomKey())
			r.ok(t, 200, nil)
		}
		ctx := context.Background()
		if n, _, _ := e.st.Failures(ctx, accountKey(ghosts[0].id).key); n != 1 {
			t.Fatalf("a start was not counted: %d", n)
		}
		// Within the hour nothing is deleted.
		e.clock.Add(forgetAfter / 2)
		u := &user{id: newID()}
		u.idStr = api.FormatID(u.id)
		_, r := e.loginStart(u, newDevice("d"), randomKey())
		r.ok(t, 200, nil)
		if n, _, _ := e.st.Failures(ctx, accountKey(ghosts[0].id).key); n != 1 {
			t.Fatalf("a count was deleted within the hour: %d", n)
		}
		e.clock.Add(forgetAfter/2 + expireEvery + time.Minute)
		_, r = e.loginStart(u, newDevice("d"), randomKey())
		r.ok(t, 200, nil)
		for _, g := range ghosts {
			if n, _, _ := e.st.Failures(ctx, accountKey(g.id).key); n != 0 {
				t.Errorf("a quiet count was kept: %d", n)
			}
		}
		if n, _, _ := e.st.Failures(ctx, accountKey(u.id).key); n != 2 {
			t.Errorf("a live count was lost: %d", n)
		}
	})
}

// TestLargeBodyRefusedUnread: a body larger than MaxBody is not read
// unless the session is valid and the declared key version is the
// account's; a body longer than its endpoint's limit is not read past it.
func TestLargeBodyRefusedUnread(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t))
		u := e.newUser()
		const from = "192.0.2.10"
		cases := []struct {
			name     string
			path     string
			token    string
			hdr      http.Header
			declared int64 // Content-Length; -1 not declared
			size     int64
			status   int
			code     string
			maxRead  int64
		}{
			{"declared over the push limit", "/v1/sync/push", u.token, versionHeader(1), api.MaxPushBody + 1, api.MaxPushBody + 1, 413, api.CodeTooLarge, 0},
			{"declared over the rotate limit", "/v1/account/rotate", u.token, versionHeader(2), api.MaxRotateBody + 1, api.MaxRotateBody + 1, 413, api.CodeTooLarge, 0},
			{"no session", "/v1/sync/push", "", versionHeader(1), 10 << 20, 10 << 20, 401, api.CodeUnauthorized, 0},
			{"bad session", "/v1/account/rotate", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", versionHeader(2), 10 << 20, 10 << 20, 401, api.CodeUnauthorized, 0},
			{"no declared version", "/v1/sync/push", u.token, nil, 10 << 20, 10 << 20, 413, api.CodeTooLarge, 0},
			{"old key version", "/v1/sync/push", u.token, versionHeader(0 + 2), 10 << 20, 10 << 20, 409, api.CodeStale, 0},
			{"rotation to the current version", "/v1/account/rotate", u.token, versionHeader(1), 10 << 20, 10 << 20, 409, api.CodeStale, 0},
			{"not a version", "/v1/sync/push", u.token, http.Header{api.KeyVersionHeader: {"one"}}, 10 << 20, 10 << 20, 400, api.CodeBadRequest, 0},
			{"undeclared and undeclared length", "/v1/sync/push", u.token, nil, -1, 10 << 20, 413, api.CodeTooLarge, api.MaxBody + 64<<10},
			{"undeclared length over the limit", "/v1/sync/push", u.token, versionHeader(1), -1, api.MaxPushBody + 10<<20, 413, api.CodeTooLarge, api.MaxPushBody + 64<<10},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := &countingBody{size: c.size}
				r := e.serveFrom(from, "POST", c.path, c.token, c.hdr, b, c.declared)
				r.fails(t, c.status, c.code)
				if n := b.read.Load(); n > c.maxRead {
					t.Errorf("the server read %d bytes of the body, at most %d expected", n, c.maxRead)
				}
			})
		}
		// The same push, declared, is served.
		body, n := jsonBody(t, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "box")}})
		e.serveFrom(from, "POST", "/v1/sync/push", u.token, versionHeader(1), body, n).ok(t, 200, nil)
		// A small push without the header is served as before.
		body, n = jsonBody(t, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "box")}})
		e.serveFrom(from, "POST", "/v1/sync/push", u.token, nil, body, n).ok(t, 200, nil)
	})
}

// TestLargeRequestsBounded: one replica serves at most maxLargePerAccount
// large requests of one account and MaxLargeRequests in all at once;
// others are told to come back, and a slot is free again once a request
// ends.
func TestLargeRequestsBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open(t), func(c *Config) { c.MaxLargeRequests = 3 })
		u, v := e.newUser(), e.newUser()
		release := make(chan struct{})
		var wg sync.WaitGroup
		hold := func(x *user) {
			wg.Go(func() {
				// Blocks in the body read, holding its slot.
				e.serveFrom("192.0.2.1", "POST", "/v1/sync/push", x.token, versionHeader(1), &countingBody{size: 2 << 20, block: release}, 2<<20)
			})
		}
		waitSlots := func(n int) {
			for deadline := time.Now().Add(10 * time.Second); len(e.srv.bigReqs.total) != n; {
				if time.Now().After(deadline) {
					t.Fatalf("%d large requests in flight, want %d", len(e.srv.bigReqs.total), n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		hold(u)
		hold(u)
		waitSlots(2)
		big := func(x *user) *resp {
			return e.serveFrom("192.0.2.1", "POST", "/v1/sync/push", x.token, versionHeader(1), &countingBody{size: 2 << 20}, 2<<20)
		}
		r := big(u)
		r.fails(t, 429, api.CodeThrottled)
		if r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		hold(v)
		waitSlots(3)
		r = big(v)
		r.fails(t, 503, api.CodeBusy)
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		// Small requests are not counted.
		body, n := jsonBody(t, api.PushRequest{Items: []api.PushItem{pushItem(api.FormatID(newID()), 0, "box")}})
		e.serveFrom("192.0.2.1", "POST", "/v1/sync/push", u.token, nil, body, n).ok(t, 200, nil)
		close(release)
		wg.Wait()
		waitSlots(0)
		if len(e.srv.bigReqs.byAccount) != 0 {
			t.Errorf("per-account slots left behind: %v", e.srv.bigReqs.byAccount)
		}
		big(u).fails(t, 400, api.CodeBadRequest) // served, and found empty
	})
}
