package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// agree checks that the streaming decoder and the whole-body decoder
// accept the same bodies, with the same values, and refuse the same ones
// with the same kind of error.
func agree[T any](t *testing.T, body []byte) {
	t.Helper()
	var a, b T
	errA := Decode(bytes.NewReader(body), MaxPushBody, &a)
	errB := decodeWhole(bytes.NewReader(body), MaxPushBody, &b)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("streaming: %v; whole body: %v\n%.200q", errA, errB, body)
	}
	if errA != nil {
		var brA, brB *BadRequestError
		var tlA, tlB *TooLargeError
		if errors.As(errA, &brA) != errors.As(errB, &brB) || errors.As(errA, &tlA) != errors.As(errB, &tlB) {
			t.Fatalf("different errors: streaming %T %v; whole body %T %v", errA, errA, errB, errB)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Fatalf("different values:\n%s\n%s", ja, jb)
	}
}

func TestStreamAgreesWithWholeBody(t *testing.T) {
	bodies := []string{
		validRegister, validCreate, validLoginStart, validLoginFinish, validPassword, validPush, validRotate, validSync, validParams,
		validPush + " ", validPush + "{}", validPush + "x", `{"cursor":-1}`, `{"cursor":1.5}`, `{"cursor":1e3}`,
		`{"cursor":18446744073709551616}`, `{"items":null}`, `{"items":[null]}`, `{"manifest":"!!"}`, `{"manifest":null}`,
		`{"Cursor":1}`, `{"cursor":1,"cursor":2}`, `[]`, `null`, ``, `{`, `{"cursor":"1"}`, "{\"manifest\":\"\xff\"}",
		strings.Repeat("[", 40),
	}
	for _, b := range bodies {
		agree[PushRequest](t, []byte(b))
		agree[CreateAccountRequest](t, []byte(b))
		agree[SyncSettings](t, []byte(b))
	}
	agree[CreateAccountRequest](t, []byte(strings.Replace(validCreate, `"laptop"`, `"Ünïcødé laptop ✓ 🔑"`, 1)))
}

// TestStreamUTF8AcrossReads: a multi-byte character cut by a read is
// accepted, and bytes that are not UTF-8 are refused wherever they are.
func TestStreamUTF8AcrossReads(t *testing.T) {
	body := strings.Replace(validCreate, `"laptop"`, `"Ünïcødé laptop ✓ 🔑"`, 1)
	var v CreateAccountRequest
	if err := Decode(iotest.OneByteReader(strings.NewReader(body)), MaxBody, &v); err != nil {
		t.Fatalf("one byte at a time: %v", err)
	}
	if v.Device.Name != "Ünïcødé laptop ✓ 🔑" {
		t.Errorf("name %q", v.Device.Name)
	}
	for _, bad := range []string{
		strings.Replace(validCreate, `"laptop"`, "\"lap\xfftop\"", 1),
		strings.Replace(validCreate, `"laptop"`, "\"laptop\xe2\x9c\"", 1), // cut sequence
		validCreate + " \xe2", // cut at the very end
	} {
		for name, r := range map[string]func() error{
			"whole": func() error { var v CreateAccountRequest; return Decode(strings.NewReader(bad), MaxBody, &v) },
			"one byte": func() error {
				var v CreateAccountRequest
				return Decode(iotest.OneByteReader(strings.NewReader(bad)), MaxBody, &v)
			},
		} {
			var br *BadRequestError
			if err := r(); !errors.As(err, &br) || !strings.Contains(br.Msg, "UTF-8") {
				t.Errorf("%s: %q: got %v, want the UTF-8 refusal", name, bad[len(bad)-12:], err)
			}
		}
	}
}

func FuzzDecodeStreamAgrees(f *testing.F) {
	for _, b := range []string{validPush, validRotate, validCreate, validSync, `{"cursor":1,"cursor":2}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree[PushRequest](t, data)
		agree[CreateAccountRequest](t, data)
	})
}
