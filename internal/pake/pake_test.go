package pake

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func newServer(t testing.TB) (*Server, []byte) {
	t.Helper()
	keys, err := NewServerKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s, keys
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, LoginKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func randomID(t testing.TB) [16]byte {
	t.Helper()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

// register runs a full registration and returns the record the server stores.
func register(t testing.TB, s *Server, id [16]byte, loginKey []byte) []byte {
	t.Helper()
	reg, req, err := RegisterStart(loginKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(req) != RegisterRequestSize {
		t.Fatalf("registration request is %d bytes, want %d", len(req), RegisterRequestSize)
	}
	resp, err := s.RegisterResponse(id, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != RegisterResponseSize {
		t.Fatalf("registration response is %d bytes, want %d", len(resp), RegisterResponseSize)
	}
	record, err := reg.Finish(id, resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateRecord(record); err != nil {
		t.Fatalf("ValidateRecord refused a fresh record: %v", err)
	}
	return record
}

// login is one login as far as the client's KE3, and the server's state.
type login struct {
	ke2, state, ke3 []byte
	clientErr       error
}

func runLogin(t testing.TB, s *Server, id [16]byte, record, loginKey []byte) login {
	t.Helper()
	l, ke1, err := LoginStart(loginKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(ke1) != KE1Size {
		t.Fatalf("KE1 is %d bytes, want %d", len(ke1), KE1Size)
	}
	ke2, state, err := s.LoginStart(id, record, ke1)
	if err != nil {
		t.Fatal(err)
	}
	ke3, err := l.Finish(id, ke2)
	return login{ke2: ke2, state: state, ke3: ke3, clientErr: err}
}

func TestRoundTrip(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)
	for i := range 3 { // the same record serves every login
		lg := runLogin(t, s, id, record, key)
		if lg.clientErr != nil {
			t.Fatalf("login %d: client refused the genuine server: %v", i, lg.clientErr)
		}
		if len(lg.ke2) != KE2Size || len(lg.ke3) != KE3Size {
			t.Fatalf("KE2 %d bytes, KE3 %d bytes; want %d and %d", len(lg.ke2), len(lg.ke3), KE2Size, KE3Size)
		}
		if err := s.LoginFinish(lg.state, lg.ke3); err != nil {
			t.Fatalf("login %d: server refused the right login key: %v", i, err)
		}
	}
}

// A password change re-registers under the same account: the new key works,
// the old one no longer does.
func TestPasswordChange(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	oldKey, newKey := randomKey(t), randomKey(t)
	register(t, s, id, oldKey)
	record := register(t, s, id, newKey)

	lg := runLogin(t, s, id, record, newKey)
	if lg.clientErr != nil {
		t.Fatal(lg.clientErr)
	}
	if err := s.LoginFinish(lg.state, lg.ke3); err != nil {
		t.Fatal(err)
	}
	if lg := runLogin(t, s, id, record, oldKey); !errors.Is(lg.clientErr, ErrServerAuth) {
		t.Fatalf("old login key after a password change: client error %v, want ErrServerAuth", lg.clientErr)
	}
}

func TestWrongLoginKey(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)

	wrong := bytes.Clone(key)
	wrong[0] ^= 1
	lg := runLogin(t, s, id, record, wrong)
	// With OPAQUE the client finds out first: the envelope does not open.
	if !errors.Is(lg.clientErr, ErrServerAuth) {
		t.Fatalf("client with a wrong login key: %v, want ErrServerAuth", lg.clientErr)
	}
	if lg.ke3 != nil {
		t.Fatal("client produced a KE3 with a wrong login key")
	}
	// A client that sends something anyway is refused by the server.
	for _, ke3 := range [][]byte{make([]byte, KE3Size), randomKey(t), append(randomKey(t), randomKey(t)...)} {
		if err := s.LoginFinish(lg.state, ke3); !errors.Is(err, ErrLoginFailed) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("LoginFinish with a forged KE3: %v, want ErrLoginFailed", err)
		}
	}
	forged := append(randomKey(t), randomKey(t)...)
	if err := s.LoginFinish(lg.state, forged); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("LoginFinish with a random KE3: %v, want ErrLoginFailed", err)
	}
}

// The record binds the account id: a record registered for one account
// does not log in as another.
func TestRecordBoundToAccount(t *testing.T) {
	s, _ := newServer(t)
	id, other := randomID(t), randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)
	if lg := runLogin(t, s, other, record, key); !errors.Is(lg.clientErr, ErrServerAuth) {
		t.Fatalf("record of another account: %v, want ErrServerAuth", lg.clientErr)
	}
}

func TestReplayedKE3(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)

	first := runLogin(t, s, id, record, key)
	if err := s.LoginFinish(first.state, first.ke3); err != nil {
		t.Fatal(err)
	}
	// An eavesdropper replays the first KE3 against a login it started.
	second := runLogin(t, s, id, record, key)
	if err := s.LoginFinish(second.state, first.ke3); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("replayed KE3 on a new login: %v, want ErrLoginFailed", err)
	}
}

