package pake

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/bytemare/ecc"
	"github.com/bytemare/opaque"
)

// Server key bytes, made once by NewServerKeys and loaded by every replica:
//
//	magic "KHLK" || version 1 || AKE private key (32) || OPRF seed (64) || fake-record secret (32)
//
// The AKE public key is recomputed from the private key. Losing these bytes
// makes every account's record useless (the OPRF seed cannot be recovered),
// so they must be backed up with the database.
const (
	keysMagic   = "KHLK"
	keysVersion = 1
	akeKeySize  = 32
	oprfSeedLen = 64
	fakeKeyLen  = 32
	keysSize    = len(keysMagic) + 1 + akeKeySize + oprfSeedLen + fakeKeyLen
)

// Pending login state, stored by the caller between LoginStart and
// LoginFinish:
//
//	magic "KHLS" || version 1 || SHA-512(expected KE3)
//
// Only a digest of the expected KE3 is kept, so whoever reads the table of
// pending logins cannot finish one of them. For an unknown account the
// digest is random: nothing can finish that login.
const (
	stateMagic   = "KHLS"
	stateVersion = 1
	stateSize    = len(stateMagic) + 1 + sha512.Size
)

// fakeRecordInfo labels the derivation of an unknown account's fake record
// from the server's fake-record secret.
const fakeRecordInfo = "keyhold v1 fake login record"

// fakeRecordDST is the hash-to-group domain separation tag for the fake
// record's client public key (a point nobody knows the discrete log of).
const fakeRecordDST = "keyhold-v1-fake-login-record-ristretto255"

// NewServerKeys makes the server's long-term login keys: the AKE key pair,
// the OPRF seed from which every account's OPRF key is derived, and the
// secret from which unknown accounts' fake records are derived. Make them
// once per deployment and give every replica the same bytes; they are a
// secret.
func NewServerKeys() ([]byte, error) {
	conf := configuration()
	sk, _ := conf.KeyGen()
	keys := make([]byte, 0, keysSize)
	keys = append(keys, keysMagic...)
	keys = append(keys, keysVersion)
	keys = append(keys, sk.Encode()...)
	keys = append(keys, conf.GenerateOPRFSeed()...)
	fake := make([]byte, fakeKeyLen)
	if _, err := rand.Read(fake); err != nil {
		return nil, fmt.Errorf("pake: reading random bytes: %w", err)
	}
	keys = append(keys, fake...)
	if len(keys) != keysSize {
		return nil, fmt.Errorf("pake: internal error: server keys are %d bytes, want %d", len(keys), keysSize)
	}
	return keys, nil
}

// Server is the server side of the protocol. It holds only the long-term
// keys, so it is safe for concurrent use and any replica's Server can finish
// a login another replica started.
type Server struct {
	op   *opaque.Server
	fake []byte // fake-record secret
}

// NewServer loads the keys NewServerKeys made.
func NewServer(keys []byte) (*Server, error) {
	if len(keys) < len(keysMagic)+1 || string(keys[:len(keysMagic)]) != keysMagic {
		return nil, fmt.Errorf("%w: these are not keyhold server login keys", ErrDamaged)
	}
	if keys[len(keysMagic)] != keysVersion {
		return nil, fmt.Errorf("%w: unsupported version %d of the server login keys", ErrDamaged, keys[len(keysMagic)])
	}
	if len(keys) != keysSize {
		return nil, fmt.Errorf("%w: server login keys are %d bytes, want %d", ErrDamaged, len(keys), keysSize)
	}
	rest := keys[len(keysMagic)+1:]
	skBytes, seed, fake := rest[:akeKeySize], rest[akeKeySize:akeKeySize+oprfSeedLen], rest[akeKeySize+oprfSeedLen:]

	conf := configuration()
	sk, err := opaque.DeserializeScalar(conf.AKE.Group(), skBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: the server's private login key is invalid", ErrDamaged)
	}
	if allZero(seed) || allZero(fake) {
		return nil, fmt.Errorf("%w: the server login keys hold an all-zero secret", ErrDamaged)
	}
	op, err := opaque.NewServer(conf)
	if err != nil {
		return nil, fmt.Errorf("pake: configuring OPAQUE: %w", err)
	}
	skm := &opaque.ServerKeyMaterial{
		PrivateKey:     sk,
		PublicKeyBytes: conf.AKE.Group().Base().Multiply(sk).Encode(),
		OPRFGlobalSeed: slices.Clone(seed),
		Identity:       []byte(ServerIdentity),
	}
	if err := op.SetKeyMaterial(skm); err != nil {
		return nil, fmt.Errorf("%w: the server login keys are invalid", ErrDamaged)
	}
	return &Server{op: op, fake: slices.Clone(fake)}, nil
}

