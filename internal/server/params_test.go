package server

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// headerShape is what a login answer says about an account beyond its
// random-looking salt and check.
type headerShape struct {
	version   byte
	keyVer    uint32
	epoch     uint32
	kdf       keys.KDFParams
	headerLen int
}

func shapeOf(t *testing.T, h []byte) headerShape {
	t.Helper()
	env, err := format.ParseEnvelopeHeader(h)
	if err != nil {
		t.Fatalf("login params header does not parse as an envelope header: %v", err)
	}
	return headerShape{version: h[4], keyVer: env.KeyVersion, epoch: env.Epoch, kdf: env.KDF, headerLen: len(h)}
}

// Unknown accounts' login parameters follow the distributions real
// accounts do: the same encoding, the parameters calibration picks, and a
// key version and password epoch that a real history (creation, password
// changes, rotations) produces; and their frequencies are the documented
// ones. A real account's answer, read the same way, is one a fake could
// have been.
func TestFakeLoginParamsLookReal(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	params := func(id [16]byte) []byte {
		var p api.LoginParamsResponse
		e.do("POST", "/v1/login/params", "", api.LoginParamsRequest{AccountID: api.FormatID(id)}).ok(t, 200, &p)
		return p.Header
	}
	calibrated := func(p keys.KDFParams) bool {
		if p.Time != keys.DefaultTime || p.Threads != keys.DefaultThreads {
			return false
		}
		for m := keys.MinDefaultMiB * 1024; m <= keys.MaxKDF.MemoryKiB; m *= 2 {
			if p.MemoryKiB == m {
				return true
			}
		}
		return false
	}

	// Real accounts: made by the client's own code, at calibration's
	// lowest setting, through creation and a password change.
	kdf := keys.KDFParams{Time: keys.DefaultTime, MemoryKiB: keys.MinDefaultMiB * 1024, Threads: keys.DefaultThreads}
	u := &user{id: newID(), loginKey: randomKey(), device: newDevice("real")}
	u.idStr = api.FormatID(u.id)
	ak, _ := keys.NewAccountKey()
	sk, _ := keys.NewSecretKey()
	env1, d1, err := format.NewEnvelope(ak, keys.AccountID(u.id), 1, 1, []byte("pw"), sk, kdf)
	if err != nil {
		t.Fatal(err)
	}
	record := e.register(u.id, d1.Login[:], "")
	e.do("POST", "/v1/accounts", "", api.CreateAccountRequest{AccountID: u.idStr, Record: record, Envelope: env1.Marshal(),
		KeyCheck: []byte("k"), KeyVersion: 1, Device: u.device}).ok(t, 201, nil)
	u.loginKey = d1.Login[:]
	u.token = e.mustLogin(u, u.device)
	var real []headerShape
	real = append(real, shapeOf(t, params(u.id)))
	env2, d2, err := format.NewEnvelope(ak, keys.AccountID(u.id), 1, 2, []byte("pw2"), sk, kdf)
	if err != nil {
		t.Fatal(err)
	}
	e.mustReauth(u)
	e.do("PUT", "/v1/account/password", u.token, api.PasswordRequest{KeyVersion: 1, Envelope: env2.Marshal(), Record: e.register(u.id, d2.Login[:], u.token)}).ok(t, 204, nil)
	real = append(real, shapeOf(t, params(u.id)))

	// Fakes.
	const n = 4096
	kvCount, changeCount, memCount := map[uint32]int{}, map[uint32]int{}, map[uint32]int{}
	seen := map[[2]uint32]bool{}
	for range n {
		id := newID()
		h := params(id)
		s := shapeOf(t, h)
		if s.version != format.Version2 || s.headerLen != api.EnvelopeHeaderSize || binary.BigEndian.Uint32(h[21:]) != s.keyVer {
			t.Fatalf("fake header of another encoding: %+v", s)
		}
		if !calibrated(s.kdf) {
			t.Fatalf("fake KDF parameters no calibration picks: %v", s.kdf)
		}
		if s.keyVer < 1 || s.epoch < s.keyVer {
			t.Fatalf("fake key version %d and epoch %d: no real history gives them", s.keyVer, s.epoch)
		}
		kvCount[s.keyVer]++
		changeCount[s.epoch-s.keyVer]++
		memCount[s.kdf.MemoryKiB]++
		seen[[2]uint32{s.keyVer, s.epoch}] = true
	}
	// Each real answer is of a shape fakes take too.
	for _, r := range real {
		if r.version != format.Version2 || r.headerLen != api.EnvelopeHeaderSize || !calibrated(r.kdf) || memCount[r.kdf.MemoryKiB] == 0 {
			t.Errorf("a real account's header %+v is of a shape no fake has", r)
		}
		if !seen[[2]uint32{r.keyVer, r.epoch}] {
			t.Errorf("a real account's key version %d and epoch %d never appear among fakes", r.keyVer, r.epoch)
		}
	}
	// The frequencies are the documented ones, within five standard
	// deviations.
	for _, c := range []struct {
		name  string
		table []weighted
		count map[uint32]int
	}{{"key version", fakeKeyVer, kvCount}, {"password changes", fakeChanges, changeCount}, {"memory", fakeMemoryKiB, memCount}} {
		total := 0
		for _, w := range c.table {
			total += w.weight
			p := float64(w.weight) / 256
			want, sd := n*p, math.Sqrt(n*p*(1-p))
			if got := float64(c.count[w.value]); math.Abs(got-want) > 5*sd {
				t.Errorf("%s %d: %v of %d fakes, want about %.0f", c.name, w.value, got, n, want)
			}
		}
		if total != 256 {
			t.Errorf("the %s weights sum to %d, want 256", c.name, total)
		}
	}
}