func TestKE3FromAnotherLogin(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)

	a := runLogin(t, s, id, record, key)
	b := runLogin(t, s, id, record, key)
	if a.clientErr != nil || b.clientErr != nil {
		t.Fatal(a.clientErr, b.clientErr)
	}
	if err := s.LoginFinish(a.state, b.ke3); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("KE3 of login b with the state of login a: %v, want ErrLoginFailed", err)
	}
	if err := s.LoginFinish(b.state, a.ke3); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("KE3 of login a with the state of login b: %v, want ErrLoginFailed", err)
	}
	// Each still finishes with its own.
	if err := s.LoginFinish(a.state, a.ke3); err != nil {
		t.Fatal(err)
	}
	if err := s.LoginFinish(b.state, b.ke3); err != nil {
		t.Fatal(err)
	}
}

// Replicas: registration on one, login start on another, finish on a
// third, each a Server built from the same key bytes (as separate processes
// would), with the state carried as bytes.
func TestStatelessReplicas(t *testing.T) {
	_, keys := newServer(t)
	replica := func() *Server {
		s, err := NewServer(bytes.Clone(keys))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	id := randomID(t)
	key := randomKey(t)
	record := register(t, replica(), id, key)

	l, ke1, err := LoginStart(key)
	if err != nil {
		t.Fatal(err)
	}
	ke2, state, err := replica().LoginStart(id, bytes.Clone(record), ke1)
	if err != nil {
		t.Fatal(err)
	}
	stored := bytes.Clone(state) // what the database would hand back
	clear(state)
	ke3, err := l.Finish(id, ke2)
	if err != nil {
		t.Fatal(err)
	}
	// Whoever reads the stored state cannot finish the login with it.
	for _, guess := range [][]byte{stored[len(stored)-KE3Size:], stored[:KE3Size]} {
		if err := replica().LoginFinish(stored, guess); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("finishing with bytes of the state itself: %v, want ErrLoginFailed", err)
		}
	}
	if err := replica().LoginFinish(stored, ke3); err != nil {
		t.Fatalf("finishing on another replica: %v", err)
	}
}

// Another deployment's keys cannot answer for a record: the client notices.
func TestOtherServerKeys(t *testing.T) {
	s, _ := newServer(t)
	impostor, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)
	if lg := runLogin(t, impostor, id, record, key); !errors.Is(lg.clientErr, ErrServerAuth) {
		t.Fatalf("server with other keys but the stolen record: %v, want ErrServerAuth", lg.clientErr)
	}
}

func TestUnknownAccount(t *testing.T) {
	s, keys := newServer(t)
	known, unknown := randomID(t), randomID(t)
	key := randomKey(t)
	record := register(t, s, known, key)

	real := runLogin(t, s, known, record, key)
	fake := runLogin(t, s, unknown, nil, key)
	if len(fake.ke2) != len(real.ke2) || len(fake.state) != len(real.state) {
		t.Fatalf("unknown account: KE2 %d, state %d bytes; known: %d, %d", len(fake.ke2), len(fake.state), len(real.ke2), len(real.state))
	}
	if !errors.Is(fake.clientErr, ErrServerAuth) {
		t.Fatalf("client against an unknown account: %v, want ErrServerAuth", fake.clientErr)
	}
	for _, ke3 := range [][]byte{real.ke3, make([]byte, KE3Size)} {
		if err := s.LoginFinish(fake.state, ke3); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("finishing an unknown account's login: %v, want ErrLoginFailed", err)
		}
	}

	// Repeated probes answer consistently: the same KE1 gets the same OPRF
	// evaluation (the first 32 bytes of KE2) for the same unknown id, from
	// any replica, as it would for a real account; another id differs.
	_, ke1, err := LoginStart(key)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewServer(keys)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.LoginStart(unknown, nil, ke1)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s2.LoginStart(unknown, nil, ke1)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.LoginStart(randomID(t), nil, ke1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[:32], b[:32]) {
		t.Fatal("two probes of the same unknown account got different OPRF evaluations")
	}
	if bytes.Equal(a[:32], c[:32]) {
		t.Fatal("two unknown accounts got the same OPRF evaluation")
	}
	if bytes.Equal(a[32:], b[32:]) {
		t.Fatal("two probes got the same nonces and key shares")
	}
	// The fake record is the same one each time, and a valid record.
	f1, err := s.fakeRecord(unknown)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := s2.fakeRecord(unknown)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f1, f2) || ValidateRecord(f1) != nil {
		t.Fatal("fake record is not deterministic per account, or does not validate")
	}
}

