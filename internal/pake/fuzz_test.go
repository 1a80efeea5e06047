package pake

import (
	"bytes"
	"errors"
	"testing"
)

// Seed corpora live in testdata/fuzz/FuzzXxx: a genuine message of each
// kind (from an earlier run, so valid in form but not in this session) and
// a few near misses.

// fuzzFixture is one registered account and one login in progress.
type fuzzFixture struct {
	s      *Server
	id     [16]byte
	key    []byte
	record []byte
	ke1    []byte
	good   login
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	s, _ := newServer(f)
	x := &fuzzFixture{s: s, id: randomID(f), key: randomKey(f)}
	x.record = register(f, s, x.id, x.key)
	var err error
	if _, x.ke1, err = LoginStart(x.key); err != nil {
		f.Fatal(err)
	}
	x.good = runLogin(f, s, x.id, x.record, x.key)
	if x.good.clientErr != nil {
		f.Fatal(x.good.clientErr)
	}
	return x
}

func FuzzRegisterRequest(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := x.s.RegisterResponse(x.id, req)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		if len(req) != RegisterRequestSize || len(resp) != RegisterResponseSize {
			t.Fatalf("accepted a %d-byte request, answered %d bytes", len(req), len(resp))
		}
		d, err := configuration().Deserializer()
		if err != nil {
			t.Fatal(err)
		}
		m, err := d.RegistrationRequest(req)
		if err != nil || !bytes.Equal(m.Serialize(), req) {
			t.Fatal("accepted a request that does not re-encode to itself")
		}
	})
}

func FuzzRecord(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, record []byte) {
		err := ValidateRecord(record)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			if record != nil {
				if _, _, err := x.s.LoginStart(x.id, record, x.ke1); !errors.Is(err, ErrDamaged) {
					t.Fatalf("LoginStart with a record ValidateRecord refused: %v, want ErrDamaged", err)
				}
			}
			return
		}
		rec, err := decodeRecord(record)
		if err != nil || !bytes.Equal(rec.Serialize(), record) {
			t.Fatal("accepted a record that does not re-encode to itself")
		}
		// Whatever passes validation works in a login start.
		if _, _, err := x.s.LoginStart(x.id, record, x.ke1); err != nil {
			t.Fatalf("LoginStart refused a validated record: %v", err)
		}
	})
}

func FuzzKE1(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, ke1 []byte) {
		for _, record := range [][]byte{x.record, nil} {
			ke2, state, err := x.s.LoginStart(x.id, record, ke1)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error is not ErrMalformed: %v", err)
				}
				continue
			}
			if len(ke1) != KE1Size || len(ke2) != KE2Size || len(state) != stateSize {
				t.Fatalf("accepted a %d-byte KE1, answered %d-byte KE2 and %d-byte state", len(ke1), len(ke2), len(state))
			}
			d, err := configuration().Deserializer()
			if err != nil {
				t.Fatal(err)
			}
			m, err := d.KE1(ke1)
			if err != nil || !bytes.Equal(m.Serialize(), ke1) {
				t.Fatal("accepted a KE1 that does not re-encode to itself")
			}
		}
	})
}

func FuzzKE3(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, ke3 []byte) {
		err := x.s.LoginFinish(x.good.state, ke3)
		if err == nil {
			if !bytes.Equal(ke3, x.good.ke3) {
				t.Fatal("LoginFinish accepted a KE3 the client did not make")
			}
			return
		}
		if !errors.Is(err, ErrLoginFailed) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error is neither ErrLoginFailed nor ErrMalformed: %v", err)
		}
	})
}

func FuzzState(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, state []byte) {
		err := x.s.LoginFinish(state, x.good.ke3)
		if err == nil {
			if !bytes.Equal(state, x.good.state) {
				t.Fatal("LoginFinish accepted a state LoginStart did not make")
			}
			return
		}
		if !errors.Is(err, ErrLoginFailed) && !errors.Is(err, ErrDamaged) {
			t.Fatalf("error is neither ErrLoginFailed nor ErrDamaged: %v", err)
		}
	})
}

func FuzzServerKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, keys []byte) {
		s, err := NewServer(keys)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error is not ErrDamaged: %v", err)
			}
			return
		}
		if len(keys) != keysSize {
			t.Fatalf("accepted %d bytes of keys", len(keys))
		}
		// Keys that load must serve a whole registration and login.
		id := randomID(t)
		key := randomKey(t)
		record := register(t, s, id, key)
		lg := runLogin(t, s, id, record, key)
		if lg.clientErr != nil {
			t.Fatal(lg.clientErr)
		}
		if err := s.LoginFinish(lg.state, lg.ke3); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzKE2(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, ke2 []byte) {
		l, _, err := LoginStart(x.key)
		if err != nil {
			t.Fatal(err)
		}
		// This login's KE1 never reached a server: no KE2 can be genuine.
		if _, err := l.Finish(x.id, ke2); !errors.Is(err, ErrServerAuth) {
			t.Fatalf("Finish with a KE2 not made for this login: %v, want ErrServerAuth", err)
		}
	})
}

func FuzzRegisterResponse(f *testing.F) {
	x := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, resp []byte) {
		r, _, err := RegisterStart(x.key)
		if err != nil {
			t.Fatal(err)
		}
		record, err := r.Finish(x.id, resp)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error is not ErrMalformed: %v", err)
			}
			return
		}
		if len(resp) != RegisterResponseSize {
			t.Fatalf("accepted a %d-byte response", len(resp))
		}
		if err := ValidateRecord(record); err != nil {
			t.Fatalf("Finish made a record ValidateRecord refuses: %v", err)
		}
	})
}
