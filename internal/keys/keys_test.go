package keys

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var cheap = KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func TestSecretKeyRoundTrip(t *testing.T) {
	for i := 0; i < 200; i++ {
		k, err := NewSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		d := k.Display()
		if len(d) != len("K1-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX") || !strings.HasPrefix(d, "K1-") {
			t.Fatalf("unexpected shape %q", d)
		}
		for _, in := range []string{d, strings.ToLower(d), " " + strings.ReplaceAll(d, "-", " ") + "\n"} {
			got, err := ParseSecretKey(in)
			if err != nil || *got != *k {
				t.Fatalf("ParseSecretKey(%q) = %v", in, err)
			}
		}
	}
}

// Every single-character change of a Secret Key is caught, except the
// rare one the 12-bit check misses (at most about 1 in 4096).
func TestSecretKeyTypos(t *testing.T) {
	k, _ := NewSecretKey()
	d := k.Display()
	missed, tried := 0, 0
	for i := 3; i < len(d); i++ {
		if d[i] == '-' {
			continue
		}
		for _, c := range skAlphabet {
			if byte(c) == d[i] {
				continue
			}
			typo := d[:i] + string(c) + d[i+1:]
			tried++
			if _, err := ParseSecretKey(typo); err == nil {
				missed++
			} else if !errors.Is(err, ErrSecretKeyChecksum) && !errors.Is(err, ErrSecretKeyFormat) {
				t.Fatalf("unexpected error %v", err)
			}
		}
	}
	if missed*100 > tried {
		t.Fatalf("the check missed %d of %d typos", missed, tried)
	}
}

func TestSecretKeyErrors(t *testing.T) {
	k, _ := NewSecretKey()
	d := k.Display()
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrSecretKeyFormat},
		{"K2-" + d[3:], ErrSecretKeyFormat},
		{d[:len(d)-1], ErrSecretKeyFormat},
		{d + "A", ErrSecretKeyFormat},
		{d[:5] + "0" + d[6:], ErrSecretKeyFormat}, // 0 is not in the alphabet
	} {
		_, err := ParseSecretKey(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("ParseSecretKey(%q) = %v, want %v", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), d[3:11]) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
}

func TestRedaction(t *testing.T) {
	sk, _ := NewSecretKey()
	ak, _ := NewAccountKey()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "sk", *sk, "ak", *ak)
	out := fmt.Sprintf("%v %+v %#v %s %x %v %v", *sk, *sk, *sk, *sk, *ak, *ak, Key32{1}) + buf.String()
	if strings.Count(out, redacted) < 7 {
		t.Fatalf("not redacted: %s", out)
	}
	if strings.Contains(out, sk.Display()[3:11]) {
		t.Fatal("Secret Key leaked")
	}
}

func TestKDFBounds(t *testing.T) {
	for _, tc := range []struct {
		p    KDFParams
		want error
	}{
		{cheap, nil},
		{KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}, nil},
		{KDFParams{Time: 3, MemoryKiB: 2 << 20, Threads: 4}, ErrKDFTooCostly},
		{KDFParams{Time: 17, MemoryKiB: 64 << 10, Threads: 4}, ErrKDFTooCostly},
		{KDFParams{Time: 1, MemoryKiB: 64 << 10, Threads: 17}, ErrKDFTooCostly},
		{KDFParams{Time: 0, MemoryKiB: 64 << 10, Threads: 4}, ErrKDFTooWeak},
		{KDFParams{Time: 1, MemoryKiB: 512, Threads: 1}, ErrKDFTooWeak},
		{KDFParams{Time: 1, MemoryKiB: 1024, Threads: 0}, ErrKDFTooWeak},
	} {
		if err := tc.p.Check(); !errors.Is(err, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.p, err, tc.want)
		}
	}
	if _, err := Derive([]byte("pw"), new(SecretKey), AccountID{}, make([]byte, 16), KDFParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1}); !errors.Is(err, ErrKDFTooCostly) {
		t.Fatalf("Derive ran with hostile parameters: %v", err)
	}
}

