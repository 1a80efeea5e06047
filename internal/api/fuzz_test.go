package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzDecode checks, for any body: Decode does not panic; it fails only
// with a typed error; and what it accepts survives encoding and decoding
// again unchanged (one meaning per body, and the client's encoding of a
// valid value is always accepted). Seeds are in testdata/fuzz/<target>/.
func fuzzDecode[T any](f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		err := Decode(bytes.NewReader(data), MaxPushBody, &v)
		if err != nil {
			var br *BadRequestError
			var tl *TooLargeError
			if !errors.As(err, &br) && !errors.As(err, &tl) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		enc, err := json.Marshal(&v)
		if err != nil {
			t.Fatalf("accepted value does not encode: %v", err)
		}
		var again T
		if err := Decode(bytes.NewReader(enc), MaxPushBody, &again); err != nil {
			t.Fatalf("re-encoded value refused: %v\n%s", err, enc)
		}
		enc2, _ := json.Marshal(&again)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("decode(encode(v)) differs:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeRegisterStart(f *testing.F) { fuzzDecode[RegisterStartRequest](f) }
func FuzzDecodeCreateAccount(f *testing.F) { fuzzDecode[CreateAccountRequest](f) }
func FuzzDecodeLoginStart(f *testing.F)    { fuzzDecode[LoginStartRequest](f) }
func FuzzDecodeLoginFinish(f *testing.F)   { fuzzDecode[LoginFinishRequest](f) }
func FuzzDecodePassword(f *testing.F)      { fuzzDecode[PasswordRequest](f) }
func FuzzDecodeRotate(f *testing.F)        { fuzzDecode[RotateRequest](f) }
func FuzzDecodeSyncSettings(f *testing.F)  { fuzzDecode[SyncSettings](f) }
func FuzzDecodePush(f *testing.F)          { fuzzDecode[PushRequest](f) }
func FuzzDecodeLoginParams(f *testing.F)   { fuzzDecode[LoginParamsRequest](f) }

// TestFuzzSeedsExist keeps every fuzz target seeded with a valid body, so
// the fuzzer starts from inputs that reach validation.
func TestFuzzSeedsExist(t *testing.T) {
	for target, valid := range map[string]string{
		"FuzzDecodeRegisterStart": validRegister,
		"FuzzDecodeCreateAccount": validCreate,
		"FuzzDecodeLoginStart":    validLoginStart,
		"FuzzDecodeLoginFinish":   validLoginFinish,
		"FuzzDecodePassword":      validPassword,
		"FuzzDecodeRotate":        validRotate,
		"FuzzDecodeSyncSettings":  validSync,
		"FuzzDecodePush":          validPush,
		"FuzzDecodeLoginParams":   validParams,
	} {
		seeds := readSeeds(t, target)
		found := false
		for _, s := range seeds {
			found = found || string(s) == valid
		}
		if !found {
			t.Errorf("testdata/fuzz/%s has no seed with the valid body of the tests", target)
		}
	}
}

func readSeeds(t *testing.T, target string) [][]byte {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		head, rest, ok := strings.Cut(string(b), "\n")
		rest = strings.TrimSpace(rest)
		if !ok || head != "go test fuzz v1" || !strings.HasPrefix(rest, "[]byte(") || !strings.HasSuffix(rest, ")") {
			t.Fatalf("%s/%s is not a fuzz corpus file", dir, e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(rest, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s/%s: %v", dir, e.Name(), err)
		}
		out = append(out, []byte(s))
	}
	return out
}