func TestTamperedKE2(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)

	l, ke1, err := LoginStart(key)
	if err != nil {
		t.Fatal(err)
	}
	ke2, _, err := s.LoginStart(id, record, ke1)
	if err != nil {
		t.Fatal(err)
	}
	// One flipped bit in each field: OPRF evaluation (0), masking nonce
	// (32), masked response (64), server nonce (224), server key share
	// (256), server MAC (288).
	// A Login is single-use, so each tampered answer comes from a fresh
	// exchange.
	for _, off := range []int{0, 40, 100, 200, 260, 300, KE2Size - 1} {
		lx, ke1x, err := LoginStart(key)
		if err != nil {
			t.Fatal(err)
		}
		ke2x, _, err := s.LoginStart(id, record, ke1x)
		if err != nil {
			t.Fatal(err)
		}
		ke2x[off] ^= 0x01
		if _, err := lx.Finish(id, ke2x); !errors.Is(err, ErrServerAuth) {
			t.Fatalf("KE2 with byte %d flipped: %v, want ErrServerAuth", off, err)
		}
	}
	// The untampered answer still works, and a Login is single-use.
	if _, err := l.Finish(id, ke2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Finish(id, ke2); err == nil {
		t.Fatal("a Login finished twice")
	}
}

func TestLoginKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, _, err := LoginStart(make([]byte, n)); err == nil {
			t.Errorf("LoginStart accepted a %d-byte login key", n)
		}
		if _, _, err := RegisterStart(make([]byte, n)); err == nil {
			t.Errorf("RegisterStart accepted a %d-byte login key", n)
		}
	}
}

// garbage is a table of inputs no decoder may accept and none may panic on.
func garbage(t testing.TB, size int) map[string][]byte {
	g := map[string][]byte{
		"nil":       nil,
		"empty":     {},
		"one byte":  {1},
		"short":     bytes.Repeat([]byte{0xaa}, size-1),
		"long":      bytes.Repeat([]byte{0xaa}, size+1),
		"huge":      make([]byte, 1<<20),
		"zeros":     make([]byte, size),
		"all ones":  bytes.Repeat([]byte{0xff}, size),
		"random":    make([]byte, size),
		"non-canon": bytes.Repeat([]byte{0xed}, size),
	}
	if _, err := rand.Read(g["random"]); err != nil {
		t.Fatal(err)
	}
	return g
}

// refused reports whether garbage input named name got the error want.
// Inputs that are only group elements and scalars have no checksum: the
// "random" garbage is a valid encoding now and then, and then rightly
// accepted; what matters is that nothing panics and nothing else passes.
func refused(name string, err, want error) bool {
	return errors.Is(err, want) || (name == "random" && err == nil)
}

