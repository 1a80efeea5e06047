package keyholdcsv

import (
	"bytes"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// FuzzReadCSV checks that Read never panics, that what it accepts is
// valid, and that Write of its result reads back with the same titles,
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
	transfertest.AddFiles(f, "testdata/lastpass.csv", "testdata/bitwarden.csv")
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := Read(bytes.NewReader(in), Options{Now: transfertest.Now, MaxRows: 1000})
		if err != nil {
			if res != nil {
				t.Fatalf("Read returned a result with error %v", err)
			}
			return
		}
		for i, it := range res.Items {
			if err := it.Validate(); err != nil {
				t.Fatalf("item %d is invalid: %v", i, err)
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, res.Items); err != nil {
			t.Fatalf("Write of imported items: %v", err)
		}
		again, err := Read(&buf, Options{Now: transfertest.Now})
		if err != nil {
			t.Fatalf("re-import of Write output: %v\n%q", err, buf.String())
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
