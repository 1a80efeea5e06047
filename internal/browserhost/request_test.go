package browserhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	ok := []struct {
		in   string
		want Request
	}{
		{`{"v":1,"id":0,"op":"status"}`, Request{Op: "status"}},
		{" \t\r\n{ \"op\" : \"lock\" , \"id\" : 9007199254740991 , \"v\" : 1 }\n", Request{ID: 1<<53 - 1, Op: "lock"}},
		{`{"v":1,"id":3,"op":"unlock","password":"p\u00e4ss \"w\" \\ \/ \b\f\n\r\t \ud83d\udd11 ü"}`,
			Request{ID: 3, Op: "unlock", Password: []byte("päss \"w\" \\ / \b\f\n\r\t 🔑 ü")}},
		{`{"v":1,"id":4,"op":"candidates","origin":"https://a.example","top_origin":"https://b.example","exact":true}`,
			Request{ID: 4, Op: "candidates", Origin: "https://a.example", TopOrigin: "https://b.example", Exact: true}},
		{`{"v":1,"id":5,"op":"search"}`, Request{ID: 5, Op: "search"}},
		{`{"v":1,"id":5,"op":"search","query":"","exact":false}`, Request{ID: 5, Op: "search"}},
		{`{"v":1,"id":6,"op":"fill","item":"0190a0e0-0000-7000-8000-000000000000","origin":"https://a.example","top_origin":"null"}`,
			Request{ID: 6, Op: "fill", Item: "0190a0e0-0000-7000-8000-000000000000", Origin: "https://a.example", TopOrigin: "null"}},
		{`{"v":1,"id":7,"op":"copy","item":"x","field":"totp"}`, Request{ID: 7, Op: "copy", Item: "x", Field: "totp"}},
		{`{"v":1,"id":8,"op":"save","origin":"https://a.example","title":"T","username":"u","password":"p"}`,
			Request{ID: 8, Op: "save", Origin: "https://a.example", Title: "T", Username: "u", Password: []byte("p")}},
		{`{"v":1,"id":9,"op":"update","item":"i","origin":"o","username":"u","password":"p","exact":false}`,
			Request{ID: 9, Op: "update", Item: "i", Origin: "o", Username: "u", Password: []byte("p")}},
		{`{"v":1,"id":10,"op":"save_check","origin":"o","username":"u","password":"` + long(MaxPassword) + `"}`,
			Request{ID: 10, Op: "save_check", Origin: "o", Username: "u", Password: []byte(long(MaxPassword))}},
		{`{"v":1,"id":11,"op":"generate"}`, Request{ID: 11, Op: "generate"}},
		{`{"v":1,"id":12,"op":"fill","item":"i","origin":"o","top_origin":"t","ancestor_origins":[ "t" , "a\u0062"]}`,
			Request{ID: 12, Op: "fill", Item: "i", Origin: "o", TopOrigin: "t", AncestorOrigins: []string{"t", "ab"}}},
		{`{"v":1,"id":13,"op":"candidates","origin":"o","ancestor_origins":[]}`,
			Request{ID: 13, Op: "candidates", Origin: "o", AncestorOrigins: []string{}}},
	}
	for _, c := range ok {
		got, err := DecodeRequest([]byte(c.in))
		if err != nil {
			t.Errorf("%.60s: %v", c.in, err)
			continue
		}
		if got.ID != c.want.ID || got.Op != c.want.Op || got.Origin != c.want.Origin || got.TopOrigin != c.want.TopOrigin ||
			got.Exact != c.want.Exact || got.Query != c.want.Query || got.Item != c.want.Item || got.Field != c.want.Field ||
			got.Username != c.want.Username || got.Title != c.want.Title || string(got.Password) != string(c.want.Password) ||
			fmt.Sprintf("%q", got.AncestorOrigins) != fmt.Sprintf("%q", c.want.AncestorOrigins) || (got.AncestorOrigins == nil) != (c.want.AncestorOrigins == nil) {
			t.Errorf("%.60s:\n got %+v\nwant %+v", c.in, *got, c.want)
		}
	}

	bad := []struct{ in, why string }{
		{``, "empty"},
		{`[]`, "an array"},
		{`"status"`, "a string"},
		{`{"v":1,"id":1,"op":"status"`, "unterminated"},
		{`{"v":1,"id":1,"op":"status"}{}`, "two objects"},
		{`{"v":1,"id":1,"op":"status",}`, "trailing comma"},
		{`{"v":1,"id":1,"op":"status" "x":1}`, "missing comma"},
		{`{'v':1}`, "single quotes"},
		{`{"v":1,"id":1}`, "no op"},
		{`{"id":1,"op":"status"}`, "no v"},
		{`{"v":1,"op":"status"}`, "no id"},
		{`{"v":2,"id":1,"op":"status"}`, "another version"},
		{`{"v":"1","id":1,"op":"status"}`, "v as a string"},
		{`{"v":1,"id":"1","op":"status"}`, "id as a string"},
		{`{"v":1,"id":1.0,"op":"status"}`, "id with a fraction"},
		{`{"v":1,"id":1e3,"op":"status"}`, "id with an exponent"},
		{`{"v":1,"id":-1,"op":"status"}`, "negative id"},
		{`{"v":1,"id":01,"op":"status"}`, "leading zero"},
		{`{"v":1,"id":9007199254740992,"op":"status"}`, "id beyond 2^53-1"},
		{`{"v":1,"id":99999999999999999999999,"op":"status"}`, "id beyond int64"},
		{`{"v":1,"id":1,"op":"Status"}`, "op in another case"},
		{`{"v":1,"id":1,"op":"list"}`, "unknown op"},
		{`{"v":1,"id":1,"op":"status","origin":"https://a.example"}`, "a field status does not take"},
		{`{"v":1,"id":1,"op":"copy","item":"x","field":"password","origin":"https://a.example"}`, "origin in a copy"},
		{`{"v":1,"id":1,"op":"fill","item":"x","top_origin":"https://a.example"}`, "fill without origin"},
		{`{"v":1,"id":1,"op":"fill","item":"x","origin":"https://a.example"}`, "fill without top_origin"},
		{`{"v":1,"id":1,"op":"unlock"}`, "unlock without password"},
		{`{"v":1,"id":1,"op":"status","v":1}`, "duplicate v"},
		{`{"v":1,"id":1,"op":"unlock","password":"a","password":"b"}`, "duplicate password"},
		{`{"v":1,"id":1,"op":"status","future":true}`, "unknown field"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","exact":"true"}`, "exact as a string"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","exact":1}`, "exact as a number"},
		{`{"v":1,"id":1,"op":"candidates","origin":null}`, "null"},
		{`{"v":1,"id":1,"op":"candidates","origin":{"a":1}}`, "nested object"},
		{`{"v":1,"id":1,"op":"candidates","origin":["a"]}`, "array value"},
		{`{"v":1,"id":1,"op":"candidates","origin":"` + long(MaxOrigin+1) + `"}`, "origin too long"},
		{`{"v":1,"id":1,"op":"unlock","password":"` + long(MaxPassword+1) + `"}`, "password too long"},
		{`{"v":1,"id":1,"op":"unlock","password":"a` + "\x01" + `"}`, "control character"},
		{`{"v":1,"id":1,"op":"unlock","password":"\x"}`, "unknown escape"},
		{`{"v":1,"id":1,"op":"unlock","password":"\u12"}`, "short \\u escape"},
		{`{"v":1,"id":1,"op":"unlock","password":"\ud800"}`, "lone high surrogate"},
		{`{"v":1,"id":1,"op":"unlock","password":"\udc00\ud800"}`, "reversed surrogates"},
		{`{"v":1,"id":1,"op":"unlock","password":"\ud800\u0041"}`, "high surrogate and a letter"},
		{`{"v":1,"id":1,"op":"unlock","password":"` + "\xff" + `"}`, "invalid UTF-8"},
		{`{"v":1,"id":1,"op":"status"} ` + long(MaxRequest), "over the size limit"},
		{`{"v":1,"id":1,"op":"status","a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1}`, "too many members"},
		{`{"v":1,"id":1,"op":"status","exact":tru}`, "broken literal"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":"o"}`, "ancestors as a string"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":[1]}`, "a number in the ancestors"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":[["o"]]}`, "nested list"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":["o",]}`, "trailing comma in a list"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":["o"}`, "unterminated list"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":[` + strings.Repeat(`"o",`, MaxAncestors) + `"o"]}`, "too many ancestors"},
		{`{"v":1,"id":1,"op":"candidates","origin":"o","ancestor_origins":["` + long(MaxOrigin+1) + `"]}`, "ancestor too long"},
		{`{"v":1,"id":1,"op":"unlock","password":"p","ancestor_origins":[]}`, "ancestors in an unlock"},
	}
	for _, c := range bad {
		r, err := DecodeRequest([]byte(c.in))
		var de *DecodeError
		if err == nil || !errors.As(err, &de) {
			t.Errorf("%s: accepted (%+v), want a DecodeError", c.why, r)
			continue
		}
		for _, v := range []string{`"a"`, `"b"`, "aaaaaaaa"} {
			if strings.Contains(err.Error(), v) && strings.Contains(c.in, "password") {
				t.Errorf("%s: the error %q echoes a value", c.why, err)
			}
		}
	}
}

