package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	acct  = "0190c5e4-6a1b-7cde-8f00-112233445566"
	dev   = "0190c5e4-6a1b-7cde-8f00-aabbccddeeff"
	item1 = "0190c5e4-6a1b-7cde-8f00-000000000001"
	item2 = "0190c5e4-6a1b-7cde-8f00-000000000002"
	b64   = "AAECAwQFBgcICQ=="                                                                                                                                                                                                                             // 10 bytes
	env   = "S0hFSwIFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrg==" // 175 bytes: an envelope of the current version ("KHEK", 2, ...)
)

// Valid bodies, one per request type; the tables below break them.
var (
	validRegister = `{"account_id":"` + acct + `","request":"` + b64 + `"}`
	validDevice   = `{"id":"` + dev + `","name":"laptop","platform":"linux/amd64"}`
	validCreate   = `{"account_id":"` + acct + `","email":"a@example.com","record":"` + b64 + `","envelope":"` + env +
		`","keycheck":"` + b64 + `","key_version":1,"device":` + validDevice +
		`,"sync_settings":{"method":"server","settings":{"url":"https://keyhold.example"},"secret":"` + b64 + `"}}`
	validLoginStart  = `{"account_id":"` + acct + `","device":` + validDevice + `,"message":"` + b64 + `"}`
	validLoginFinish = `{"login_id":"` + acct + `","message":"` + b64 + `"}`
	validPassword    = `{"key_version":3,"envelope":"` + env + `","record":"` + b64 + `"}`
	validPush        = `{"cursor":7,"items":[{"item_id":"` + item1 + `","base_rev":2,"revs":[{"rev":3,"box":"` + b64 +
		`"},{"rev":4,"deleted":true}]},{"item_id":"` + item2 + `","base_rev":0,"revs":[{"rev":1,"box":"` + b64 + `"}]}],"manifest":"` + b64 + `"}`
	validRotate = `{"cursor":9,"key_version":2,"envelope":"` + env + `","keycheck":"` + b64 + `","record":"` + b64 +
		`","transition":"` + b64 + `","items":[{"item_id":"` + item1 + `","base_rev":0,"revs":[{"rev":1,"box":"` + b64 +
		`"},{"rev":2,"box":"` + b64 + `"}]}],"manifest":"` + b64 + `"}`
	validSync   = `{"method":"folder","settings":{"path":"/home/a/Sync"}}`
	validParams = `{"account_id":"` + acct + `"}`
)

func decodeAs[T any](body string) error {
	var v T
	return Decode(strings.NewReader(body), MaxBody, &v)
}

