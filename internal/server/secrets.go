package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/pake"
	"github.com/keyhold/keyhold/internal/server/store"
)

// Secrets are the server's long-term secrets: the OPAQUE server keys (the
// server's key pair, the OPRF seed every account's OPRF key is derived
// from, and the key fake records are derived from), the key fake envelope
// headers are derived from, and the seed of the mail ticket signing key.
//
// By default they live in the database (table secrets), made on first use,
// so every replica sharing it has them, and so does every copy of it. With
// Config.Secrets they come from elsewhere (keyhold-server serve --secrets
// FILE, docs/SERVER.md), and a copy of the database alone no longer holds
// them: see docs/LOGIN.md for what that denies a thief.
type Secrets struct {
	PAKEKeys      []byte // pake.NewServerKeys
	FakeHeaderKey []byte // 32 bytes
	MailKeySeed   []byte // ed25519.SeedSize bytes
}

// SecretsVersion is the first line of the secrets file format (SPEC-like
// description in docs/SERVER.md, "Server secrets"):
//
//	keyhold-server-secrets-v1
//	pake-server-keys BASE64
//	fake-envelope-header-key BASE64
//	mail-ticket-key BASE64
//
// Each line ends with a newline; base64 is standard with padding; the
// names are the database's names of the same secrets. Nothing else is
// allowed, so each set of secrets has one text form. The file is not
// sealed: whoever may write it is the server's operator.
const SecretsVersion = "keyhold-server-secrets-v1"

// secretNames are the secrets in file order, with their database names.
var secretNames = [3]string{pakeKeysName, fakeHeaderKeyName, mailKeyName}

func (s *Secrets) fields() [3]*[]byte {
	return [3]*[]byte{&s.PAKEKeys, &s.FakeHeaderKey, &s.MailKeySeed}
}

// ErrSecretsFile means a secrets file (or KEYHOLD_SERVER_SECRETS) is not
// in the format above, or holds secrets that are not valid.
var ErrSecretsFile = errors.New("not a keyhold-server secrets file")

// GenerateSecrets makes a new set of secrets, for a new installation.
func GenerateSecrets() (*Secrets, error) {
	var s Secrets
	gens := [3]func() ([]byte, error){pake.NewServerKeys, newFakeHeaderKey, newMailKeySeed}
	for i, f := range s.fields() {
		v, err := gens[i]()
		if err != nil {
			return nil, fmt.Errorf("making the server secrets: %w", err)
		}
		*f = v
	}
	return &s, nil
}

// Marshal is the text form of s (SecretsVersion).
func (s *Secrets) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(SecretsVersion + "\n")
	for i, f := range s.fields() {
		b.WriteString(secretNames[i] + " " + base64.StdEncoding.EncodeToString(*f) + "\n")
	}
	return b.Bytes()
}

// ParseSecrets reads the text form and checks every secret.
func ParseSecrets(data []byte) (*Secrets, error) {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) != 5 || len(lines[4]) != 0 || string(lines[0]) != SecretsVersion {
		return nil, fmt.Errorf("%w: it must be the line %s and three lines of secrets", ErrSecretsFile, SecretsVersion)
	}
	var s Secrets
	for i, f := range s.fields() {
		name, val, ok := bytes.Cut(lines[i+1], []byte(" "))
		if !ok || string(name) != secretNames[i] {
			return nil, fmt.Errorf("%w: line %d must start with %q", ErrSecretsFile, i+2, secretNames[i]+" ")
		}
		v, err := base64.StdEncoding.Strict().DecodeString(string(val))
		if err != nil || base64.StdEncoding.EncodeToString(v) != string(val) {
			return nil, fmt.Errorf("%w: %s is not valid base64", ErrSecretsFile, secretNames[i])
		}
		*f = v
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretsFile, err)
	}
	return &s, nil
}

// check reports a secret of the wrong size or form.
func (s *Secrets) check() error {
	if _, err := pake.NewServer(s.PAKEKeys); err != nil {
		return fmt.Errorf("%s: %w", pakeKeysName, err)
	}
	if len(s.FakeHeaderKey) != 32 {
		return fmt.Errorf("%s must be 32 bytes", fakeHeaderKeyName)
	}
	if len(s.MailKeySeed) != ed25519.SeedSize {
		return fmt.Errorf("%s must be %d bytes", mailKeyName, ed25519.SeedSize)
	}
	return nil
}

// Equal reports whether s and o are the same secrets (in constant time).
func (s *Secrets) Equal(o *Secrets) bool {
	a, b := s.fields(), o.fields()
	eq := 1
	for i := range a {
		eq &= subtle.ConstantTimeCompare(*a[i], *b[i])
	}
	return eq == 1
}

// Clear overwrites the secrets.
func (s *Secrets) Clear() {
	for _, f := range s.fields() {
		clear(*f)
	}
}

// ReadSecretsFile reads and checks a secrets file. On Unix a file that
// other users may read is refused, as ssh refuses such a key.
func ReadSecretsFile(path string) (*Secrets, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("server secrets: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("server secrets: %s may be read by other users (mode %v); make it readable by the server's user only (chmod 600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server secrets: %w", err)
	}
	defer clear(data)
	s, err := ParseSecrets(data)
	if err != nil {
		return nil, fmt.Errorf("server secrets: %s: %w", path, err)
	}
	return s, nil
}

