package secretref

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in          string
		item, field string
		bad         bool
	}{
		{in: "keyhold://GitHub/password", item: "GitHub", field: "password"},
		{in: "keyhold://01a21159-3c47-77c5-b978-7e4d5e016f5a/username", item: "01a21159-3c47-77c5-b978-7e4d5e016f5a", field: "username"},
		{in: "keyhold://Work%2FVPN/password", item: "Work/VPN", field: "password"},
		{in: "keyhold://work%2fvpn/password", item: "work/vpn", field: "password"},
		{in: "keyhold://My%20Bank/account_number", item: "My Bank", field: "account_number"},
		{in: "keyhold://100%25%20sure/pin", item: "100% sure", field: "pin"},
		{in: "keyhold://Caf%C3%A9/password", item: "Café", field: "password"},
		{in: "keyhold://Café/password", item: "Café", field: "password"},
		{in: "keyhold://a%3Fb%23c/api%20key", item: "a?b#c", field: "api key"},
		{in: "keyhold://Site/otp", item: "Site", field: "otp"},
		{in: "keyhold://A:B@C.D(x)/pass-word_1", item: "A:B@C.D(x)", field: "pass-word_1"},
		{in: "keyhold://%41/%62", item: "A", field: "b"},

		{in: "keyhold://GitHub", bad: true},                                // no field
		{in: "keyhold://GitHub/", bad: true},                               // empty field
		{in: "keyhold:///password", bad: true},                             // empty item
		{in: "keyhold://Work/VPN/password", bad: true},                     // unencoded slash
		{in: "keyhold://My Bank/password", bad: true},                      // unencoded space
		{in: "keyhold://a%2/b", bad: true},                                 // short escape
		{in: "keyhold://a%/b", bad: true},                                  // bare percent
		{in: "keyhold://a%zz/b", bad: true},                                // not hex
		{in: "keyhold://a/b%", bad: true},                                  // trailing percent
		{in: "keyhold://%C3/b", bad: true},                                 // decodes to invalid UTF-8
		{in: "keyhold://a\xff/b", bad: true},                               // invalid UTF-8
		{in: "keyhold://a{b/c", bad: true},                                 // reserved brace
		{in: "keyhold://a/b?x=1", bad: true},                               // query reserved
		{in: "KEYHOLD://a/b", bad: true},                                   // scheme is lower case
		{in: "op://vault/item/field", bad: true},                           // another scheme
		{in: "keyhold://a\tb/c", bad: true},                                // control character
		{in: "keyhold://" + strings.Repeat("a", MaxLen) + "/b", bad: true}, // too long
	} {
		r, err := Parse(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) = %+v, %v; want ErrSyntax", tc.in, r, err)
			}
			continue
		}
		if err != nil || r.Item != tc.item || r.Field != tc.field {
			t.Errorf("Parse(%q) = %+v, %v; want item %q field %q", tc.in, r, err, tc.item, tc.field)
			continue
		}
		if back, err := Parse(r.String()); err != nil || back != r {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", tc.in, r.String(), back, err)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"GitHub":         "GitHub",
		"Work/VPN":       "Work%2FVPN",
		"My Bank":        "My%20Bank",
		"50%":            "50%25",
		"Café":           "Café",
		`a"b'c<d>e`:      "a%22b%27c%3Cd%3Ee",
		"{{x}}":          "%7B%7Bx%7D%7D",
		"tab\there":      "tab%09here",
		"a?b#c|d\\e`f":   "a%3Fb%23c%7Cd%5Ce%60f",
		"bad\xffutf8":    "bad%FFutf8",
		"ünïcödé/ok":     "ünïcödé%2Fok",
		"keyhold://a/b":  "keyhold:%2F%2Fa%2Fb",
		"plain-._~!$&()": "plain-._~!$&()",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	tpl := "user={{ keyhold://DB/username }}\n" +
		"pass={{keyhold://DB/password}}\n" +
		"url=\"keyhold://DB/url\"\n" +
		"key: keyhold://Work%2FAPI/api%20key\n" +
		"file={{ keyhold://DB/password }}.txt\n" +
		"nothing here: keyhold without scheme\n"
	spans, err := Find(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range spans {
		got = append(got, tpl[s.Start:s.End]+" -> "+s.Ref.Item+"|"+s.Ref.Field)
	}
	want := []string{
		"{{ keyhold://DB/username }} -> DB|username",
		"{{keyhold://DB/password}} -> DB|password",
		"keyhold://DB/url -> DB|url",
		"keyhold://Work%2FAPI/api%20key -> Work/API|api key",
		"{{ keyhold://DB/password }} -> DB|password",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Find:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, bad := range []string{"a\nb\nx=keyhold://only-item\n", "{{ keyhold://a/b/c }}", "keyhold://"} {
		if _, err := Find(bad); !errors.Is(err, ErrSyntax) {
			t.Errorf("Find(%q) = %v, want ErrSyntax", bad, err)
		}
	}
	if _, err := Find("a\nb\nx=keyhold://only-item\n"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("the error does not name line 3: %v", err)
	}
}

// TestMaskerSplits feeds the same output in two writes split at every
// position, and byte by byte: the result never depends on the split.
func TestMaskerSplits(t *testing.T) {
	secrets := [][]byte{[]byte("hunter2"), []byte("hunter2-long"), []byte("s3cr3t"), []byte("xx")}
	for _, tc := range []struct{ in, want string }{
		{"password is hunter2.", "password is <concealed by keyhold>."},
		{"hunter2-long!", "<concealed by keyhold>!"},
		{"hunter2-lon", "<concealed by keyhold>-lon"},
		{"s3cr3ts3cr3t", "<concealed by keyhold><concealed by keyhold>"},
		{"s3cr3", "s3cr3"},
		{"hunthunter2", "hunt<concealed by keyhold>"},
		{"xxx", "<concealed by keyhold>x"},
		{"nothing secret\n", "nothing secret\n"},
		{"", ""},
	} {
		for cut := 0; cut <= len(tc.in); cut++ {
			var b bytes.Buffer
			m := NewMasker(&b, secrets)
			m.Write([]byte(tc.in[:cut]))
			m.Write([]byte(tc.in[cut:]))
			m.Close()
			if b.String() != tc.want {
				t.Errorf("%q split at %d: got %q, want %q", tc.in, cut, b.String(), tc.want)
			}
		}
		var b bytes.Buffer
		m := NewMasker(&b, secrets)
		for i := range len(tc.in) {
			m.Write([]byte{tc.in[i]})
		}
		m.Close()
		if b.String() != tc.want {
			t.Errorf("%q byte by byte: got %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

// TestMaskerPassesThrough checks that output without a secret's prefix
// is written at once, not held back until Close: an interactive program's
// prompt must appear.
func TestMaskerPassesThrough(t *testing.T) {
	var b bytes.Buffer
	m := NewMasker(&b, [][]byte{[]byte("hunter2")})
	m.Write([]byte("Continue? [y/N] "))
	if b.String() != "Continue? [y/N] " {
		t.Errorf("held back: %q", b.String())
	}
	m.Write([]byte("hun"))
	if b.String() != "Continue? [y/N] " {
		t.Errorf("a possible secret's start was written: %q", b.String())
	}
	m.Write([]byte("gry\n"))
	if b.String() != "Continue? [y/N] hungry\n" {
		t.Errorf("got %q", b.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"keyhold://GitHub/password", "keyhold://Work%2FVPN/pass%20word", "keyhold://a/b/c",
		"keyhold://%C3%A9/x", "keyhold://a%/b", "keyhold:///", "keyhold://Café/otp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error not ErrSyntax: %v", s, err)
			}
			return
		}
		if r.Item == "" || r.Field == "" {
			t.Fatalf("Parse(%q) gave an empty segment", s)
		}
		back, err := Parse(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q via %q: %+v, %v", s, r.String(), back, err)
		}
		// A reference found in a template is the same reference.
		spans, err := Find("x={{ " + r.String() + " }}\n")
		if err != nil || len(spans) != 1 || spans[0].Ref != r {
			t.Fatalf("Find of %q: %+v, %v", r.String(), spans, err)
		}
	})
}

func FuzzMasker(f *testing.F) {
	f.Add([]byte("say hunter2 twice: hunter2"), []byte("hunter2"), 3)
	f.Add([]byte("aaaa"), []byte("aa"), 1)
	f.Fuzz(func(t *testing.T, in, secret []byte, cut int) {
		if len(secret) == 0 || bytes.Contains([]byte(Concealed), secret) {
			return
		}
		if cut < 0 || cut > len(in) {
			cut = len(in)
		}
		var b bytes.Buffer
		m := NewMasker(&b, [][]byte{secret})
		m.Write(in[:cut])
		m.Write(in[cut:])
		m.Close()
		// What remains between the replacements must not hold the secret.
		for _, part := range bytes.Split(b.Bytes(), []byte(Concealed)) {
			if bytes.Contains(part, secret) {
				t.Fatalf("secret %q left in %q", secret, b.Bytes())
			}
		}
		if !bytes.Contains(in, secret) && !bytes.Equal(b.Bytes(), in) {
			t.Fatalf("output without the secret changed: %q -> %q", in, b.Bytes())
		}
	})
}
