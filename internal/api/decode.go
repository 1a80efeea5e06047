package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on the opaque byte fields of requests, which types.go leaves to
// the body size. They are far above what a well-formed value needs (a PAKE
// message is a few hundred bytes, an envelope 171) so that a later format
// version still fits, and far below the body limit so that a request cannot
// make the server hold megabytes in a field that should be small.
const (
	maxPAKEMessage   = 4 << 10  // login and registration messages, PAKE records
	maxKeyBlob       = 64 << 10 // envelope, key check, transition, manifest, sync secret
	maxSettings      = 32       // entries in SyncSettings.Settings
	maxSettingKey    = 64
	maxSettingValue  = 1024
	maxRotateRevs    = 1 << 20 // revisions in one rotation: every revision of every item
	maxJSONNesting   = 16      // our types nest 4 deep; anything deeper is not ours
	syncMethodServer = "server"
	syncMethodFolder = "folder"
	syncMethodNone   = "none"
)

// TooLargeError means a request body is longer than the endpoint allows.
// The server answers it with 413 too_large.
type TooLargeError struct {
	Limit int64 // bytes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the request body is larger than the %d bytes this endpoint accepts", e.Limit)
}

// BadRequestError means a request body is not valid JSON for its type or
// fails validation. The server answers it with 400 bad_request and the
// message, which names fields of the protocol but never repeats the
// request's content.
type BadRequestError struct {
	Msg string
}

func (e *BadRequestError) Error() string { return e.Msg }

func badf(format string, a ...any) error { return &BadRequestError{Msg: fmt.Sprintf(format, a...)} }

// validator is implemented by every request type.
type validator interface{ Validate() error }

// Decode reads one JSON value of type T from r, at most max bytes, and
// validates it if T has a Validate method.
//
// It is stricter than encoding/json: the body must be UTF-8, hold exactly
// one value, and name every object member exactly as the protocol spells it
// (no unknown members, no case-folded names, no duplicates). One meaning per
// body means that the server and a proxy or log reader cannot disagree about
// what a request said.
//
// A body over max gives *TooLargeError; a malformed or invalid one
// *BadRequestError; any other error is from reading r. On any error *v is
// left as it was, so a caller cannot act on half a request.
func Decode[T any](r io.Reader, max int64, v *T) error {
	return decodeStream(r, max, v)
}

// jsonError turns an encoding/json error into a message that names the
// field (a name of the protocol) but not the value that was sent.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return badf("%s: wrong type or out of range", te.Field)
		}
		return badf("the request body has the wrong type")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badf("malformed JSON at byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return badf("the request body ends too early")
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return badf("a byte field is not valid base64")
	}
	return badf("malformed request body")
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

// ParseID parses an id of the protocol (account, device, item, pending
// login): a UUID in canonical lower-case 8-4-4-4-12 form, its 16 bytes in
// the order of the text (SPEC §1). Other spellings that uuid.Parse would
// take (braces, urn:uuid:, upper case) are refused, so each id has one form.
func ParseID(s string) ([16]byte, error) {
	if len(s) != 36 || strings.ToLower(s) != s {
		return [16]byte{}, errors.New("not a lower-case UUID")
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return [16]byte{}, errors.New("not a lower-case UUID")
	}
	if u == (uuid.UUID{}) {
		return [16]byte{}, errors.New("the nil UUID is not an id")
	}
	return u, nil
}

// FormatID is the canonical text form of an id.
func FormatID(id [16]byte) string { return uuid.UUID(id).String() }

func checkID(field, s string) error {
	if s == "" {
		return badf("%s is missing", field)
	}
	if _, err := ParseID(s); err != nil {
		return badf("%s is not a lower-case UUID", field)
	}
	return nil
}

func checkBlob(field string, b []byte, max int) error {
	if len(b) == 0 {
		return badf("%s is missing", field)
	}
	if len(b) > max {
		return badf("%s is longer than %d bytes", field, max)
	}
	return nil
}