func TestDeriveNeedsBothSecrets(t *testing.T) {
	sk, _ := NewSecretKey()
	sk2, _ := NewSecretKey()
	id, _ := NewAccountID()
	id2, _ := NewAccountID()
	salt := make([]byte, 16)
	base, err := Derive([]byte("pw one"), sk, id, salt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if base.Wrap == base.Login {
		t.Fatal("wrap and login keys coincide")
	}
	for name, f := range map[string]func() (*Derived, error){
		"password":   func() (*Derived, error) { return Derive([]byte("pw two"), sk, id, salt, cheap) },
		"secret key": func() (*Derived, error) { return Derive([]byte("pw one"), sk2, id, salt, cheap) },
		"account id": func() (*Derived, error) { return Derive([]byte("pw one"), sk, id2, salt, cheap) },
		"salt":       func() (*Derived, error) { return Derive([]byte("pw one"), sk, id, []byte("0123456789abcdef"), cheap) },
		"params": func() (*Derived, error) {
			return Derive([]byte("pw one"), sk, id, salt, KDFParams{Time: 2, MemoryKiB: 1024, Threads: 1})
		},
	} {
		d, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if d.Wrap == base.Wrap || d.Login == base.Login {
			t.Errorf("changing the %s did not change the keys", name)
		}
	}
	// Normalization: NFKD and trimming.
	d, _ := Derive([]byte(" \uff50w one\n"), sk, id, salt, cheap)
	if d.Wrap != base.Wrap {
		t.Error("a fullwidth, space-padded password did not normalize to the same key")
	}
	pw := []byte("pw one")
	Derive(pw, sk, id, salt, cheap)
	if string(pw) != "pw one" {
		t.Fatal("Derive modified the caller's password")
	}
	if _, err := Derive([]byte("  \t"), sk, id, salt, cheap); err == nil {
		t.Fatal("an all-space password was accepted")
	}
}

func TestSealCommitsToKey(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	box, err := Seal(k1, "label", []byte("ad"), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := Open(k1, "label", []byte("ad"), box); err != nil || string(pt) != "secret" {
		t.Fatalf("open: %v", err)
	}
	for name, f := range map[string]func() error{
		"key":   func() error { _, err := Open(k2, "label", []byte("ad"), box); return err },
		"label": func() error { _, err := Open(k1, "other", []byte("ad"), box); return err },
		"ad":    func() error { _, err := Open(k1, "label", []byte("AD"), box); return err },
		"short": func() error { _, err := Open(k1, "label", []byte("ad"), box[:10]); return err },
	} {
		if err := f(); !errors.Is(err, ErrOpen) {
			t.Errorf("wrong %s: got %v", name, err)
		}
	}
	for i := range box {
		c := append([]byte(nil), box...)
		c[i] ^= 0x80
		if _, err := Open(k1, "label", []byte("ad"), c); !errors.Is(err, ErrOpen) {
			t.Fatalf("flipped byte %d opened", i)
		}
	}
}

func FuzzParseSecretKey(f *testing.F) {
	k := SecretKey{1, 2, 3}
	f.Add(k.Display())
	f.Add("k1-2222 2222 2222 2222 2222 2222 2222")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseSecretKey(s)
		if err != nil {
			return
		}
		k2, err := ParseSecretKey(k.Display())
		if err != nil || *k2 != *k {
			t.Fatal("does not round-trip")
		}
	})
}

func BenchmarkDeriveDefault(b *testing.B) {
	p := KDFParams{Time: DefaultTime, MemoryKiB: MinDefaultMiB * 1024, Threads: DefaultThreads}
	sk, _ := NewSecretKey()
	for b.Loop() {
		Derive([]byte("correct horse battery staple"), sk, AccountID{}, make([]byte, 16), p)
	}
}

func BenchmarkSealOpen(b *testing.B) {
	k := bytes.Repeat([]byte{1}, 32)
	pt := bytes.Repeat([]byte("x"), 300)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		box, _ := Seal(k, "keyhold v1 item", []byte("ad"), pt)
		Open(k, "keyhold v1 item", []byte("ad"), box)
	}
}

// TestDeriveWithPluggedArgon2: a client that computes the Argon2id step
// elsewhere (the web vault's Worker) gets exactly the keys Derive gives
// when its function returns the same bytes, and an error or a result of
// the wrong length derives nothing.
func TestDeriveWithPluggedArgon2(t *testing.T) {
	sk := new(SecretKey)
	sk[0] = 7
	id := AccountID{1, 2, 3}
	salt := []byte("0123456789abcdef")
	cheap := KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	want, err := Derive([]byte(" pw one "), sk, id, salt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	var gotPW []byte
	calls := 0
	h := func(pw, s []byte, tm, m uint32, p uint8) ([]byte, error) {
		calls++
		gotPW = append([]byte(nil), pw...)
		if tm != cheap.Time || m != cheap.MemoryKiB || p != cheap.Threads || !bytes.Equal(s, salt) {
			t.Errorf("the plugged Argon2 got t=%d m=%d p=%d salt %x", tm, m, p, s)
		}
		return Argon2ID(pw, s, tm, m, p)
	}
	got, err := DeriveWith(h, []byte(" pw one "), sk, id, salt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || got.Wrap != want.Wrap || got.Login != want.Login {
		t.Fatalf("DeriveWith (%d calls) derived other keys than Derive", calls)
	}
	if string(gotPW) != "pw one" {
		t.Errorf("the plugged Argon2 got the password %q, want it normalised", gotPW)
	}
	boom := errors.New("the worker died")
	if _, err := DeriveWith(func([]byte, []byte, uint32, uint32, uint8) ([]byte, error) { return nil, boom }, []byte("pw"), sk, id, salt, cheap); !errors.Is(err, boom) {
		t.Errorf("a failing Argon2: %v", err)
	}
	if _, err := DeriveWith(func([]byte, []byte, uint32, uint32, uint8) ([]byte, error) { return make([]byte, 16), nil }, []byte("pw"), sk, id, salt, cheap); err == nil {
		t.Error("a 16-byte Argon2 result was derived from")
	}
	if _, err := DeriveWith(func([]byte, []byte, uint32, uint32, uint8) ([]byte, error) {
		t.Error("Argon2 ran with hostile parameters")
		return nil, nil
	}, []byte("pw"), sk, id, salt, KDFParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1}); !errors.Is(err, ErrKDFTooCostly) {
		t.Errorf("hostile parameters: %v", err)
	}
}
