package transfer

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"filippo.io/age"
)

// FuzzReadCSV checks that ReadCSV never panics, that what it accepts is
// valid, and that WriteCSV of its result reads back with the same titles,
// usernames and passwords.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"title,username,password,url,notes\nA,b,c,https://d.example,e\n",
		"\uFEFFname,login_username,login_password,login_uri,extra\r\nA,b,c,d,\"e\r\nf\"\r\n",
		"title,tags,folder,fav,type,urls,hidden:x,API secret\nA,\"a,b;c\",W/E,1,card,u1 u2,h,s\n",
		"title,password\n,,\n\"\",\"=1+1\"\n",
		"title,\nA,\n",
		"title,notes\nA,\"unclosed\n",
	} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"testdata/lastpass.csv", "testdata/bitwarden.csv"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := ReadCSV(bytes.NewReader(in), CSVOptions{Now: testNow, MaxRows: 1000})
		if err != nil {
			if res != nil {
				t.Fatalf("ReadCSV returned a result with error %v", err)
			}
			return
		}
		for i, it := range res.Items {
			if err := it.Validate(); err != nil {
				t.Fatalf("item %d is invalid: %v", i, err)
			}
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, res.Items); err != nil {
			t.Fatalf("WriteCSV of imported items: %v", err)
		}
		again, err := ReadCSV(&buf, CSVOptions{Now: testNow})
		if err != nil {
			t.Fatalf("re-import of WriteCSV output: %v\n%q", err, buf.String())
		}
		if len(again.Items) != len(res.Items) {
			t.Fatalf("re-import gave %d items, want %d", len(again.Items), len(res.Items))
		}
		for i, it := range res.Items {
			got := again.Items[i]
			p1, _ := it.Get("password")
			p2, _ := got.Get("password")
			if got.Title != it.Title || got.Username() != it.Username() || p1 != p2 {
				t.Fatalf("item %d changed in the round trip:\n got %q %q %q\nwant %q %q %q",
					i, got.Title, got.Username(), p2, it.Title, it.Username(), p1)
			}
		}
	})
}

// fuzzWorkFactor is the scrypt work factor of the FuzzReadExport seeds;
// the identity refuses anything higher, so an input cannot make one run
// take seconds.
const fuzzWorkFactor = 4

// FuzzReadExport feeds arbitrary bytes to ReadExport with a fixed
// passphrase: it must never panic, and what it accepts must survive
// WriteExport and ReadExport unchanged.
func FuzzReadExport(f *testing.F) {
	r, err := PassphraseRecipient(testPass, fuzzWorkFactor)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(writeExport(f, testExport(f, 2), r))
	f.Add(writeExport(f, testExport(f, 0), r))
	f.Add([]byte(ageIntro))
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 4\nAAAA\n--- AAAA\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		id, err := PassphraseIdentity(testPass)
		if err != nil {
			t.Fatal(err)
		}
		id.(*age.ScryptIdentity).SetMaxWorkFactor(fuzzWorkFactor)
		e, err := ReadExport(bytes.NewReader(in), id)
		if err != nil {
			if e != nil {
				t.Fatalf("ReadExport returned an export with error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteExport(&buf, e, r); err != nil {
			t.Fatalf("WriteExport of an export ReadExport accepted: %v", err)
		}
		again, err := ReadExport(&buf, id)
		if err != nil {
			t.Fatalf("ReadExport of WriteExport output: %v", err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("the export changed in a write/read round trip")
		}
	})
}
