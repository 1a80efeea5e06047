package hostile

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyhold/keyhold/internal/api"
)

// upstream answers a fixed change feed of two items, as keyhold-server would.
func upstream(t *testing.T) string {
	feed := api.ChangesResponse{Head: 2, KeyVersion: 1, Changes: []api.Change{
		{ItemID: "01a24bde-0000-7000-8000-000000000001", Seq: 1, Rev: 1, Box: []byte("box one")},
		{ItemID: "01a24bde-0000-7000-8000-000000000002", Seq: 2, Rev: 1, Box: []byte("box two")},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&feed)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, p *Proxy, path string, limit int64) []byte {
	t.Helper()
	// The test checks what the proxy sends, not its certificate (the
	// keyhold client pins it by fingerprint; the scripts test that).
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get(p.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyCountsWhatItChanged(t *testing.T) {
	p, err := Start(upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var c api.ChangesResponse
	if err := json.Unmarshal(get(t, p, pathChanges, 1<<20), &c); err != nil || len(c.Changes) != 2 || p.Rewrites() != 0 {
		t.Fatalf("honest answer: %v, %d changes, %d rewrites", err, len(c.Changes), p.Rewrites())
	}
	if err := p.SetAttack("drop"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(get(t, p, pathChanges, 1<<20), &c); err != nil || len(c.Changes) != 1 || p.Rewrites() != 1 {
		t.Fatalf("drop: %v, %d changes, %d rewrites", err, len(c.Changes), p.Rewrites())
	}
	// An attack on another endpoint leaves the feed alone and counts nothing.
	if err := p.SetAttack("envelope-null"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(get(t, p, pathChanges, 1<<20), &c); err != nil || len(c.Changes) != 2 || p.Rewrites() != 0 {
		t.Fatalf("envelope-null on the feed: %v, %d changes, %d rewrites", err, len(c.Changes), p.Rewrites())
	}
	if err := p.SetAttack("no-such-attack"); !errors.Is(err, ErrUnknownAttack) {
		t.Fatalf("unknown attack: %v", err)
	}
}

func TestProxyEndlessAndOversized(t *testing.T) {
	p, err := Start(upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetAttack("endless", pathParams); err != nil {
		t.Fatal(err)
	}
	b := get(t, p, pathParams, 8<<20)
	if len(b) != 8<<20 || !strings.HasPrefix(string(b), `{"changes":[],"header":"AAAA`) || p.Rewrites() != 1 {
		t.Fatalf("endless: %d bytes, %q…, %d rewrites", len(b), b[:min(len(b), 40)], p.Rewrites())
	}
	if err := p.SetAttack("oversized", pathParams, "2"); err != nil {
		t.Fatal(err)
	}
	b = get(t, p, pathParams, 8<<20)
	var r struct {
		Header []byte `json:"header"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Header) < 1<<20 {
		t.Fatalf("oversized: %v, %d bytes of header", err, len(r.Header))
	}
}

// A swallowed push never reaches the server, and its answer claims every
// revision stored after the device's cursor.
func TestProxySwallowsPush(t *testing.T) {
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"head":0,"accepted":[],"rejected":[]}`)
	}))
	t.Cleanup(srv.Close)
	p, err := Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetAttack("push-swallow"); err != nil {
		t.Fatal(err)
	}
	req := api.PushRequest{Cursor: 5, Items: []api.PushItem{
		{ItemID: "01a24bde-0000-7000-8000-000000000001", BaseRev: 1, Revs: []api.Revision{{Rev: 2, Box: []byte("b")}, {Rev: 3, Box: []byte("c")}}},
		{ItemID: "01a24bde-0000-7000-8000-000000000002", Revs: []api.Revision{{Rev: 1, Box: []byte("a")}}},
	}}
	body, _ := json.Marshal(&req)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Post(p.URL()+pathPush, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r api.PushResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	want := []api.Accepted{{ItemID: req.Items[0].ItemID, Rev: 3, Seq: 7}, {ItemID: req.Items[1].ItemID, Rev: 1, Seq: 8}}
	if r.Head != 8 || !slices.Equal(r.Accepted, want) || len(r.Rejected) != 0 {
		t.Errorf("swallowed push answered %+v", r)
	}
	if n := reached.Load(); n != 0 || p.Rewrites() != 1 {
		t.Errorf("%d requests reached the server, %d rewrites", n, p.Rewrites())
	}
}
