package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// Decode reads a request body in one pass: the JSON tokens are checked
// against the rules of strictCheck and stored into the value as they
// arrive, so that a large body (a push, a rotation) is never held twice,
// once as text and once decoded. What is held at once is the decoded
// value and one token (at most one box, in base64).

// errBodyTooLarge is returned by limitReader past its limit.
var errBodyTooLarge = errors.New("request body too large")

// limitReader gives errBodyTooLarge once more than n bytes were asked of
// it, and checks on the way that the bytes are UTF-8 (keeping the end of
// a sequence cut by a read for the next one).
type limitReader struct {
	r       io.Reader
	n       int64
	partial []byte
	badUTF8 bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if n > 0 && !l.validUTF8(p[:n], err == io.EOF) {
		l.badUTF8 = true
		return 0, errNotUTF8
	}
	if err == io.EOF && len(l.partial) > 0 {
		l.badUTF8 = true
		return n, errNotUTF8
	}
	return n, err
}

var errNotUTF8 = errors.New("request body is not UTF-8")

// validUTF8 checks b, continuing a sequence the previous read cut.
func (l *limitReader) validUTF8(b []byte, last bool) bool {
	if len(l.partial) > 0 {
		k := min(utf8.UTFMax-len(l.partial), len(b))
		buf := append(append([]byte(nil), l.partial...), b[:k]...)
		r, size := utf8.DecodeRune(buf)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(buf) && !last && k == len(b) {
				l.partial = buf
				return true
			}
			return false
		}
		b = b[size-len(l.partial):]
		l.partial = nil
	}
	// Keep an incomplete sequence at the end for the next read.
	tail := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				tail = i
			}
			break
		}
	}
	if !utf8.Valid(b[:tail]) {
		return false
	}
	if tail < len(b) {
		if last {
			return false
		}
		l.partial = append([]byte(nil), b[tail:]...)
	}
	return true
}

func decodeStream[T any](r io.Reader, max int64, v *T) error {
	lr := &limitReader{r: r, n: max}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	var fresh T
	err := decodeValue(dec, reflect.ValueOf(&fresh).Elem(), "", 0)
	trailing := false
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err, trailing = terr, true
			if terr == nil {
				err = badf("the request body holds more than one JSON value")
			}
		}
	}
	if err != nil {
		// A syntax error may be a byte that is not UTF-8, read into the
		// decoder's buffer before the rest of its sequence was checked.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			rest, _ := io.ReadAll(io.LimitReader(dec.Buffered(), utf8.UTFMax))
			if len(lr.partial) > 0 || !utf8.Valid(rest) && utf8.FullRune(rest) {
				lr.badUTF8 = true
			}
		}
		err = streamError(err, lr, max)
		var br *BadRequestError
		if trailing && errors.As(err, &br) && !lr.badUTF8 {
			err = badf("the request body holds more than one JSON value")
		}
		return err
	}
	if val, ok := any(&fresh).(validator); ok {
		if err := val.Validate(); err != nil {
			return err
		}
	}
	*v = fresh
	return nil
}

func streamError(err error, lr *limitReader, max int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errBodyTooLarge), errors.As(err, &mbe):
		return &TooLargeError{Limit: max}
	case errors.Is(err, errNotUTF8) || lr.badUTF8:
		return badf("the request body is not UTF-8")
	}
	var br *BadRequestError
	if errors.As(err, &br) {
		return err
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return jsonError(err)
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return jsonError(err)
	}
	return err // from reading r
}

// decodeValue reads one JSON value into v, with the checks of checkValue.
func decodeValue(dec *json.Decoder, v reflect.Value, path string, depth int) error {
	if depth > maxJSONNesting {
		return badf("the request body nests too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	t := v.Type()
	where := path
	if where == "" {
		where = "the request body"
	}
	if tok == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			v.SetZero()
			return nil
		}
		return badf("%s must not be null", where)
	}
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		v.Set(p)
		v = p.Elem()
		t = t.Elem()
	}
	field := path
	if field == "" {
		field = "the request body"
	}
	switch {
	case t == timeType:
		s, ok := tok.(string)
		if !ok {
			return badf("%s must be a string", where)
		}
		if err := v.Addr().Interface().(*time.Time).UnmarshalText([]byte(s)); err != nil {
			return badf("%s: wrong type or out of range", field)
		}
		return nil
	case t == bytesType:
		s, ok := tok.(string)
		if !ok {
			return badf("%s must be a string", where)
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, []byte(s))
		if err != nil {
			return badf("a byte field is not valid base64")
		}
		v.SetBytes(b[:n:n])
		return nil
	case t.Kind() == reflect.String:
		s, ok := tok.(string)
		if !ok {
			return badf("%s must be a string", where)
		}
		v.SetString(s)
		return nil
	case t.Kind() == reflect.Bool:
		b, ok := tok.(bool)
		if !ok {
			return badf("%s must be true or false", where)
		}
		v.SetBool(b)
		return nil
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		num, ok := tok.(json.Number)
		if !ok {
			return badf("%s must be a number", where)
		}
		n, err := strconv.ParseInt(string(num), 10, t.Bits())
		if err != nil {
			return badf("%s: wrong type or out of range", field)
		}
		v.SetInt(n)
		return nil
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		num, ok := tok.(json.Number)
		if !ok {
			return badf("%s must be a number", where)
		}
		n, err := strconv.ParseUint(string(num), 10, t.Bits())
		if err != nil {
			return badf("%s: wrong type or out of range", field)
		}
		v.SetUint(n)
		return nil
	case t.Kind() == reflect.Slice:
		if tok != json.Delim('[') {
			return badf("%s must be an array", where)
		}
		s := reflect.MakeSlice(t, 0, 0)
		for i := 0; dec.More(); i++ {
			s = reflect.Append(s, reflect.Zero(t.Elem()))
			if err := decodeValue(dec, s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return err
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if tok != json.Delim('{') {
			return badf("%s must be an object", where)
		}
		m := reflect.MakeMap(t)
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := reflect.ValueOf(k.(string)).Convert(t.Key())
			if m.MapIndex(key).IsValid() {
				return badf("%s has a duplicate key", where)
			}
			e := reflect.New(t.Elem()).Elem()
			if err := decodeValue(dec, e, path+"[key]", depth+1); err != nil {
				return err
			}
			m.SetMapIndex(key, e)
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		v.Set(m)
		return nil
	case t.Kind() == reflect.Struct:
		if tok != json.Delim('{') {
			return badf("%s must be an object", where)
		}
		fields := jsonFieldIndex(t)
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name := k.(string)
			idx, ok := fields[name]
			if !ok {
				return badf("%s has an unknown field", where)
			}
			if seen[name] {
				return badf("%s has a duplicate field %s", where, name)
			}
			seen[name] = true
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if err := decodeValue(dec, v.Field(idx), sub, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		return nil
	}
	return badf("%s has a type this decoder does not handle", where)
}

// jsonFieldIndex maps the exact JSON member names of struct type t to
// their field indexes, as jsonFields names them.
func jsonFieldIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := splitTag(tag)
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		m[name] = i
	}
	return m
}

func splitTag(tag string) (name, rest string, ok bool) {
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			return tag[:i], tag[i+1:], true
		}
	}
	return tag, "", false
}