// RegisterResponse answers a client's registration request (account
// creation or password change) for accountID. The OPRF key is derived from
// the server's seed and the account id, so the same account always gets the
// same key: a record registered now works for every later login.
//
// Each answer lets its asker test one guess of the login key once they also
// hold a KE2 for the account, so callers must throttle it like a login
// start and, without a session, refuse it for an account that exists.
func (s *Server) RegisterResponse(accountID [16]byte, request []byte) ([]byte, error) {
	if len(request) != RegisterRequestSize {
		return nil, fmt.Errorf("%w: a registration request is %d bytes, not %d", ErrMalformed, RegisterRequestSize, len(request))
	}
	req, err := s.op.Deserialize.RegistrationRequest(request)
	if err != nil {
		return nil, fmt.Errorf("%w: the registration request is not a valid group element", ErrMalformed)
	}
	resp, err := s.op.RegistrationResponse(req, accountID[:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the registration request was refused", ErrMalformed)
	}
	return resp.Serialize(), nil
}

// ValidateRecord checks that record is a well-formed registration record,
// so the server can refuse junk before it stores it. It cannot tell whether
// the record was made with the right login key: nothing but a login can.
func ValidateRecord(record []byte) error {
	_, err := decodeRecord(record)
	return err
}

// decodeRecord parses a registration record and applies every check
// GenerateKE2 would, so a record that passes always works in a login.
func decodeRecord(record []byte) (*opaque.ClientRecord, error) {
	if len(record) != RecordSize {
		return nil, fmt.Errorf("%w: a login record is %d bytes, not %d", ErrMalformed, RecordSize, len(record))
	}
	d, err := configuration().Deserializer()
	if err != nil {
		return nil, fmt.Errorf("pake: configuring OPAQUE: %w", err)
	}
	rec, err := d.RegistrationRecord(record)
	if err != nil {
		return nil, fmt.Errorf("%w: the login record is invalid", ErrMalformed)
	}
	if err := opaque.IsValidElement(ecc.Group(opaque.RistrettoSha512), rec.ClientPublicKey); err != nil {
		return nil, fmt.Errorf("%w: the login record's public key is invalid", ErrMalformed)
	}
	return &opaque.ClientRecord{RegistrationRecord: rec}, nil
}

// LoginStart answers a client's KE1 for accountID with KE2 and the pending
// login state, which the caller stores and hands to LoginFinish (on this or
// any other replica) at most once.
//
// A nil record means the account does not exist: the answer is then made
// from a fake record derived from the server's secret and the account id, so
// it has the same size and the same cost as a real one, repeated
// probes of one id answer consistently, and the login can never finish.
//
// A malformed KE1 gives ErrMalformed; a stored record that does not decode
// gives ErrDamaged.
func (s *Server) LoginStart(accountID [16]byte, record, ke1 []byte) (ke2, state []byte, err error) {
	if len(ke1) != KE1Size {
		return nil, nil, fmt.Errorf("%w: KE1 is %d bytes, not %d", ErrMalformed, KE1Size, len(ke1))
	}
	msg, err := s.op.Deserialize.KE1(ke1)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE1 is invalid", ErrMalformed)
	}

	// The fake record is derived for known accounts too, so that both
	// paths do the same work and take the same time.
	fake, err := s.fakeRecord(accountID)
	if err != nil {
		return nil, nil, err
	}
	known := record != nil
	if !known {
		record = fake
	}
	// Both paths decode the record the same way, so their cost is alike.
	rec, err := decodeRecord(record)
	if err != nil {
		if !known {
			return nil, nil, fmt.Errorf("pake: internal error: fake record: %w", err)
		}
		return nil, nil, fmt.Errorf("%w: the account's login record does not decode; the password must be set again", ErrDamaged)
	}
	rec.CredentialIdentifier = accountID[:]
	rec.ClientIdentity = accountID[:]

	out, output, err := s.op.GenerateKE2(msg, rec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: KE1 was refused", ErrMalformed)
	}
	ke2 = out.Serialize()
	if len(ke2) != KE2Size {
		return nil, nil, fmt.Errorf("pake: internal error: KE2 is %d bytes, want %d", len(ke2), KE2Size)
	}

	state = make([]byte, 0, stateSize)
	state = append(state, stateMagic...)
	state = append(state, stateVersion)
	digest := sha512.Sum512(output.ClientMAC)
	if !known {
		if _, err := rand.Read(digest[:]); err != nil {
			return nil, nil, fmt.Errorf("pake: reading random bytes: %w", err)
		}
	}
	state = append(state, digest[:]...)
	clear(output.SessionSecret)
	clear(output.ClientMAC)
	return ke2, state, nil
}

// LoginFinish checks the client's KE3 against the state LoginStart
// returned. It returns nil only if the client proved it holds the login key
// of the record LoginStart used, in this very session; any mismatch is
// ErrLoginFailed. A KE3 of the wrong length is ErrMalformed, and a state
// that does not decode is ErrDamaged.
//
// The caller must delete the state before calling (a pending login is
// finished at most once) and treat ErrMalformed like ErrLoginFailed when
// counting failures.
func (s *Server) LoginFinish(state, ke3 []byte) error {
	if len(state) != stateSize || string(state[:len(stateMagic)]) != stateMagic || state[len(stateMagic)] != stateVersion {
		return fmt.Errorf("%w: the pending login state does not decode", ErrDamaged)
	}
	if len(ke3) != KE3Size {
		return fmt.Errorf("%w: KE3 is %d bytes, not %d", ErrMalformed, KE3Size, len(ke3))
	}
	got := sha512.Sum512(ke3)
	if subtle.ConstantTimeCompare(got[:], state[len(stateMagic)+1:]) != 1 {
		return ErrLoginFailed
	}
	return nil
}

// fakeRecord derives the record an unknown account answers with: a client
// public key nobody knows the private key of, a masking key, and an
// all-zero envelope, as RFC 9807 suggests for preventing client
// enumeration (the envelope is masked, so its content never shows).
func (s *Server) fakeRecord(accountID [16]byte) ([]byte, error) {
	okm, err := hkdf.Key(sha512.New, s.fake, accountID[:], fakeRecordInfo, 64+oprfSeedLen)
	if err != nil {
		return nil, fmt.Errorf("pake: deriving a fake record: %w", err)
	}
	pk := ecc.Group(opaque.RistrettoSha512).HashToGroup(okm[:64], []byte(fakeRecordDST))
	record := make([]byte, 0, RecordSize)
	record = append(record, pk.Encode()...)
	record = append(record, okm[64:]...)
	record = append(record, make([]byte, RecordSize-len(record))...)
	return record, nil
}

func allZero(b []byte) bool {
	return bytes.Count(b, []byte{0}) == len(b)
}
