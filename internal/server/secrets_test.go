package server

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/server/store"
)

// secretsVector is a secrets file and the mail public key its mail key
// gives (testdata/secrets-v1.txt).
const secretsVectorMailKey = "keyhold-mail-key-v1:+80s3FCKgA8LaviRl9NBBKhaBMfdpNniT6wAfLr7HNg="

// TestSecretsVector: the file format of docs/SERVER.md reads as it says,
// and writing it back gives the same bytes.
func TestSecretsVector(t *testing.T) {
	data, err := os.ReadFile("testdata/secrets-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSecrets(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := MailPublicKeyOf(s)
	if err != nil || mailticket.FormatPublicKey(pub) != secretsVectorMailKey {
		t.Errorf("mail key %s, %v; want %s", mailticket.FormatPublicKey(pub), err, secretsVectorMailKey)
	}
	if !bytes.Equal(s.Marshal(), data) {
		t.Errorf("Marshal(Parse(file)) differs:\n%s", s.Marshal())
	}
	bad := map[string]string{
		"no version":      strings.Replace(string(data), SecretsVersion+"\n", "", 1),
		"other version":   strings.Replace(string(data), SecretsVersion, "keyhold-server-secrets-v2", 1),
		"crlf":            strings.ReplaceAll(string(data), "\n", "\r\n"),
		"no final eol":    strings.TrimSuffix(string(data), "\n"),
		"extra line":      string(data) + "x y\n",
		"order":           swapLines(string(data), 2, 3),
		"bad base64":      strings.Replace(string(data), "mail-ticket-key ", "mail-ticket-key !", 1),
		"unpadded":        strings.Replace(string(data), "=\nmail", "\nmail", 1),
		"two spaces":      strings.Replace(string(data), "mail-ticket-key ", "mail-ticket-key  ", 1),
		"short mail seed": strings.Replace(string(data), "mail-ticket-key 7cab", "mail-ticket-key ", 1),
		"damaged pake":    strings.Replace(string(data), "pake-server-keys S0hM", "pake-server-keys AAAA", 1),
	}
	for name, b := range bad {
		if _, err := ParseSecrets([]byte(b)); !errors.Is(err, ErrSecretsFile) {
			t.Errorf("%s: got %v, want ErrSecretsFile", name, err)
		}
	}
}

func swapLines(s string, i, j int) string {
	l := strings.Split(s, "\n")
	l[i], l[j] = l[j], l[i]
	return strings.Join(l, "\n")
}

func FuzzParseSecrets(f *testing.F) {
	data, err := os.ReadFile("testdata/secrets-v1.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(SecretsVersion + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSecrets(b)
		if err != nil {
			if !errors.Is(err, ErrSecretsFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatalf("accepted a non-canonical form")
		}
	})
}

// TestSecretsOutsideDatabase: with Config.Secrets the database never holds
// the server secrets; replicas given the same file serve the same
// accounts; a server without them, or with others, refuses to start.
func TestSecretsOutsideDatabase(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		sec, err := GenerateSecrets()
		if err != nil {
			t.Fatal(err)
		}
		st := open(t)
		e := newEnv(t, st, func(c *Config) { c.Secrets = sec })
		u := e.newUser()
		ctx := context.Background()
		for _, name := range secretNames {
			if _, err := st.Secret(ctx, name, nil); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the database holds %s: %v", name, err)
			}
		}
		// A second replica with the same secrets serves the account.
		e2 := newEnv(t, open(t), func(c *Config) { c.Secrets = sec; c.Now = e.clock.Now })
		e2.mustLogin(u, u.device)
		pub, _ := MailPublicKeyOf(sec)
		if !pub.Equal(e2.srv.mailKey.Public()) {
			t.Error("tickets are not signed with the given mail key")
		}
		// Without the secrets, a server refuses rather than making new
		// ones, which would lock every account out.
		if _, err := New(Config{Store: open(t)}); !errors.Is(err, ErrSecretsElsewhere) {
			t.Errorf("New without the secrets: %v, want ErrSecretsElsewhere", err)
		}
		if _, err := DatabaseSecrets(ctx, st, true); !errors.Is(err, ErrSecretsElsewhere) {
			t.Errorf("export from a database without its secrets: %v", err)
		}
		// Nor does it start with other secrets.
		other, _ := GenerateSecrets()
		if _, err := New(Config{Store: open(t), Secrets: other}); !errors.Is(err, ErrSecretsDiffer) {
			t.Errorf("New with other secrets: %v, want ErrSecretsDiffer", err)
		}
	})
}

// TestSecretsMovedOut: an existing database's secrets can be exported,
// removed from it, and given to the server, and its accounts still log
// in; secrets that differ from the database's are refused.
func TestSecretsMovedOut(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		st := open(t)
		e := newEnv(t, st)
		u := e.newUser()
		ctx := context.Background()
		sec, err := DatabaseSecrets(ctx, st, false)
		if err != nil {
			t.Fatal(err)
		}
		// Other secrets than the database's are refused.
		other, _ := GenerateSecrets()
		if _, err := New(Config{Store: open(t), Secrets: other}); !errors.Is(err, ErrSecretsDiffer) {
			t.Errorf("other secrets: %v, want ErrSecretsDiffer", err)
		}
		if elsewhere, err := SecretsKeptElsewhere(ctx, st); elsewhere || err != nil {
			t.Errorf("a refused start marked the secrets as kept elsewhere: %v, %v", elsewhere, err)
		}
		// Through the file form, as an operator would move them.
		path := filepath.Join(t.TempDir(), "secrets")
		if err := os.WriteFile(path, sec.Marshal(), 0o600); err != nil {
			t.Fatal(err)
		}
		fromFile, err := ReadSecretsFile(path)
		if err != nil || !fromFile.Equal(sec) {
			t.Fatalf("read back: %v", err)
		}
		if err := RemoveDatabaseSecrets(ctx, st); err != nil {
			t.Fatal(err)
		}
		e2 := newEnv(t, open(t), func(c *Config) { c.Secrets = fromFile; c.Now = e.clock.Now })
		e2.mustLogin(u, u.device)
		if _, err := New(Config{Store: open(t)}); !errors.Is(err, ErrSecretsElsewhere) {
			t.Errorf("New without the secrets after the move: %v", err)
		}
		if _, err := New(Config{Store: open(t), Secrets: other}); !errors.Is(err, ErrSecretsDiffer) {
			t.Errorf("New with other secrets after the move: %v", err)
		}
		// A file others may read is refused.
		os.Chmod(path, 0o644)
		if _, err := ReadSecretsFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a world-readable secrets file: %v", err)
		}
	})
}