// checkText refuses text that would be shown to a user (device names, sync
// settings) if it is too long or holds control characters, which could
// rewrite a terminal when another device lists it.
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return badf("%s is missing", field)
		}
		return nil
	}
	if len(s) > max {
		return badf("%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return badf("%s is not UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return badf("%s holds a control character", field)
		}
	}
	return nil
}

// checkEmail accepts a plain address (local@domain) of at most MaxEmailLen
// bytes, without a display name or comments. It is only plausible: whether
// mail arrives is the mailer's business.
func checkEmail(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxEmailLen {
		return badf("email is longer than %d bytes", MaxEmailLen)
	}
	if err := checkText("email", s, MaxEmailLen, true); err != nil {
		return err
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsAny(s, " \t<>()[],;:\\\"") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return badf("email is not a plain address like name@example.com")
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
		return badf("email is not a plain address like name@example.com")
	}
	return nil
}

// Validate checks the device's id, name and platform.
func (d *DeviceInfo) Validate() error {
	if err := checkID("device.id", d.ID); err != nil {
		return err
	}
	if err := checkText("device.name", d.Name, MaxNameLen, true); err != nil {
		return err
	}
	return checkText("device.platform", d.Platform, MaxNameLen, false)
}

// checkEnvelope checks an envelope's size: at least its header, which
// POST /v1/login/params hands out, and at most maxKeyBlob; and that it
// starts like an envelope of a known version, so its password epoch can
// be read (EnvelopeEpoch).
func checkEnvelope(field string, b []byte) error {
	if err := checkBlob(field, b, maxKeyBlob); err != nil {
		return err
	}
	n := EnvelopeHeaderLen(b)
	if n == 0 {
		return badf("%s is not an account key envelope of a known version", field)
	}
	if len(b) < n {
		return badf("%s is shorter than an envelope's %d-byte header", field, n)
	}
	return nil
}

// Validate checks the account id.
func (r *LoginParamsRequest) Validate() error {
	return checkID("account_id", r.AccountID)
}

// Validate checks the account id and the size of the registration message.
func (r *RegisterStartRequest) Validate() error {
	if err := checkID("account_id", r.AccountID); err != nil {
		return err
	}
	return checkBlob("request", r.Request, maxPAKEMessage)
}

// Validate checks every field of an account creation. The record's PAKE
// structure is checked by the server, which knows the PAKE.
func (r *CreateAccountRequest) Validate() error {
	if err := checkID("account_id", r.AccountID); err != nil {
		return err
	}
	if err := checkEmail(r.Email); err != nil {
		return err
	}
	if err := checkBlob("record", r.Record, maxPAKEMessage); err != nil {
		return err
	}
	if err := checkEnvelope("envelope", r.Envelope); err != nil {
		return err
	}
	if err := checkBlob("keycheck", r.KeyCheck, maxKeyBlob); err != nil {
		return err
	}
	// A vault whose key was rotated before it first synced is moved onto
	// the server at the key version it has reached.
	if r.KeyVersion < 1 {
		return badf("key_version of a new account must be at least 1")
	}
	if err := r.Device.Validate(); err != nil {
		return err
	}
	if r.SyncSettings != nil {
		return r.SyncSettings.Validate()
	}
	return nil
}

// Validate checks the account id, device and KE1 size.
func (r *LoginStartRequest) Validate() error {
	if err := checkID("account_id", r.AccountID); err != nil {
		return err
	}
	if err := r.Device.Validate(); err != nil {
		return err
	}
	return checkBlob("message", r.Message, maxPAKEMessage)
}

// Validate checks the login id and KE3 size.
func (r *LoginFinishRequest) Validate() error {
	if err := checkID("login_id", r.LoginID); err != nil {
		return err
	}
	return checkBlob("message", r.Message, maxPAKEMessage)
}

// Validate checks a password change.
func (r *PasswordRequest) Validate() error {
	if r.KeyVersion == 0 {
		return badf("key_version is missing")
	}
	if err := checkEnvelope("envelope", r.Envelope); err != nil {
		return err
	}
	return checkBlob("record", r.Record, maxPAKEMessage)
}

