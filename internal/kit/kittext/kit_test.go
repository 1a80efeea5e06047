package kittext

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vector is one entry of testdata/vectors/kit/kit.json.
type vector struct {
	Name         string `json:"name"`
	AccountID    string `json:"account_id"`
	SecretKey    string `json:"secret_key"`
	SyncLocation string `json:"sync_location"`
	Text         string `json:"text"`
	Canonical    string `json:"canonical"`
	Error        string `json:"error"`
}

var sentinels = map[string]error{
	"ErrNotKit":       ErrNotKit,
	"ErrKitVersion":   ErrKitVersion,
	"ErrKitChar":      ErrKitChar,
	"ErrKitChecksum":  ErrKitChecksum,
	"ErrKitTruncated": ErrKitTruncated,
	"ErrKitMalformed": ErrKitMalformed,
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "vectors", "kit", "kit.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vv []vector
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vv); err != nil {
		t.Fatalf("kit.json: %v", err)
	}
	if len(vv) < 5 {
		t.Fatalf("kit.json has only %d vectors", len(vv))
	}
	return vv
}

func mustHex16(t testing.TB, s string) [16]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad 16-byte hex %q", s)
	}
	return [16]byte(b)
}

// TestVectors checks the known-answer vectors both ways: the declared
// inputs encode to the text, and the text parses to the inputs or fails
// with the declared error.
func TestVectors(t *testing.T) {
	var valid, invalid int
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			got, err := Parse(v.Text)
			if v.Error != "" {
				invalid++
				want, ok := sentinels[v.Error]
				if !ok {
					t.Fatalf("unknown error name %q in vector", v.Error)
				}
				if !errors.Is(err, want) {
					t.Fatalf("Parse: got error %v, want %s", err, v.Error)
				}
				return
			}
			valid++
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Kit{
				AccountID:    mustHex16(t, v.AccountID),
				SecretKey:    mustHex16(t, v.SecretKey),
				SyncLocation: v.SyncLocation,
			}
			if got != want {
				t.Errorf("Parse = %s %x, want %s %x", got, got.SecretKey, want, want.SecretKey)
			}
			canonical := v.Text
			if v.Canonical != "" {
				canonical = v.Canonical
			}
			if txt := want.Text(); txt != canonical {
				t.Errorf("Text() = %q, want %q", txt, canonical)
			}
		})
	}
	if valid < 2 || invalid < 3 {
		t.Errorf("want at least 2 valid and 3 invalid vectors, have %d and %d", valid, invalid)
	}
}

func randomKit(r *rand.Rand, sync string) Kit {
	var k Kit
	for i := range k.AccountID {
		k.AccountID[i] = byte(r.Uint32())
		k.SecretKey[i] = byte(r.Uint32())
	}
	k.SyncLocation = sync
	return k
}

var syncLocations = []string{
	"",
	"https://keyhold.example/",
	"/home/zoë/Sync/keyhold",
	"C:\\Users\\Zoë\\Dropbox\\keyhold",
	"x",
	strings.Repeat("é", MaxSyncLocation/2),
	strings.Repeat("a", MaxSyncLocation),
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sync := range syncLocations {
		for range 50 {
			k := randomKit(r, sync)
			txt := k.Text()
			got, err := Parse(txt)
			if err != nil {
				t.Fatalf("Parse(Text()) for sync %q: %v", sync, err)
			}
			if got != k {
				t.Fatalf("Parse(Text()) = %v, want %v", got, k)
			}
			if got.Text() != txt {
				t.Fatalf("text not canonical")
			}
		}
	}
}

func TestTextShape(t *testing.T) {
	k := randomKit(rand.New(rand.NewPCG(3, 4)), "")
	txt := k.Text()
	if !strings.HasPrefix(txt, "KH1-") {
		t.Fatalf("text %q does not start with KH1-", txt)
	}
	groups := strings.Split(strings.TrimPrefix(txt, "KH1-"), "-")
	if len(groups) != 12 {
		t.Errorf("got %d groups, want 12", len(groups))
	}
	n := 0
	for _, g := range groups {
		if len(g) != 5 {
			t.Errorf("group %q is not 5 characters", g)
		}
		n += len(g)
		if strings.ContainsAny(g, "01IO") {
			t.Errorf("group %q has a look-alike character", g)
		}
	}
	if n != 60 {
		t.Errorf("body is %d characters, want 60", n)
	}
}

