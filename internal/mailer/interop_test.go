package mailer

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailer/mailertest"
	"github.com/keyhold/keyhold/internal/testenv"
)

// The PGP/MIME mail the device sealed and the mailer relayed decrypts with
// GnuPG, to a key GnuPG made, and the age attachment with the age command.
func TestInteropGnuPG(t *testing.T) {
	testenv.NeedProgram(t, "gpg", "gnupg")
	testenv.NeedProgram(t, "gpgconf", "gnupg")
	home, err := os.MkdirTemp("", "kh-gpg-") // short: gpg-agent's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	gpg := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Run()
	})
	os.Chmod(home, 0o700)
	gpg(nil, "--quick-generate-key", testTo, "ed25519", "sign", "never")
	var fp string
	for _, l := range strings.Split(string(gpg(nil, "--list-keys", "--with-colons", testTo)), "\n") {
		if strings.HasPrefix(l, "fpr:") {
			fp = strings.Split(l, ":")[9]
			break
		}
	}
	gpg(nil, "--quick-add-key", fp, "cv25519", "encr", "never")
	pub := gpg(nil, "--armor", "--export", testTo)

	f := newFixture(t, nil, Config{}, true)
	key, err := kitmail.ReadPGPKey(pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req := f.sealPGP(key)
	if status, code, _ := f.post(req); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	m := f.relay.Wait(t, 10*time.Second)
	_, _, leaves := mailertest.Parse(t, m.Data)
	if len(leaves) != 2 {
		t.Fatalf("%d parts", len(leaves))
	}
	inner := gpg(leaves[1].Body, "--decrypt")
	_, _, leaves = mailertest.Parse(t, inner)
	if len(leaves) != 4 {
		t.Fatalf("the decrypted entity has %d parts", len(leaves))
	}
	f.checkKitFiles(leaves[2].Body, leaves[3].Body)
}

func TestInteropAgeCLI(t *testing.T) {
	testenv.NeedProgram(t, "age", "age")
	testenv.NeedProgram(t, "age-keygen", "age")
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	if out, err := exec.Command("age-keygen", "-o", idFile).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v\n%s", err, out)
	}
	recip, err := exec.Command("age-keygen", "-y", idFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, Config{}, true)
	r, err := age.ParseX25519Recipient(strings.TrimSpace(string(recip)))
	if err != nil {
		t.Fatal(err)
	}
	req := f.sealAge(r)
	if status, code, _ := f.post(req); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, code)
	}
	m := f.relay.Wait(t, 10*time.Second)
	_, _, leaves := mailertest.Parse(t, m.Data)
	if len(leaves) != 3 {
		t.Fatalf("%d parts", len(leaves))
	}
	p := leaves[2]
	enc := filepath.Join(dir, p.Filename)
	if err := os.WriteFile(enc, p.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("age", "--decrypt", "-i", idFile, enc).Output()
	if err != nil {
		t.Fatalf("age --decrypt %s: %v", p.Filename, err)
	}
	f.checkKitFiles(out, nil)
}
