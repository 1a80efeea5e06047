package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPeerNamedInErrors: a client for the mailer reports the mailer's
// certificate, outage and refusals as the mailer's, never the server's,
// and errors.Is still finds the sentinels the exit codes rest on.
func TestPeerNamedInErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"forbidden","message":"ticket expired"}}`))
	}))
	defer srv.Close()
	wrongPin := "sha256:" + strings.Repeat("ab", 32)
	right := Fingerprint(srv.Certificate().Raw)

	for _, tc := range []struct {
		peer, pin string
		want      []string
		is        []error
	}{
		{"mailer", wrongPin, []string{"cannot reach the mailer", "the mailer's certificate does not match"}, []error{ErrUnreachable, ErrFingerprint}},
		{"server", wrongPin, []string{"cannot reach the server", "the server's certificate does not match"}, []error{ErrUnreachable, ErrFingerprint}},
		{"mailer", right, []string{"mailer: ticket expired"}, nil},
		{"server", right, []string{"server: ticket expired"}, nil},
	} {
		c, err := NewPeerClient(srv.URL, tc.pin, tc.peer)
		if err != nil {
			t.Fatal(err)
		}
		err = c.do(context.Background(), http.MethodGet, "/v1/x", nil, nil, nil)
		if err == nil {
			t.Fatalf("%s: no error", tc.peer)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.peer, err, w)
			}
		}
		if tc.peer == "mailer" && strings.Contains(err.Error(), "server") {
			t.Errorf("mailer error blames the server: %v", err)
		}
		for _, s := range tc.is {
			if !errors.Is(err, s) {
				t.Errorf("%s: %v is not %v", tc.peer, err, s)
			}
		}
	}
}
