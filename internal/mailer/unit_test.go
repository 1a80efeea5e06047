package mailer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNonceSet(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	n := newNonceSet(2)
	a, b, c := [16]byte{1}, [16]byte{2}, [16]byte{3}
	if _, err := n.use(a, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if _, err := n.use(a, now.Add(time.Minute), now); !errors.Is(err, errNonceUsed) {
		t.Fatalf("reuse: %v", err)
	}
	release, err := n.use(b, now.Add(2*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	// Full of unexpired nonces: a new one is refused rather than an old
	// one forgotten.
	if _, err := n.use(c, now.Add(time.Minute), now); !errors.Is(err, errNoncesFull) {
		t.Fatalf("full: %v", err)
	}
	// Released, b may be used again.
	release()
	release()
	if _, err := n.use(b, now.Add(2*time.Minute), now); err != nil {
		t.Fatalf("after release: %v", err)
	}
	// Once a expires it is forgotten to make room; b is still remembered.
	later := now.Add(time.Minute)
	if _, err := n.use(c, later.Add(time.Minute), later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := n.use(b, later.Add(time.Minute), later); !errors.Is(err, errNonceUsed) {
		t.Fatalf("b forgotten early: %v", err)
	}
	if n.len() != 2 {
		t.Fatalf("%d nonces held", n.len())
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(3, 2)
	for i := range 3 {
		if _, ok := l.allow("a", now); !ok {
			t.Fatalf("event %d refused", i+1)
		}
	}
	wait, ok := l.allow("a", now)
	if ok || wait < 19*time.Minute || wait > 21*time.Minute {
		t.Fatalf("fourth event: ok %v, wait %s (want about 20 minutes)", ok, wait)
	}
	if _, ok := l.allow("b", now); !ok {
		t.Fatal("another key refused")
	}
	// Neither tracked bucket is full again: a third key is refused
	// rather than a limited one forgotten.
	if _, ok := l.allow("c", now.Add(time.Minute)); ok {
		t.Fatal("a new key was let in while every tracked key is still limited")
	}
	if _, ok := l.allow("a", now.Add(20*time.Minute)); !ok {
		t.Fatal("refused after the wait")
	}
	// An hour later every bucket is full again and forgotten.
	if _, ok := l.allow("c", now.Add(2*time.Hour)); !ok {
		t.Fatal("a new key refused after the others refilled")
	}
	if len(l.keys) != 1 {
		t.Fatalf("%d keys tracked, want 1", len(l.keys))
	}
}

func TestScrub(t *testing.T) {
	got := scrub("550 5.1.1 <Alice@Example.org>: no such user; alice@example.org", "alice@example.org")
	if strings.Contains(strings.ToLower(got), "alice") || !strings.Contains(got, "…@example.org") {
		t.Fatalf("scrub: %q", got)
	}
	if redactAddress("bob@example.net") != "…@example.net" {
		t.Fatal(redactAddress("bob@example.net"))
	}
}

// When Run's context ends, the queue drops what it holds and takes no
// more: nothing would deliver it.
func TestRunCancelled(t *testing.T) {
	f := newFixture(t, nil, Config{}, false)
	if status, code, _ := f.post(f.request()); status != 202 {
		t.Fatalf("%d %s", status, code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.s.Run(ctx)
	if f.s.Queued() != 0 {
		t.Fatal("mail still held after Run returned")
	}
	if status, code, _ := f.post(f.request()); status != 503 || code != CodeUnavailable {
		t.Fatalf("after Run returned: %d %s", status, code)
	}
	if err := f.s.Shutdown(context.Background()); err == nil || !strings.Contains(err.Error(), "1 mail(s)") {
		t.Fatalf("Shutdown after Run: %v, want the dropped mail counted", err)
	}
	if !strings.Contains(f.logs.String(), "mail dropped undelivered at shutdown") {
		t.Errorf("log:\n%s", f.logs)
	}
}