// TestParseErrors checks each way a text can be wrong, and that the
// message says something useful about it.
func TestParseErrors(t *testing.T) {
	k := Kit{AccountID: [16]byte{0: 0xab}, SecretKey: [16]byte{15: 0xcd}, SyncLocation: "https://keyhold.example/"}
	good := k.Text()
	body := strings.TrimPrefix(good, "KH1-")
	flat := strings.ReplaceAll(body, "-", "")
	swapStr := func(i int, s string) string { // replace body character i
		return "KH1-" + flat[:i] + s + flat[i+1:]
	}
	swap := func(i int, c byte) string { return swapStr(i, string([]byte{c})) }
	for _, tc := range []struct {
		name string
		text string
		err  error
		msg  []string // substrings the message must contain
	}{
		{"empty", "", ErrNotKit, []string{"not a keyhold recovery kit", "KH1-"}},
		{"other text", "hello world", ErrNotKit, nil},
		{"only the prefix", "KH1", ErrNotKit, nil},
		{"no version", "KH-" + body, ErrNotKit, nil},
		{"zero version", "KH0-" + body, ErrNotKit, nil},
		{"leading zero", "KH01-" + body, ErrNotKit, nil},
		{"huge version", "KH12345678901234567890-" + body, ErrNotKit, nil},
		{"version 2", "KH2-" + body, ErrKitVersion, []string{"newer keyhold (format 2)", "upgrade keyhold"}},
		{"version 17", "kh17-" + body, ErrKitVersion, []string{"(format 17)"}},
		{"zero", swap(7, '0'), ErrKitChar, []string{`"0" in group 2, position 3`, "0, O, 1 or I"}},
		{"letter O", swap(0, 'O'), ErrKitChar, []string{`"O" in group 1, position 1`}},
		{"lower o", swap(12, 'o'), ErrKitChar, []string{`"O" in group 3, position 3`}},
		{"one", swap(5, '1'), ErrKitChar, []string{`"1" in group 2, position 1`}},
		{"lower i", swap(5, 'i'), ErrKitChar, []string{`"I" in group 2`}},
		{"punctuation", swap(9, '.'), ErrKitChar, []string{`"." in group 2, position 5`}},
		{"underscore separator", "KH1-" + strings.ReplaceAll(body, "-", "_"), ErrKitChar, []string{`"_" in group 2, position 1`}},
		{"non-ASCII", swapStr(3, "é"), ErrKitChar, []string{`"é" in group 1, position 4`}},
		{"fullwidth digit", swapStr(3, "２"), ErrKitChar, nil},
		{"invalid UTF-8", swap(3, 0xff), ErrKitChar, []string{"invalid byte"}},
		{"NUL", swap(3, 0), ErrKitChar, []string{"U+0000"}},
		{"no body", "KH1-", ErrKitTruncated, nil},
		{"one character", "KH1-A", ErrKitTruncated, nil},
		{"impossible length", good[:len(good)-2], ErrKitTruncated, nil},
		{"missing group", good[:len(good)-9], ErrKitTruncated, nil},
		{"first half only", good[:40], ErrKitTruncated, nil},
		{"typo", swap(20, alphabet[(strings.IndexByte(alphabet, flat[20])+1)%32]), ErrKitChecksum, []string{"typo", "printed kit"}},
		{"extra group", good + "-22222", ErrKitTruncated, nil},
		{"longer than any kit", good + strings.Repeat("-22222", 200), ErrKitTruncated, []string{"longer than any kit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
			assertNoSecret(t, err.Error(), good)
		})
	}
}

// TestParseLenient checks what Parse accepts besides the canonical form.
func TestParseLenient(t *testing.T) {
	k := randomKit(rand.New(rand.NewPCG(5, 6)), "https://keyhold.example/")
	txt := k.Text()
	body := strings.TrimPrefix(txt, "KH1-")
	for name, variant := range map[string]string{
		"lower case":          strings.ToLower(txt),
		"surrounding space":   "\n\t  " + txt + " \r\n",
		"spaces for hyphens":  "KH1-" + strings.ReplaceAll(body, "-", " "),
		"no hyphens":          "KH1-" + strings.ReplaceAll(body, "-", ""),
		"line breaks":         "kH1-" + strings.ReplaceAll(body, "-", "\r\n"),
		"doubled hyphens":     "Kh1--" + strings.ReplaceAll(body, "-", "--") + "-",
		"tabs and odd groups": "KH1-" + strings.ReplaceAll(strings.ReplaceAll(body, "-", ""), "A", "\tA"),
	} {
		got, err := Parse(variant)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != k || got.Text() != txt {
			t.Errorf("%s: parsed to a different kit", name)
		}
	}
}

