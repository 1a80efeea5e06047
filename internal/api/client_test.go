package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestClientRefusesRedirect: a redirect is never followed, so the session
// token never goes where the server points; the error names the server.
// It holds for a client over the caller's HTTP client too.
func TestClientRefusesRedirect(t *testing.T) {
	for name, mk := range map[string]func(string) (*Client, error){
		"own":    func(u string) (*Client, error) { return NewClient(u, "") },
		"caller": func(u string) (*Client, error) { return NewClientHTTP(u, &http.Client{}) },
	} {
		t.Run(name, func(t *testing.T) { testRefusesRedirect(t, mk) })
	}
}

func testRefusesRedirect(t *testing.T, mk func(string) (*Client, error)) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/v1/account", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := mk(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("secret-session-token")
	_, err = c.Account(context.Background())
	if !errors.Is(err, ErrRedirect) {
		t.Fatalf("got %v, want ErrRedirect", err)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Error("a redirect is reported as an unreachable server")
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if !strings.Contains(err.Error(), host) || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("message %q: should name %s, without control characters", err, host)
	}
	err = c.Events(context.Background(), func(HeadEvent) {})
	if !errors.Is(err, ErrRedirect) {
		t.Errorf("event stream: got %v, want ErrRedirect", err)
	}
	if leaked.Load() {
		t.Fatal("the session token was sent to the redirect target")
	}
}

// TestClientAnswerLimits: each endpoint's answer is read only up to its
// limit; an endless answer is refused, not held.
func TestClientAnswerLimits(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// An endless JSON string.
		io.WriteString(w, `{"login_id":"`)
		chunk := []byte(strings.Repeat("A", 32<<10))
		for {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil || sent.Load() > 1<<30 {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		limit int64
	}{
		{"login params", func() error { _, err := c.LoginParams(context.Background(), "x"); return err }, maxParamsAnswer},
		{"login start", func() error { _, err := c.LoginStart(context.Background(), &LoginStartRequest{}); return err }, maxPAKEAnswer},
		{"account", func() error { _, err := c.Account(context.Background()); return err }, maxSmallAnswer},
		{"keys", func() error { _, err := c.Keys(context.Background()); return err }, maxKeysAnswer},
		{"changes", func() error { _, err := c.Changes(context.Background(), 0, 0); return err }, maxChangesAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrAnswerTooLarge) {
				t.Fatalf("got %v, want ErrAnswerTooLarge", err)
			}
			if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) || !strings.Contains(err.Error(), strconv.FormatInt(tc.limit, 10)) {
				t.Errorf("message %q does not name the server and the limit %d", err, tc.limit)
			}
		})
	}
	if maxParamsAnswer > 1<<10 || maxSmallAnswer > 64<<10 || maxChangesAnswer > 16<<20 {
		t.Errorf("limits too generous: params %d, small %d, changes %d", maxParamsAnswer, maxSmallAnswer, maxChangesAnswer)
	}
}

// TestLimitedReaderExact: an answer of exactly the limit is read whole.
func TestLimitedReaderExact(t *testing.T) {
	r := &limitedReader{r: strings.NewReader("12345"), n: 5}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "12345" {
		t.Fatalf("%q, %v", b, err)
	}
	r = &limitedReader{r: strings.NewReader("123456"), n: 5}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrAnswerTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
}
