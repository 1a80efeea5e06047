package kdbx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// kdbxRefXML has entries whose fields refer to others, the way KeePass
// users share one password between entries. Entry UUIDs: Master is
// 000102…0F, Mirror is 101112…1F.
const kdbxRefXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<KeePassFile>
<Meta><Generator>test</Generator></Meta>
<Root>
<Group>
<UUID>4A1KR6h9TiGtbHtdHtHdoA==</UUID>
<Name>Refs</Name>
<Entry>
<UUID>AAECAwQFBgcICQoLDA0ODw==</UUID>
<String><Key>Title</Key><Value>Master</Value></String>
<String><Key>UserName</Key><Value>alice</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">master secret</Value></String>
<String><Key>URL</Key><Value>https://sso.example</Value></String>
<String><Key>Notes</Key><Value>the shared login</Value></String>
<String><Key>Employee no</Key><Value>E-4711</Value></String>
</Entry>
<Entry>
<UUID>EBESExQVFhcYGRobHB0eHw==</UUID>
<String><Key>Title</Key><Value>Mirror</Value></String>
<String><Key>UserName</Key><Value>{REF:U@I:000102030405060708090A0B0C0D0E0F}</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">{ref:p@i:000102030405060708090a0b0c0d0e0f}</Value></String>
<String><Key>URL</Key><Value>{REF:A@T:master}/app</Value></String>
<String><Key>Notes</Key><Value>copy of {REF:T@U:ALIC}: {REF:N@I:000102030405060708090A0B0C0D0E0F} ({REF:I@O:E-4711})</Value></String>
<String><Key>Pin copy</Key><Value>{REF:P@A:sso.example}</Value></String>
</Entry>
<Entry>
<UUID>ICEiIyQlJicoKSorLC0uLw==</UUID>
<String><Key>Title</Key><Value>Chained</Value></String>
<String><Key>UserName</Key><Value>{REF:U@T:Mirror}</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">{REF:P@I:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF}</Value></String>
<String><Key>Notes</Key><Value>{REF:X@T:Master} {REF:P@T:nobody here}</Value></String>
</Entry>
<Entry>
<UUID>MDEyMzQ1Njc4OTo7PD0+Pw==</UUID>
<String><Key>Title</Key><Value>Loop</Value></String>
<String><Key>UserName</Key><Value>{REF:U@I:303132333435363738393A3B3C3D3E3F}</Value></String>
</Entry>
</Group>
</Root>
</KeePassFile>
`

// Field references in a database KeePassXC wrote are resolved as KeePass
// resolves them, by UUID and by the other search keys, inside longer
// values too; those that cannot be are kept as text and reported.
func TestReadKDBXFieldReferences(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	xmlPath := filepath.Join(dir, "in.xml")
	if err := os.WriteFile(xmlPath, []byte(kdbxRefXML), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "db.kdbx")
	kpx(t, "pw\npw\n", "import", "-q", "-p", "-t", "100", xmlPath, db)
	res, err := readKDBXFile(t, db, transfer.ImportOptions{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	mirror := transfertest.ByTitle(t, res, "Mirror").Item
	kdbxWantField(t, mirror, "username", item.Text, "alice")
	kdbxWantField(t, mirror, "password", item.Hidden, "master secret")
	// A password pulled into a field of the user's own is hidden.
	kdbxWantField(t, mirror, "Pin copy", item.Hidden, "master secret")
	if len(mirror.URLs) != 1 || mirror.URLs[0] != "https://sso.example/app" {
		t.Errorf("URLs %q", mirror.URLs)
	}
	if want := "copy of Master: the shared login (000102030405060708090A0B0C0D0E0F)"; mirror.Notes != want {
		t.Errorf("notes %q, want %q", mirror.Notes, want)
	}
	chained := transfertest.ByTitle(t, res, "Chained").Item
	kdbxWantField(t, chained, "username", item.Text, "alice")
	kdbxWantField(t, chained, "password", item.Hidden, "{REF:P@I:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF}")
	if !kdbxHasLine(res.Unmapped, `entry "Chained"`, `field "Password"`, "UUID FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "not in the file") ||
		!kdbxHasLine(res.Unmapped, `entry "Chained"`, `field "Notes"`, "does not know") ||
		!kdbxHasLine(res.Unmapped, `entry "Chained"`, `field "Notes"`, "password of the entry whose title contains") ||
		!kdbxHasLine(res.Unmapped, `entry "Loop"`, `field "UserName"`, "part of a loop") {
		t.Errorf("unresolved references not reported as expected: %q", res.Unmapped)
	}
	for _, u := range res.Unmapped {
		if strings.Contains(u, "nobody here") || strings.Contains(u, "secret") {
			t.Errorf("a report line quotes a value: %q", u)
		}
	}
	if len(res.Unmapped) != 4 {
		t.Errorf("unmapped %q, want exactly the four unresolved references", res.Unmapped)
	}
}

func TestKDBXRefResolve(t *testing.T) {
	root := &kxGroup{Entries: []kxEntry{
		{UUID: "AAECAwQFBgcICQoLDA0ODw==", Strings: []kxString{
			{Key: "Title", Value: &kxValue{Text: "One"}}, {Key: "Password", Value: &kxValue{Text: "p1"}}}},
		{UUID: "EBESExQVFhcYGRobHB0eHw==", Strings: []kxString{
			{Key: "Title", Value: &kxValue{Text: "Two one"}}, {Key: "Password", Value: &kxValue{Text: "{REF:P@T:one}{REF:P@T:one}"}}}},
	}}
	for _, tc := range []struct{ in, want, bad string }{
		{"plain", "plain", ""},
		{"{REF:P@I:000102030405060708090A0B0C0D0E0F}", "p1", ""},
		{"{REF:P@I:00010203-0405-0607-0809-0a0b0c0d0e0f}", "p1", ""},
		{"a{REF:T@T:TWO}b", "aTwo oneb", ""},
		// "One" is contained in "Two one" too: the exact title wins.
		{"{REF:T@T:One}", "One", ""},
		{"{REF:T@T:one}", "One", ""},
		{"{REF:T@T:wo on}", "Two one", ""},
		{"{REF:P@I:101112131415161718191A1B1C1D1E1F}", "p1p1", ""},
		{"{REF:P@I:1}", "{REF:P@I:1}", "not in the file"},
		{"{REF:P@T:}", "{REF:P@T:}", "not in the file"},
		{"{REF:PT:x}", "{REF:PT:x}", "form"},
		{"{REF:O@T:One}", "{REF:O@T:One}", "does not know"},
		{"{REF:P@T:One", "{REF:P@T:One", ""},
		// Characters whose upper case has another length do not shift
		// where a reference is found.
		{"ıııı{REF:P@T:one}ɐ", "ııııp1ɐ", ""},
		{"ſ{ref:t@t:ONE}", "ſOne", ""},
	} {
		x := newKDBXRefs(root)
		got, _, bad := x.resolve(tc.in, 0)
		if got != tc.want || (tc.bad == "") != (len(bad) == 0) || (tc.bad != "" && !strings.Contains(bad[0], tc.bad)) {
			t.Errorf("resolve(%q) = %q, %q; want %q, %q", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

// References that multiply cannot make the work or the value grow
// without bound: each field is resolved once, and a value past the bound
// is reported.
func TestKDBXRefBounded(t *testing.T) {
	var entries []kxEntry
	n := 40
	for i := range n {
		next := "end"
		if i+1 < n {
			ref := "{REF:P@T:E" + string(rune('A'+i+1)) + "}"
			next = strings.Repeat(ref, 4)
		}
		entries = append(entries, kxEntry{Strings: []kxString{
			{Key: "Title", Value: &kxValue{Text: "E" + string(rune('A'+i))}}, {Key: "Password", Value: &kxValue{Text: next}}}})
	}
	x := newKDBXRefs(&kxGroup{Entries: entries})
	got, _, bad := x.resolve("{REF:P@T:EA}", 0)
	if len(bad) != 1 || got != "{REF:P@T:EA}" {
		t.Fatalf("got %d bytes, problems %q", len(got), bad)
	}
}