// TestSingleSubstitution checks that the check characters catch typos:
// every replacement of one character by another of the alphabet, and
// every swap of two neighbours, must be rejected (or, which the check
// makes vanishingly rare, decode to a different kit — never the same
// one, which would mean the encoding is malleable).
func TestSingleSubstitution(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var total, caught int
	for _, sync := range []string{"", "https://keyhold.example/"} {
		for range 4 {
			k := randomKit(r, sync)
			body := strings.ReplaceAll(strings.TrimPrefix(k.Text(), "KH1-"), "-", "")
			check := func(mutated string) {
				total++
				got, err := Parse("KH1-" + mutated)
				switch {
				case err == nil && got == k:
					t.Fatalf("a changed text parses to the same kit")
				case err == nil:
					// An undetected typo: allowed, rarely.
				case errors.Is(err, ErrKitChecksum), errors.Is(err, ErrKitTruncated), errors.Is(err, ErrKitMalformed):
					caught++
				default:
					t.Fatalf("unexpected error %v", err)
				}
			}
			for i := range len(body) {
				for _, c := range []byte(alphabet) {
					if c != body[i] {
						check(body[:i] + string(c) + body[i+1:])
					}
				}
				if i+1 < len(body) && body[i] != body[i+1] {
					check(body[:i] + body[i+1:i+2] + body[i:i+1] + body[i+2:])
				}
			}
		}
	}
	if rate := float64(caught) / float64(total); rate < 0.999 {
		t.Errorf("only %d of %d typos caught (%.4f%%)", caught, total, 100*rate)
	}
	t.Logf("%d of %d typos caught", caught, total)
}

// TestStrictTrailingBits checks that each kit has exactly one text: a
// last character that differs only in bits the decoder ignores is
// rejected.
func TestStrictTrailingBits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, sync := range []string{"", "a", "ab", "abc", "abcd"} {
		k := randomKit(r, sync)
		txt := k.Text()
		last := strings.IndexByte(alphabet, txt[len(txt)-1])
		// The last character's low bits past the end of the data.
		unused := (len(strings.ReplaceAll(txt[4:], "-", "")) * 5) % 8
		if unused == 0 {
			continue
		}
		if last&(1<<unused-1) != 0 {
			t.Fatalf("sync %q: Text() set unused bits", sync)
		}
		for v := 1; v < 1<<unused; v++ {
			alt := alphabet[last^v]
			_, err := Parse(txt[:len(txt)-1] + string(alt))
			if err == nil {
				t.Fatalf("sync %q: text with different unused bits parsed", sync)
			}
		}
	}
}

// assertNoSecret fails if msg contains any whole group of the kit text
// (upper or lower case) or the hex of its body.
func assertNoSecret(t testing.TB, msg, kitText string) {
	t.Helper()
	for _, g := range strings.Split(strings.TrimPrefix(kitText, "KH1-"), "-") {
		if len(g) < 5 {
			continue
		}
		if strings.Contains(msg, g) || strings.Contains(msg, strings.ToLower(g)) {
			t.Fatalf("message %q contains kit group %q", msg, g)
		}
	}
}

// TestErrorsHaveNoSecret mutates kit texts in many ways and checks that no
// error message repeats any part of the text.
func TestErrorsHaveNoSecret(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		k := randomKit(r, "https://keyhold.example/")
		txt := k.Text()
		for range 50 {
			b := []byte(txt)
			switch r.IntN(4) {
			case 0:
				b[r.IntN(len(b))] = byte(r.IntN(256))
			case 1:
				b = b[:r.IntN(len(b))]
			case 2:
				i := r.IntN(len(b))
				b = append(b[:i], b[i+1:]...)
			case 3:
				b = append(b, "-"+alphabet[:r.IntN(8)]...)
			}
			if _, err := Parse(string(b)); err != nil {
				assertNoSecret(t, err.Error(), txt)
			}
		}
	}
}

