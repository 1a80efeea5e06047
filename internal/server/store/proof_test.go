package store

import (
	"errors"
	"testing"
	"time"
)

// testSessionProof: a fresh proof is used once and only in time, on any
// replica; ending and narrowing other sessions spares the session that
// made the change.
func testSessionProof(t *testing.T, newDB func(testing.TB) opener) {
	f := newFixture(t, newDB)
	other := openT(t, f.open)
	t0 := now()
	mine := &Session{TokenHash: [32]byte{1}, AccountID: f.account, DeviceID: f.device, Created: t0, Expires: t0.Add(time.Hour)}
	theirs := &Session{TokenHash: [32]byte{2}, AccountID: f.account, DeviceID: f.device, Created: t0, Expires: t0.Add(time.Hour)}
	for _, s := range []*Session{mine, theirs} {
		if err := f.s.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.TakeReauth(ctx, mine.TokenHash, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TakeReauth without a proof: %v, want ErrNotFound", err)
	}
	if err := f.s.SetReauth(ctx, [32]byte{9}, t0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetReauth of an unknown session: %v, want ErrNotFound", err)
	}
	if err := f.s.SetReauth(ctx, mine.TokenHash, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := other.Session(ctx, mine.TokenHash, t0)
	if err != nil || !got.ReauthUntil.Equal(t0.Add(5*time.Minute)) || got.Narrowed {
		t.Fatalf("Session after SetReauth = %+v, %v", got, err)
	}
	if err := f.s.TakeReauth(ctx, mine.TokenHash, t0.Add(5*time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("TakeReauth at the proof's end: %v, want ErrNotFound", err)
	}
	if err := other.TakeReauth(ctx, mine.TokenHash, t0.Add(time.Minute)); err != nil {
		t.Fatalf("TakeReauth in time, on another replica: %v", err)
	}
	if err := f.s.TakeReauth(ctx, mine.TokenHash, t0.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("the same proof taken twice: %v, want ErrNotFound", err)
	}

	// Narrowing: the other session is narrowed and loses its proof.
	if err := f.s.SetReauth(ctx, theirs.TokenHash, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.NarrowOtherSessions(ctx, f.account, mine.TokenHash); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.Session(ctx, theirs.TokenHash, t0); err != nil || !got.Narrowed || !got.ReauthUntil.IsZero() {
		t.Errorf("the other session after NarrowOtherSessions = %+v, %v", got, err)
	}
	if err := f.s.TakeReauth(ctx, theirs.TokenHash, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("a narrowed session used a proof: %v", err)
	}
	if got, err := f.s.Session(ctx, mine.TokenHash, t0); err != nil || got.Narrowed {
		t.Errorf("the session that rotated after NarrowOtherSessions = %+v, %v", got, err)
	}

	// Ending: only the keeping session is left.
	if err := f.s.EndOtherSessions(ctx, f.account, mine.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Session(ctx, theirs.TokenHash, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("another session after EndOtherSessions: %v, want ErrNotFound", err)
	}
	if _, err := other.Session(ctx, mine.TokenHash, t0); err != nil {
		t.Errorf("the keeping session after EndOtherSessions: %v", err)
	}
}