// TestDecodeErrorKeepsTheID: a request refused for its form still names
// its id when it can be found, so the extension knows which request
// failed.
func TestDecodeErrorKeepsTheID(t *testing.T) {
	for in, want := range map[string]int64{
		`{"v":1,"op":"unlock","password":"a","password":"b","id":41}`: 41,
		`{"v":1,"op":"status","x":[1],"id" : 42}`:                     42,
		`{"id":43,"v":1,"op":"status"} trailing`:                      43,
		`{"v":1,"op":"status","id":"44"}`:                             0,
		`garbage`:                                                     0,
	} {
		_, err := DecodeRequest([]byte(in))
		var de *DecodeError
		if !errors.As(err, &de) || de.ID != want {
			t.Errorf("%s: %v (id %v), want a DecodeError with id %d", in, err, de, want)
		}
	}
}

// TestDecodeRequestWipes: a request's password is the decoded bytes
// themselves, and Wipe clears them.
func TestDecodeRequestWipes(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"v":1,"id":1,"op":"unlock","password":"s3cret"}`))
	if err != nil {
		t.Fatal(err)
	}
	pw := r.Password
	r.Wipe()
	if string(pw) != "\x00\x00\x00\x00\x00\x00" || r.Password != nil {
		t.Errorf("after Wipe the password is %q", pw)
	}
}

// FuzzDecodeRequest checks DecodeRequest against encoding/json: what it
// accepts is a JSON object that encoding/json reads to the same values,
// and it never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"id":1,"op":"status"}`,
		`{"v":1,"id":2,"op":"unlock","password":"p\u00e4ss \ud83d\udd11"}`,
		`{"v":1,"id":3,"op":"candidates","origin":"https://a.example","top_origin":"https://b.example","exact":true}`,
		`{"v":1,"id":4,"op":"save","origin":"https://a.example","title":"T","username":"u","password":"p"}`,
		`{"v":1,"id":5,"op":"unlock","password":"a","password":"b"}`,
		`{"v":1,"id":1.5,"op":"status"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("accepted what encoding/json refuses (%v): %q", err, b)
		}
		if dec.More() {
			t.Fatalf("accepted trailing data: %q", b)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		if str("op") != r.Op || str("origin") != r.Origin || str("top_origin") != r.TopOrigin || str("query") != r.Query ||
			str("item") != r.Item || str("field") != r.Field || str("username") != r.Username || str("title") != r.Title ||
			str("password") != string(r.Password) {
			t.Fatalf("decoded %+v, encoding/json reads %v", *r, m)
		}
		if id, _ := m["id"].(json.Number); id.String() != jsonInt(r.ID) {
			t.Fatalf("id %d, encoding/json reads %v", r.ID, m["id"])
		}
		if a, ok := m["ancestor_origins"].([]any); ok {
			if len(a) != len(r.AncestorOrigins) {
				t.Fatalf("ancestors %q, encoding/json reads %v", r.AncestorOrigins, a)
			}
			for i := range a {
				if a[i] != r.AncestorOrigins[i] {
					t.Fatalf("ancestors %q, encoding/json reads %v", r.AncestorOrigins, a)
				}
			}
		}
		if e, ok := m["exact"]; ok && e != r.Exact {
			t.Fatalf("exact %v, encoding/json reads %v", r.Exact, e)
		}
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