func TestGarbageNeverPanics(t *testing.T) {
	s, _ := newServer(t)
	id := randomID(t)
	key := randomKey(t)
	record := register(t, s, id, key)
	good := runLogin(t, s, id, record, key)
	_, ke1, err := LoginStart(key)
	if err != nil {
		t.Fatal(err)
	}

	for name, in := range garbage(t, RegisterRequestSize) {
		if _, err := s.RegisterResponse(id, in); !refused(name, err, ErrMalformed) {
			t.Errorf("registration request %s: %v, want ErrMalformed", name, err)
		}
	}
	for name, in := range garbage(t, RecordSize) {
		if err := ValidateRecord(in); !refused(name, err, ErrMalformed) {
			t.Errorf("record %s: %v, want ErrMalformed", name, err)
		}
		if in == nil {
			continue // nil means "unknown account" to LoginStart
		}
		if _, _, err := s.LoginStart(id, in, ke1); !refused(name, err, ErrDamaged) {
			t.Errorf("stored record %s: %v, want ErrDamaged", name, err)
		}
	}
	for name, in := range garbage(t, KE1Size) {
		for _, rec := range [][]byte{record, nil} {
			if _, _, err := s.LoginStart(id, rec, in); !refused(name, err, ErrMalformed) {
				t.Errorf("KE1 %s: %v, want ErrMalformed", name, err)
			}
		}
	}
	for name, in := range garbage(t, KE3Size) {
		err := s.LoginFinish(good.state, in)
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLoginFailed) {
			t.Errorf("KE3 %s: %v, want ErrMalformed or ErrLoginFailed", name, err)
		}
	}
	for name, in := range garbage(t, stateSize) {
		if err := s.LoginFinish(in, good.ke3); !errors.Is(err, ErrDamaged) {
			t.Errorf("state %s: %v, want ErrDamaged", name, err)
		}
	}
	for name, in := range garbage(t, keysSize) {
		if _, err := NewServer(in); !refused(name, err, ErrDamaged) {
			t.Errorf("server keys %s: %v, want ErrDamaged", name, err)
		}
	}
	for name, in := range garbage(t, KE2Size) {
		l, _, err := LoginStart(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Finish(id, in); !errors.Is(err, ErrServerAuth) {
			t.Errorf("KE2 %s: %v, want ErrServerAuth", name, err)
		}
	}
	for name, in := range garbage(t, RegisterResponseSize) {
		r, _, err := RegisterStart(key)
		if err != nil {
			t.Fatal(err)
		}
		// A registration response is two group elements: random bytes
		// are a valid one now and then.
		if _, err := r.Finish(id, in); !refused(name, err, ErrMalformed) {
			t.Errorf("registration response %s: %v, want ErrMalformed", name, err)
		}
	}
	// The good state still finishes after all that: LoginFinish keeps nothing.
	if err := s.LoginFinish(good.state, good.ke3); err != nil {
		t.Fatal(err)
	}
}

func TestServerKeys(t *testing.T) {
	_, keys := newServer(t)
	if len(keys) != keysSize {
		t.Fatalf("server keys are %d bytes, want %d", len(keys), keysSize)
	}
	other, err := NewServerKeys()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(keys, other) {
		t.Fatal("NewServerKeys made the same keys twice")
	}
	tests := []struct {
		name   string
		mutate func([]byte)
	}{
		{"wrong magic", func(k []byte) { k[0] = 'X' }},
		{"version 2", func(k []byte) { k[4] = 2 }},
		{"zero private key", func(k []byte) { clear(k[5 : 5+akeKeySize]) }},
		{"non-canonical private key", func(k []byte) {
			for i := 5; i < 5+akeKeySize; i++ {
				k[i] = 0xff
			}
		}},
		{"zero OPRF seed", func(k []byte) { clear(k[5+akeKeySize : 5+akeKeySize+oprfSeedLen]) }},
		{"zero fake secret", func(k []byte) { clear(k[5+akeKeySize+oprfSeedLen:]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := bytes.Clone(keys)
			tc.mutate(k)
			if _, err := NewServer(k); !errors.Is(err, ErrDamaged) {
				t.Fatalf("NewServer: %v, want ErrDamaged", err)
			}
		})
	}
}

// BenchmarkServerLogin measures the server's share of one login:
// LoginStart and LoginFinish for a known account.
func BenchmarkServerLogin(b *testing.B) {
	s, _ := newServer(b)
	id := randomID(b)
	key := randomKey(b)
	record := register(b, s, id, key)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		l, ke1, err := LoginStart(key)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ke2, state, err := s.LoginStart(id, record, ke1)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ke3, err := l.Finish(id, ke2)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.LoginFinish(state, ke3); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginStart compares the cost of answering a known and an
// unknown account: they should be close, so timing does not tell them
// apart.
func BenchmarkLoginStart(b *testing.B) {
	s, _ := newServer(b)
	id := randomID(b)
	key := randomKey(b)
	record := register(b, s, id, key)
	_, ke1, err := LoginStart(key)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		record []byte
	}{{"known", record}, {"unknown", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.LoginStart(id, bc.record, ke1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientLogin measures the client's share (excluding the Argon2id
// that makes the login key).
func BenchmarkClientLogin(b *testing.B) {
	s, _ := newServer(b)
	id := randomID(b)
	key := randomKey(b)
	record := register(b, s, id, key)
	for b.Loop() {
		l, ke1, err := LoginStart(key)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ke2, _, err := s.LoginStart(id, record, ke1)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := l.Finish(id, ke2); err != nil {
			b.Fatal(err)
		}
	}
}
