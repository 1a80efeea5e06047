package vault

import "testing"

// verifyClean fails t unless the vault verifies with exactly the given
// numbers of items and history revisions and no problems. It lives apart
// from the Unix-only stress tests because other tests use it too.
func verifyClean(t *testing.T, s *Session, items, revisions int) {
	t.Helper()
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) > 0 || r.Items != items || r.Revisions != revisions {
		t.Fatalf("verify: %+v, want %d items, %d history revisions, no problems", r, items, revisions)
	}
}