// DatabaseSecrets returns the secrets kept in st's database. With create,
// missing ones are made there first (as a server's first start would);
// without, a database lacking any of them gives store.ErrNotFound.
func DatabaseSecrets(ctx context.Context, st store.Store, create bool) (*Secrets, error) {
	if create {
		if elsewhere, err := SecretsKeptElsewhere(ctx, st); err != nil {
			return nil, err
		} else if elsewhere {
			return nil, ErrSecretsElsewhere
		}
	}
	gens := [3]func() ([]byte, error){pake.NewServerKeys, newFakeHeaderKey, newMailKeySeed}
	var s Secrets
	for i, f := range s.fields() {
		gen := gens[i]
		if !create {
			gen = nil
		}
		v, err := st.Secret(ctx, secretNames[i], gen)
		if err != nil {
			return nil, fmt.Errorf("reading the server secret %s from the database: %w", secretNames[i], err)
		}
		*f = v
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("the database's server secrets are damaged: %w", err)
	}
	return &s, nil
}

// secretsElsewhereName is a database entry that is no secret: its
// presence says the server secrets are kept outside the database, so a
// server started without them refuses instead of making new ones (which
// would lock every account out), and its value (secretsID) lets a server
// given other secrets refuse too.
const secretsElsewhereName = "secrets-kept-elsewhere"

// secretsID identifies a set of secrets without revealing them: SHA-256
// of a label and their text form. The secrets are 256-bit random values,
// so the hash gives nothing to guess from.
func (s *Secrets) secretsID() []byte {
	data := s.Marshal()
	defer clear(data)
	h := sha256.New()
	h.Write([]byte("keyhold-server secrets id v1\x00"))
	h.Write(data)
	return h.Sum(nil)
}

// markSecretsElsewhere records that sec are the database's secrets, kept
// outside it; ErrSecretsDiffer if other secrets were recorded.
func markSecretsElsewhere(ctx context.Context, st store.Store, sec *Secrets) error {
	id := sec.secretsID()
	got, err := st.Secret(ctx, secretsElsewhereName, func() ([]byte, error) { return id, nil })
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, id) != 1 {
		return fmt.Errorf("%w: the secrets given are not the ones this database's servers use", ErrSecretsDiffer)
	}
	return nil
}

// SecretsKeptElsewhere reports whether st's server secrets were moved out
// of it (RemoveDatabaseSecrets, or a server started with Config.Secrets).
func SecretsKeptElsewhere(ctx context.Context, st store.Store) (bool, error) {
	_, err := st.Secret(ctx, secretsElsewhereName, nil)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ErrSecretsElsewhere means a server was started without its secrets on
// a database whose secrets were moved out of it.
var ErrSecretsElsewhere = errors.New("this database's server secrets are kept outside it: start the server with them (--secrets FILE or KEYHOLD_SERVER_SECRETS)")

// RemoveDatabaseSecrets deletes the secrets from st's database, once they
// are kept elsewhere: from then on every server on the database needs
// them given (serve --secrets), and refuses to start without them.
func RemoveDatabaseSecrets(ctx context.Context, st store.Store) error {
	sec, err := DatabaseSecrets(ctx, st, false)
	if err != nil {
		return err
	}
	defer sec.Clear()
	if err := markSecretsElsewhere(ctx, st, sec); err != nil {
		return err
	}
	for _, name := range secretNames {
		if err := st.DeleteSecret(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// ErrSecretsDiffer means the database holds other server secrets than the
// ones given: the accounts registered under the database's would fail to
// log in.
var ErrSecretsDiffer = errors.New("the database holds other server secrets than the ones given")

// loadSecrets gives the secrets a new Server uses: cfg.Secrets if set
// (refusing a database that holds different ones), else the database's,
// made on first use.
func loadSecrets(ctx context.Context, cfg *Config) (sec *Secrets, inDB bool, err error) {
	if cfg.Secrets == nil {
		sec, err := DatabaseSecrets(ctx, cfg.Store, true)
		return sec, true, err
	}
	for i, f := range cfg.Secrets.fields() {
		v, err := cfg.Store.Secret(ctx, secretNames[i], nil)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading the server secret %s from the database: %w", secretNames[i], err)
		}
		inDB = true
		if subtle.ConstantTimeCompare(v, *f) != 1 {
			return nil, false, fmt.Errorf("%w (%s): give the secrets exported from this database (keyhold-server admin secrets export)", ErrSecretsDiffer, secretNames[i])
		}
	}
	// Only once they are known to agree with the database: from now on a
	// server started without them refuses.
	if err := markSecretsElsewhere(ctx, cfg.Store, cfg.Secrets); err != nil {
		return nil, false, err
	}
	return cfg.Secrets, inDB, nil
}

// MailPublicKeyOf is the public key tickets signed with sec's mail key
// are checked with.
func MailPublicKeyOf(sec *Secrets) (ed25519.PublicKey, error) {
	priv, err := mailticket.KeyFromSeed(sec.MailKeySeed)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	return priv.Public().(ed25519.PublicKey), nil
}
