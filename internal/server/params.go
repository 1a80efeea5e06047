package server

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// fakeHeaderKeyName is the store secret from which unknown accounts' fake
// envelope headers are derived.
const fakeHeaderKeyName = "fake-envelope-header-key"

// The envelope header layout (SPEC §6, bytes 0..71), as far as a fake
// one needs it. The server never parses a real header: it hands out the
// header of the stored envelope as it is (api.EnvelopeHeaderLen says how
// long it is).
const (
	envelopeMagic   = "KHEK"
	envelopeVersion = 2
	kdfArgon2id     = 1
	// Passes and lanes of a fake header: what calibration (SPEC §3)
	// always picks; only the memory varies between devices.
	fakeTime    = 3
	fakeThreads = 4
)

// weighted is a value drawn with probability weight/256.
type weighted struct {
	value  uint32
	weight int
}

// The distributions fake headers are drawn from, so that an unknown
// account's header looks like a real account's, history included
// (docs/LOGIN.md, "Unknown accounts"). Each table's weights sum to 256.
// They mirror what real accounts carry: memory as calibration picks it
// on common devices (64 MiB doubled while a derivation stays under a
// second), few key rotations (key version 1 + rotations), and few
// password changes. A real account's epoch is 1 at creation, raised by
// each rotation and each password change: key version + changes.
var (
	fakeMemoryKiB = []weighted{{64 << 10, 38}, {128 << 10, 64}, {256 << 10, 90}, {512 << 10, 51}, {1 << 20, 13}}
	fakeKeyVer    = []weighted{{1, 216}, {2, 28}, {3, 9}, {4, 3}}
	fakeChanges   = []weighted{{0, 154}, {1, 64}, {2, 25}, {3, 9}, {4, 4}}
)

// draw picks from t with the byte b as a uniform draw in 0..255.
func draw(t []weighted, b byte) uint32 {
	n := int(b)
	for _, w := range t {
		if n < w.weight {
			return w.value
		}
		n -= w.weight
	}
	return t[len(t)-1].value
}

func newFakeHeaderKey() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
}

// loginParams hands out the header of the account's envelope, which a new
// device needs to derive its login key. For an unknown account it makes a
// header of the same shape, the same at every request, from a server
// secret: without the Secret Key the two cannot be told apart.
func (s *Server) loginParams(w http.ResponseWriter, r *http.Request) {
	var req api.LoginParamsRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	id := mustID(req.AccountID)
	var header []byte
	keys, err := s.st.Keys(r.Context(), id)
	switch {
	case err == nil && api.EnvelopeHeaderLen(keys.Envelope) > 0 && len(keys.Envelope) >= api.EnvelopeHeaderLen(keys.Envelope):
		header = keys.Envelope[:api.EnvelopeHeaderLen(keys.Envelope)]
	case err == nil:
		s.internal(w, r, errors.New("the account's stored envelope is shorter than its header"))
		return
	case errors.Is(err, store.ErrNotFound):
		if header, err = s.fakeHeader(id); err != nil {
			s.internal(w, r, err)
			return
		}
	default:
		s.internal(w, r, err)
		return
	}
	svc.WriteJSON(w, http.StatusOK, api.LoginParamsResponse{Header: header})
}

// fakeHeader derives an unknown account's envelope header: key version,
// password epoch and Argon2id memory drawn from the distributions above,
// and a salt and Secret Key check that look random; all fixed for the
// account id.
func (s *Server) fakeHeader(id store.ID) ([]byte, error) {
	// The first 32 bytes are the salt and check, as before fake headers
	// carried a history (HKDF output is a prefix of a longer output).
	okm, err := hkdf.Key(sha256.New, s.fakeHeaderKey, id[:], "keyhold v1 fake envelope header", 16+16+3)
	if err != nil {
		return nil, err
	}
	kv := draw(fakeKeyVer, okm[33])
	epoch := kv + draw(fakeChanges, okm[34])
	h := make([]byte, 0, api.EnvelopeHeaderSize)
	h = append(h, envelopeMagic...)
	h = append(h, envelopeVersion)
	h = append(h, id[:]...)
	h = binary.BigEndian.AppendUint32(h, kv)
	h = binary.BigEndian.AppendUint32(h, epoch)
	h = append(h, kdfArgon2id)
	h = binary.BigEndian.AppendUint32(h, fakeTime)
	h = binary.BigEndian.AppendUint32(h, draw(fakeMemoryKiB, okm[32]))
	h = append(h, fakeThreads)
	h = append(h, okm[:32]...) // salt, Secret Key check
	return h, nil
}