// Validate checks a key rotation: new key material, and every revision of
// every item as new items (base_rev 0), each item once.
func (r *RotateRequest) Validate() error {
	if r.KeyVersion < 2 {
		return badf("key_version of a rotation must be at least 2")
	}
	if err := checkEnvelope("envelope", r.Envelope); err != nil {
		return err
	}
	for _, b := range []struct {
		name string
		v    []byte
		max  int
	}{
		{"keycheck", r.KeyCheck, maxKeyBlob},
		{"record", r.Record, maxPAKEMessage},
		{"transition", r.Transition, maxKeyBlob},
		{"manifest", r.Manifest, maxKeyBlob},
	} {
		if err := checkBlob(b.name, b.v, b.max); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(r.Items))
	revs := 0
	for i := range r.Items {
		it := &r.Items[i]
		if it.BaseRev != 0 {
			return badf("items[%d].base_rev must be 0 in a rotation", i)
		}
		if err := it.validate(fmt.Sprintf("items[%d]", i), seen); err != nil {
			return err
		}
		if revs += len(it.Revs); revs > maxRotateRevs {
			return badf("a rotation may hold at most %d revisions", maxRotateRevs)
		}
	}
	return nil
}

// Validate checks the sync method and the size and text of the settings.
func (s *SyncSettings) Validate() error {
	switch s.Method {
	case syncMethodServer, syncMethodFolder, syncMethodNone:
	case "":
		return badf("method is missing")
	default:
		return badf("method must be server, folder or none")
	}
	if len(s.Settings) > maxSettings {
		return badf("settings may hold at most %d entries", maxSettings)
	}
	for k, v := range s.Settings {
		if err := checkText("a settings key", k, maxSettingKey, true); err != nil {
			return err
		}
		if err := checkText("a settings value", v, maxSettingValue, false); err != nil {
			return err
		}
	}
	if len(s.Secret) > maxKeyBlob {
		return badf("secret is longer than %d bytes", maxKeyBlob)
	}
	return nil
}

// Validate checks a push: at most MaxPushItems items, each item once, and
// each item's revisions consecutive from its base revision. A push of a
// manifest alone is allowed.
func (r *PushRequest) Validate() error {
	if len(r.Items) == 0 && len(r.Manifest) == 0 {
		return badf("items is empty: nothing to push")
	}
	if len(r.Items) > MaxPushItems {
		return badf("a push may hold at most %d items; send the rest in another push", MaxPushItems)
	}
	if len(r.Manifest) > maxKeyBlob {
		return badf("manifest is longer than %d bytes", maxKeyBlob)
	}
	seen := make(map[string]bool, len(r.Items))
	for i := range r.Items {
		if err := r.Items[i].validate(fmt.Sprintf("items[%d]", i), seen); err != nil {
			return err
		}
	}
	return nil
}

func (it *PushItem) validate(field string, seen map[string]bool) error {
	if err := checkID(field+".item_id", it.ItemID); err != nil {
		return err
	}
	if seen[it.ItemID] {
		return badf("%s.item_id appears twice", field)
	}
	seen[it.ItemID] = true
	if len(it.Revs) == 0 {
		return badf("%s.revs is empty", field)
	}
	want := it.BaseRev
	for j := range it.Revs {
		rv := &it.Revs[j]
		f := fmt.Sprintf("%s.revs[%d]", field, j)
		if want == ^uint64(0) {
			return badf("%s.rev is out of range", f)
		}
		want++
		if rv.Rev != want {
			return badf("%s.rev must be base_rev+%d", f, j+1)
		}
		if rv.Deleted {
			if len(rv.Box) != 0 {
				return badf("%s is deleted and must not carry a box", f)
			}
			continue
		}
		if err := checkBlob(f+".box", rv.Box, MaxBox); err != nil {
			return err
		}
	}
	return nil
}
