package item

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateAndRoundTrip(t *testing.T) {
	it := New(Login, "GitHub", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	it.Set("username", "alice", Text)
	it.Set("password", "hunter2", Hidden)
	it.Set("Recovery", "https://x.example", URL)
	if f := it.Fields[1]; f.Kind != Hidden || f.Custom {
		t.Fatalf("standard field got %+v", f)
	}
	if f := it.Fields[2]; !f.Custom || f.Kind != URL {
		t.Fatalf("custom field got %+v", f)
	}
	b, err := it.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	it2, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := it2.Marshal()
	if string(b) != string(b2) {
		t.Fatal("JSON does not round-trip")
	}
	for name, mut := range map[string]func(*Item){
		"empty title":  func(i *Item) { i.Title = "  " },
		"unknown type": func(i *Item) { i.Type = "spaceship" },
		"bad kind":     func(i *Item) { i.Fields = append(i.Fields, Field{Name: "x", Kind: "blob"}) },
		"huge title":   func(i *Item) { i.Title = strings.Repeat("a", MaxTitle+1) },
		"version":      func(i *Item) { i.V = 2 },
	} {
		c := it.Clone()
		mut(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A search never looks at hidden values, so it cannot test a password.
func TestSearchSkipsHidden(t *testing.T) {
	it := New(Login, "Mail", time.Now())
	it.Set("username", "bob", Text)
	it.Set("password", "s3cr3t-value", Hidden)
	it.Set("totp", "JBSWY3DPEHPK3PXP", TOTP)
	it.Tags = []string{"Work"}
	for q, want := range map[string]bool{"mail": true, "BOB work": true, "s3cr3t": false, "jbswy3": false, "mail nothere": false} {
		if got := it.Matches(q); got != want {
			t.Errorf("Matches(%q) = %v, want %v", q, got, want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"login","title":"x","created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"v":1,"type":"card","title":"c","fields":[{"name":"number","kind":"hidden","value":"4111"}],"created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := it.Marshal()
		if err != nil {
			t.Fatalf("a valid item does not marshal: %v", err)
		}
		it2, err := Unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		out2, _ := it2.Marshal()
		if string(out) != string(out2) {
			t.Fatal("marshal is not stable")
		}
	})
}

func TestAttachmentLimits(t *testing.T) {
	base := func() *Item {
		it := New(Login, "Site", time.Unix(0, 0))
		it.Attachments = []Attachment{{Name: "a.txt", Data: []byte("a")}}
		return it
	}
	cases := []struct {
		name string
		edit func(*Item)
		ok   bool
	}{
		{"one small attachment", func(*Item) {}, true},
		{"empty data is allowed", func(it *Item) { it.Attachments[0].Data = nil }, true},
		{"empty name", func(it *Item) { it.Attachments[0].Name = "" }, false},
		{"same name twice", func(it *Item) { it.Attachments = append(it.Attachments, it.Attachments[0]) }, false},
		{"exactly the size limit", func(it *Item) { it.Attachments[0].Data = make([]byte, MaxAttachmentBytes) }, true},
		{"one byte over in all", func(it *Item) {
			it.Attachments[0].Data = make([]byte, MaxAttachmentBytes)
			it.Attachments = append(it.Attachments, Attachment{Name: "b", Data: []byte{1}})
		}, false},
		{"too many", func(it *Item) {
			for i := range MaxAttachments {
				it.Attachments = append(it.Attachments, Attachment{Name: fmt.Sprint(i)})
			}
		}, false},
	}
	for _, tc := range cases {
		it := base()
		tc.edit(it)
		if err := it.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
	// Attachments survive the JSON round trip and Clone deeply.
	it := base()
	it.Attachments[0].Data = []byte{0, 1, 2, 255}
	b, err := it.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil || len(back.Attachments) != 1 || string(back.Attachments[0].Data) != "\x00\x01\x02\xff" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	c := it.Clone()
	c.Attachments[0].Data[0] = 9
	if it.Attachments[0].Data[0] != 0 {
		t.Error("Clone shares attachment data")
	}
}

// TestMatchSetting checks the browser match setting: the three values
// round-trip through the sealed JSON, an item without one encodes as
// before (no "match" key), and anything else is refused.
func TestMatchSetting(t *testing.T) {
	base := New(Login, "Bank", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b, err := base.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"match"`) {
		t.Fatalf("an item without a setting encodes one: %s", b)
	}
	for _, m := range []string{MatchDefault, MatchDomain, MatchHost} {
		it := base.Clone()
		it.Match = m
		b, err := it.Marshal()
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		back, err := Unmarshal(b)
		if err != nil || back.Match != m {
			t.Fatalf("%q: read back %q, %v", m, back.Match, err)
		}
	}
	for _, m := range []string{"Host", "exact", "default", " host"} {
		it := base.Clone()
		it.Match = m
		if err := it.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("match %q: %v, want ErrInvalid", m, err)
		}
		if _, err := Unmarshal([]byte(`{"v":1,"type":"login","title":"x","match":` + fmt.Sprintf("%q", m) + `}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("unmarshal match %q: %v, want ErrInvalid", m, err)
		}
	}
}

func TestParseMatch(t *testing.T) {
	for in, want := range map[string]string{
		"domain": MatchDomain, "host": MatchHost, "HOST": MatchHost,
		"default": MatchDefault, "": MatchDefault, " Domain ": MatchDomain,
	} {
		got, err := ParseMatch(in)
		if err != nil || got != want {
			t.Errorf("ParseMatch(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"exact", "subdomain", "hosts"} {
		if _, err := ParseMatch(in); err == nil {
			t.Errorf("ParseMatch(%q) accepted", in)
		}
	}
}
