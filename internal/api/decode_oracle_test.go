package api

// The decoder Decode replaced, which read the whole body before checking
// it: kept beside the tests as an oracle that the streaming decoder must
// agree with (TestStreamAgreesWithWholeBody, FuzzDecodeStreamAgrees).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// decodeWhole is the earlier form of Decode, reading the whole body first:
// the tests check that the streaming decoder agrees with it.
func decodeWhole[T any](r io.Reader, max int64, v *T) error {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &TooLargeError{Limit: max}
		}
		return err
	}
	if int64(len(data)) > max {
		return &TooLargeError{Limit: max}
	}
	return decodeBytes(data, v)
}

func decodeBytes[T any](data []byte, v *T) error {
	if !utf8.Valid(data) {
		return badf("the request body is not UTF-8")
	}
	t := reflect.TypeFor[T]()
	if err := strictCheck(data, t); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fresh T
	if err := dec.Decode(&fresh); err != nil {
		return jsonError(err)
	}
	if val, ok := any(&fresh).(validator); ok {
		if err := val.Validate(); err != nil {
			return err
		}
	}
	*v = fresh
	return nil
}

// strictCheck walks the JSON tokens of data alongside type t and refuses
// what encoding/json would silently accept: members it does not know,
// members that match a field only case-insensitively, duplicate members,
// null where there is no pointer, and anything after the first value.
func strictCheck(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, t, "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return badf("the request body holds more than one JSON value")
	}
	return nil
}

func checkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxJSONNesting {
		return badf("the request body nests too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	where := path
	if where == "" {
		where = "the request body"
	}
	if tok == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			return nil
		}
		return badf("%s must not be null", where)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType, t == bytesType, t.Kind() == reflect.String:
		if _, ok := tok.(string); !ok {
			return badf("%s must be a string", where)
		}
		return nil
	case t.Kind() == reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return badf("%s must be true or false", where)
		}
		return nil
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		if _, ok := tok.(json.Number); !ok {
			return badf("%s must be a number", where)
		}
		return nil
	case t.Kind() == reflect.Slice:
		if tok != json.Delim('[') {
			return badf("%s must be an array", where)
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return jsonErrorOrNil(err)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if tok != json.Delim('{') {
			return badf("%s must be an object", where)
		}
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			key := k.(string) // the decoder only yields strings as member names
			if seen[key] {
				return badf("%s has a duplicate key", where)
			}
			seen[key] = true
			if err := checkValue(dec, t.Elem(), path+"[key]", depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return jsonErrorOrNil(err)
	case t.Kind() == reflect.Struct:
		if tok != json.Delim('{') {
			return badf("%s must be an object", where)
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			name := k.(string)
			ft, ok := fields[name]
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
			if err := checkValue(dec, ft, sub, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return jsonErrorOrNil(err)
	}
	return badf("%s has a type this decoder does not handle", where)
}

func jsonErrorOrNil(err error) error {
	if err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonFields maps the exact JSON member names of struct type t to their
// field types, as encoding/json names them (tag name, else the Go name).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		m[name] = f.Type
	}
	return m
}