func TestDecodeValid(t *testing.T) {
	for name, err := range map[string]error{
		"register":       decodeAs[RegisterStartRequest](validRegister),
		"create":         decodeAs[CreateAccountRequest](validCreate),
		"create rotated": decodeAs[CreateAccountRequest](strings.Replace(validCreate, `"key_version":1`, `"key_version":3`, 1)),
		"login start":    decodeAs[LoginStartRequest](validLoginStart),
		"login finish":   decodeAs[LoginFinishRequest](validLoginFinish),
		"password":       decodeAs[PasswordRequest](validPassword),
		"push":           decodeAs[PushRequest](validPush),
		"rotate":         decodeAs[RotateRequest](validRotate),
		"sync":           decodeAs[SyncSettings](validSync),
		"login params":   decodeAs[LoginParamsRequest](validParams),
		"whitespace":     decodeAs[LoginFinishRequest]("\n\t " + validLoginFinish + " \r\n"),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var p PushRequest
	if err := Decode(strings.NewReader(validPush), MaxPushBody, &p); err != nil {
		t.Fatal(err)
	}
	if p.Cursor != 7 || len(p.Items) != 2 || p.Items[0].Revs[1].Rev != 4 || !p.Items[0].Revs[1].Deleted || len(p.Items[1].Revs[0].Box) != 10 {
		t.Errorf("decoded push = %+v", p)
	}
}

// replace swaps one occurrence of old in body, failing if there is none,
// so a table row cannot silently test the valid body.
func replace(t *testing.T, body, old, new string) string {
	t.Helper()
	if !strings.Contains(body, old) {
		t.Fatalf("%q not in %s", old, body)
	}
	return strings.Replace(body, old, new, 1)
}

func TestDecodeStrictJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"unknown field", `{"login_id":"` + acct + `","message":"` + b64 + `","admin":true}`},
		{"case-folded name", `{"Login_ID":"` + acct + `","message":"` + b64 + `"}`},
		{"duplicate field", `{"login_id":"` + acct + `","login_id":"` + dev + `","message":"` + b64 + `"}`},
		{"two values", validLoginFinish + validLoginFinish},
		{"trailing garbage", validLoginFinish + "x"},
		{"trailing comma", strings.TrimSuffix(validLoginFinish, "}") + ",}"},
		{"array", `[` + validLoginFinish + `]`},
		{"null body", `null`},
		{"empty", ``},
		{"truncated", validLoginFinish[:20]},
		{"not utf-8", `{"login_id":"` + acct + "\xff" + `","message":"` + b64 + `"}`},
		{"number as string", `{"login_id":"` + acct + `","message":12}`},
		{"bad base64", `{"login_id":"` + acct + `","message":"!!!!"}`},
		{"comment", `/* hi */` + validLoginFinish},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeAs[LoginFinishRequest](tc.body)
			var br *BadRequestError
			if !errors.As(err, &br) {
				t.Fatalf("got %v, want a BadRequestError", err)
			}
		})
	}
	for _, tc := range []struct {
		name, body string
	}{
		{"null struct", replace(t, validLoginStart, validDevice, "null")},
		{"nested unknown field", replace(t, validLoginStart, `"platform"`, `"platfrom"`)},
		{"nested duplicate", replace(t, validLoginStart, `"name":"laptop"`, `"name":"laptop","name":"x"`)},
		{"negative unsigned", replace(t, validPush, `"cursor":7`, `"cursor":-7`)},
		{"fraction", replace(t, validPush, `"cursor":7`, `"cursor":7.5`)},
		{"overflow", replace(t, validPush, `"cursor":7`, `"cursor":18446744073709551616`)},
		{"duplicate map key", replace(t, validCreate, `{"url":"https://keyhold.example"}`, `{"url":"a","url":"b"}`)},
		{"bool as string", replace(t, validPush, `"deleted":true`, `"deleted":"true"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch {
			case strings.Contains(tc.body, `"cursor"`):
				err = decodeAs[PushRequest](tc.body)
			case strings.Contains(tc.body, `"record"`):
				err = decodeAs[CreateAccountRequest](tc.body)
			default:
				err = decodeAs[LoginStartRequest](tc.body)
			}
			var br *BadRequestError
			if !errors.As(err, &br) {
				t.Fatalf("got %v, want a BadRequestError", err)
			}
		})
	}
}

func TestDecodeDeepNesting(t *testing.T) {
	body := `{"method":"none","settings":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`
	var br *BadRequestError
	if err := decodeAs[SyncSettings](body); !errors.As(err, &br) {
		t.Fatalf("got %v, want a BadRequestError", err)
	}
}

func TestDecodeTooLarge(t *testing.T) {
	var v LoginFinishRequest
	err := Decode(strings.NewReader(validLoginFinish), int64(len(validLoginFinish)-1), &v)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != int64(len(validLoginFinish)-1) {
		t.Fatalf("got %v, want a TooLargeError", err)
	}
	if v.LoginID != "" {
		t.Error("a refused body filled the value")
	}
	// Exactly at the limit is fine.
	if err := Decode(strings.NewReader(validLoginFinish), int64(len(validLoginFinish)), &v); err != nil {
		t.Fatal(err)
	}
	// The server's http.MaxBytesReader error is the same typed error.
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(validLoginFinish)), 10)
	if err := Decode(body, MaxBody, &v); !errors.As(err, &tl) {
		t.Fatalf("MaxBytesReader: got %v, want a TooLargeError", err)
	}
}

// TestDecodeKeepsValueOnError: a failed decode leaves the value as it was,
// so a handler cannot act on half a request.
func TestDecodeKeepsValueOnError(t *testing.T) {
	for _, body := range []string{
		replace(t, validPush, `"rev":4`, `"rev":5`), // fails validation
		`{"cursor":1,"bogus":1}`,                    // fails the strict check
		`{"cursor":1,"items":"x"}`,                  // fails decoding
	} {
		v := PushRequest{Cursor: 42}
		if err := Decode(strings.NewReader(body), MaxBody, &v); err == nil {
			t.Fatalf("%s accepted", body)
		}
		if v.Cursor != 42 || v.Items != nil {
			t.Errorf("%s: value changed to %+v", body, v)
		}
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen+1)
	big := func(n int) string {
		b, _ := json.Marshal(bytes.Repeat([]byte{1}, n))
		return string(b)
	}
	var manyItems strings.Builder
	manyItems.WriteString(`{"cursor":0,"items":[`)
	for i := 0; i <= MaxPushItems; i++ {
		if i > 0 {
			manyItems.WriteString(",")
		}
		manyItems.WriteString(`{"item_id":"0190c5e4-6a1b-7cde-8f00-` + strings.Repeat("0", 6) + hex6(i) + `","base_rev":0,"revs":[{"rev":1,"box":"AA=="}]}`)
	}
	manyItems.WriteString(`]}`)

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"account id upper case", decodeAs[RegisterStartRequest](replace(t, validRegister, acct, strings.ToUpper(acct)))},
		{"account id braces", decodeAs[RegisterStartRequest](replace(t, validRegister, `"`+acct+`"`, `"{`+acct+`}"`))},
		{"account id urn", decodeAs[RegisterStartRequest](replace(t, validRegister, `"`+acct+`"`, `"urn:uuid:`+acct+`"`))},
		{"account id no dashes", decodeAs[RegisterStartRequest](replace(t, validRegister, acct, strings.ReplaceAll(acct, "-", "")))},
		{"account id nil", decodeAs[RegisterStartRequest](replace(t, validRegister, acct, "00000000-0000-0000-0000-000000000000"))},
		{"account id missing", decodeAs[RegisterStartRequest](`{"request":"` + b64 + `"}`)},
		{"request missing", decodeAs[RegisterStartRequest](`{"account_id":"` + acct + `"}`)},
		{"request empty", decodeAs[RegisterStartRequest](replace(t, validRegister, b64, ""))},
		{"request huge", decodeAs[RegisterStartRequest](replace(t, validRegister, `"`+b64+`"`, big(maxPAKEMessage+1)))},
		{"device name long", decodeAs[LoginStartRequest](replace(t, validLoginStart, `"laptop"`, `"`+long+`"`))},
		{"device name empty", decodeAs[LoginStartRequest](replace(t, validLoginStart, `"laptop"`, `""`))},
		{"device name escape", decodeAs[LoginStartRequest](replace(t, validLoginStart, `"laptop"`, `"lap\u001b[2Jtop"`))},
		{"device name bidi", decodeAs[LoginStartRequest](replace(t, validLoginStart, `"laptop"`, `"lap\u202etop"`))},
		{"platform long", decodeAs[LoginStartRequest](replace(t, validLoginStart, `"linux/amd64"`, `"`+long+`"`))},
		{"device id bad", decodeAs[LoginStartRequest](replace(t, validLoginStart, dev, "laptop"))},
		{"email no at", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", "a.example.com"))},
		{"email two ats", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", "a@b@example.com"))},
		{"email display name", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", "A <a@example.com>"))},
		{"email newline", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", `a@example.com\nBcc: x@y.z`))},
		{"email no dot", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", "a@localhost"))},
		{"email long", decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", strings.Repeat("a", MaxEmailLen)+"@example.com"))},
		{"create key version 0", decodeAs[CreateAccountRequest](replace(t, validCreate, `"key_version":1`, `"key_version":0`))},
		{"create envelope missing", decodeAs[CreateAccountRequest](replace(t, validCreate, `"envelope":"`+env+`",`, ``))},
		{"create envelope short", decodeAs[CreateAccountRequest](replace(t, validCreate, `"envelope":"`+env+`"`, `"envelope":"`+b64+`"`))},
		{"password envelope short", decodeAs[PasswordRequest](replace(t, validPassword, env, b64))},
		{"rotate envelope short", decodeAs[RotateRequest](replace(t, validRotate, env, b64))},
		{"password envelope of an unknown version", decodeAs[PasswordRequest](replace(t, validPassword, env, "S0hFSwMFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrg=="))},
		{"params id bad", decodeAs[LoginParamsRequest](replace(t, validParams, acct, strings.ToUpper(acct)))},
		{"params id missing", decodeAs[LoginParamsRequest](`{}`)},
		{"create sync method", decodeAs[CreateAccountRequest](replace(t, validCreate, `"server"`, `"ftp"`))},
		{"sync method missing", decodeAs[SyncSettings](`{"settings":{"a":"b"}}`)},
		{"sync value control", decodeAs[SyncSettings](replace(t, validSync, "/home/a/Sync", `/home\u0007`))},
		{"sync key empty", decodeAs[SyncSettings](replace(t, validSync, `"path"`, `""`))},
		{"sync secret huge", decodeAs[SyncSettings](`{"method":"none","secret":` + big(maxKeyBlob+1) + `}`)},
		{"login id bad", decodeAs[LoginFinishRequest](replace(t, validLoginFinish, acct, "1"))},
		{"password key version 0", decodeAs[PasswordRequest](replace(t, validPassword, `"key_version":3`, `"key_version":0`))},
		{"password record missing", decodeAs[PasswordRequest](replace(t, validPassword, `,"record":"`+b64+`"`, ``))},
		{"push revs skip", decodeAs[PushRequest](replace(t, validPush, `"rev":4`, `"rev":5`))},
		{"push revs from 0", decodeAs[PushRequest](replace(t, validPush, `"rev":3`, `"rev":2`))},
		{"push revs empty", decodeAs[PushRequest](replace(t, validPush, `"revs":[{"rev":1,"box":"`+b64+`"}]`, `"revs":[]`))},
		{"push deleted with box", decodeAs[PushRequest](replace(t, validPush, `{"rev":4,"deleted":true}`, `{"rev":4,"deleted":true,"box":"`+b64+`"}`))},
		{"push box missing", decodeAs[PushRequest](replace(t, validPush, `{"rev":3,"box":"`+b64+`"}`, `{"rev":3}`))},
		{"push box huge", func() error {
			var p PushRequest
			return Decode(strings.NewReader(replace(t, validPush, `"`+b64+`"},{"rev":4`, big(MaxBox+1)+`},{"rev":4`)), MaxPushBody, &p)
		}()},
		{"push item twice", decodeAs[PushRequest](replace(t, validPush, item2, item1))},
		{"push item id bad", decodeAs[PushRequest](replace(t, validPush, item2, "x"))},
		{"push nothing", decodeAs[PushRequest](`{"cursor":1,"items":[]}`)},
		{"push rev overflow", decodeAs[PushRequest](`{"cursor":1,"items":[{"item_id":"` + item1 + `","base_rev":18446744073709551615,"revs":[{"rev":0,"box":"AA=="}]}]}`)},
		{"push too many items", func() error { var p PushRequest; return Decode(strings.NewReader(manyItems.String()), MaxPushBody, &p) }()},
		{"rotate key version 1", decodeAs[RotateRequest](replace(t, validRotate, `"key_version":2`, `"key_version":1`))},
		{"rotate base rev", decodeAs[RotateRequest](replace(t, validRotate, `"base_rev":0,"revs":[{"rev":1`, `"base_rev":1,"revs":[{"rev":2`))},
		{"rotate transition missing", decodeAs[RotateRequest](replace(t, validRotate, `"transition":"`+b64+`",`, ``))},
		{"rotate manifest missing", decodeAs[RotateRequest](replace(t, validRotate, `,"manifest":"`+b64+`"`, ``))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var br *BadRequestError
			if !errors.As(tc.err, &br) {
				t.Fatalf("got %v, want a BadRequestError", tc.err)
			}
		})
	}
}

func hex6(i int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 6)
	for j := 5; j >= 0; j-- {
		b[j] = digits[i&15]
		i >>= 4
	}
	return string(b)
}

// TestValidAfterLimits: values at each limit pass, so the limits are the
// documented ones and not one less.
func TestValidAtLimits(t *testing.T) {
	name := strings.Repeat("é", MaxNameLen/2) // MaxNameLen bytes
	if err := decodeAs[LoginStartRequest](replace(t, validLoginStart, `"laptop"`, `"`+name+`"`)); err != nil {
		t.Errorf("name of %d bytes: %v", len(name), err)
	}
	local := strings.Repeat("a", MaxEmailLen-len("@example.com"))
	if err := decodeAs[CreateAccountRequest](replace(t, validCreate, "a@example.com", local+"@example.com")); err != nil {
		t.Errorf("email of %d bytes: %v", MaxEmailLen, err)
	}
	if err := decodeAs[CreateAccountRequest](replace(t, validCreate, `"email":"a@example.com",`, ``)); err != nil {
		t.Errorf("no email: %v", err)
	}
	box, _ := json.Marshal(bytes.Repeat([]byte{7}, MaxBox))
	var p PushRequest
	if err := Decode(strings.NewReader(replace(t, validPush, `"`+b64+`"},{"rev":4`, string(box)+`},{"rev":4`)), MaxPushBody, &p); err != nil {
		t.Errorf("box of MaxBox bytes: %v", err)
	}
	if err := decodeAs[PushRequest](`{"cursor":3,"items":[],"manifest":"` + b64 + `"}`); err != nil {
		t.Errorf("manifest alone: %v", err)
	}
}

// TestErrorsDoNotEchoRequest: messages name protocol fields but never
// repeat what the client sent, which may be a secret pasted in the wrong
// place.
func TestErrorsDoNotEchoRequest(t *testing.T) {
	const marker = "hunter2secret"
	for _, body := range []string{
		`{"` + marker + `":1}`,
		`{"login_id":"` + marker + `","message":"` + b64 + `"}`,
		`{"login_id":"` + acct + `","message":"` + marker + `"}`,
		`{"login_id":` + marker + `}`,
		`{"login_id":"` + acct + `","message":"` + b64 + `"}` + marker,
	} {
		err := decodeAs[LoginFinishRequest](body)
		if err == nil {
			t.Fatalf("%s accepted", body)
		}
		if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), "hunter") {
			t.Errorf("error %q repeats the request", err)
		}
	}
}

func TestParseID(t *testing.T) {
	id, err := ParseID(acct)
	if err != nil {
		t.Fatal(err)
	}
	if id[0] != 0x01 || id[1] != 0x90 || id[15] != 0x66 {
		t.Errorf("bytes not in text order: %x", id)
	}
	if FormatID(id) != acct {
		t.Errorf("FormatID = %s", FormatID(id))
	}
	for _, bad := range []string{"", strings.ToUpper(acct), "{" + acct + "}", acct + " ", "0190c5e4-6a1b-7cde-8f00-11223344556g"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