// TestRedaction checks that no way of printing or logging a kit shows the
// Secret Key.
func TestRedaction(t *testing.T) {
	k := Kit{AccountID: [16]byte{0: 0x12, 15: 0x34}, SyncLocation: "https://keyhold.example/"}
	for i := range k.SecretKey {
		k.SecretKey[i] = 0xa0 + byte(i)
	}
	secretHex := hex.EncodeToString(k.SecretKey[:])
	var logs bytes.Buffer
	// No time in the records: a timestamp could hold "160" by chance.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	slog.New(slog.NewJSONHandler(&logs, noTime)).Info("kit", "kit", k)
	slog.New(slog.NewTextHandler(&logs, noTime)).Info("kit", "kit", &k)
	outputs := []string{
		k.String(), k.GoString(), logs.String(),
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q %x %X %d", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v", &k, &k, []Kit{k}),
		fmt.Sprintf("%v", struct{ K Kit }{k}),
	}
	for _, out := range outputs {
		if strings.Contains(strings.ToLower(out), secretHex[:8]) {
			t.Errorf("output shows the secret key: %s", out)
		}
		if strings.Contains(out, "160") || strings.Contains(out, "a0a1") || strings.Contains(out, "A0A1") {
			t.Errorf("output shows secret key bytes: %s", out)
		}
		assertNoSecret(t, out, k.Text())
	}
	if !strings.Contains(k.String(), "12000000-0000-0000-0000-000000000034") || !strings.Contains(k.String(), "REDACTED") {
		t.Errorf("String() = %q, want the account id and REDACTED", k.String())
	}
	if !strings.Contains(logs.String(), `"secret_key":"REDACTED"`) {
		t.Errorf("JSON log does not redact as expected: %s", logs.String())
	}
}

func TestWipe(t *testing.T) {
	k := randomKit(rand.New(rand.NewPCG(13, 14)), "x")
	id := k.AccountID
	k.Wipe()
	if k.SecretKey != ([16]byte{}) {
		t.Error("Wipe left the secret key")
	}
	if k.AccountID != id || k.SyncLocation != "x" {
		t.Error("Wipe changed more than the secret key")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		sync string
		ok   bool
	}{
		{"", true},
		{"https://keyhold.example/", true},
		{strings.Repeat("a", MaxSyncLocation), true},
		{strings.Repeat("a", MaxSyncLocation+1), false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // C1 control
		{"\xff", false},
	} {
		k := Kit{SyncLocation: tc.sync}
		err := k.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.sync, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrKitMalformed) {
			t.Errorf("Validate(%q) = %v, want ErrKitMalformed", tc.sync, err)
		}
		func() {
			defer func() {
				if r := recover(); (r == nil) != tc.ok {
					t.Errorf("Text() with sync %q: panic %v, want panic=%v", tc.sync, r, !tc.ok)
				}
			}()
			k.Text()
		}()
	}
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// has exactly one text: the canonical form of the input.
func FuzzParse(f *testing.F) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, sync := range syncLocations[:4] {
		txt := randomKit(r, sync).Text()
		f.Add(txt)
		f.Add(strings.ToLower(txt))
		f.Add(txt[:len(txt)-3])
	}
	f.Add("KH2-AAAAA")
	f.Add("kh1- 22222 ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if k != (Kit{}) {
				t.Fatalf("Parse returned a kit with an error")
			}
			return
		}
		txt := k.Text()
		k2, err := Parse(txt)
		if err != nil || k2 != k {
			t.Fatalf("Parse(k.Text()) = %v, %v", k2, err)
		}
		if want := canonical(s); txt != want {
			t.Fatalf("Text() = %q, want canonical form %q of the input", txt, want)
		}
	})
}

// canonical is the canonical form of an accepted kit text, computed
// independently of Parse: upper case, separators dropped, regrouped.
func canonical(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	// "KH1", then one separator or none (the code typed without any).
	body := strings.TrimPrefix(s, "KH1")
	var b strings.Builder
	for _, c := range body {
		if !strings.ContainsRune(" \t\r\n-", c) {
			b.WriteRune(c)
		}
	}
	body = b.String()
	var groups []string
	for len(body) > 5 {
		groups = append(groups, body[:5])
		body = body[5:]
	}
	return "KH1-" + strings.Join(append(groups, body), "-")
}

func BenchmarkParse(b *testing.B) {
	txt := randomKit(rand.New(rand.NewPCG(17, 18)), "https://keyhold.example/").Text()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(txt); err != nil {
			b.Fatal(err)
		}
	}
}
