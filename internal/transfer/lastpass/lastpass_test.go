package lastpass

import (
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

func TestReadLastPassCSV(t *testing.T) {
	transfertest.Golden(t, Read, []transfertest.GoldenCase{
		{"testdata/lastpass/export.csv", `login "GitHub" source="Work/Dev/GitHub" tags=["Work/Dev"] urls=["https://github.com/login"] favorite
  username (text) = "alice"
  password (hidden) = "gh-pass-1"
  totp (totp) = "JBSWY3DPEHPK3PXP"
  notes = "recovery codes:\naaaa-bbbb, cccc-dddd"
login "Mail" source="Mail" urls=["https://mail.example.com"]
  username (text) = "alice@example.com"
  password (hidden) = "p,w \"2\""
note "Office door" source="Work/Office door" tags=["Work"]
  notes = "door code 1234\nsecond line"
card "Visa Reise" source="Finanzen/Visa Reise" tags=["Finanzen"]
  cardholder (text) = "Jürgen Müller"
  brand (text) = "Visa"
  number (hidden) = "4111111111111111"
  cvv (hidden) = "123"
  Start Date (text custom) = "10/2017"
  expiry (text) = "06/2030"
  notes = "Kreditkarte für Reisen\nzweite Zeile"
bank "Shire Bank" source="Finanzen/Shire Bank" tags=["Finanzen"]
  bank_name (text) = "Bank of the Shire"
  Account Type (text custom) = "Checking"
  routing_number (text) = "123456"
  account_number (hidden) = "1234567890"
  swift (text) = "SHIREXX"
  iban (hidden) = "GB00SHIR1234"
  pin (hidden) = "1111"
  Branch Address (text custom) = "1 Main Street, Bree"
  Branch Phone (text custom) = "1112223333"
note "deploy key" source="Work/Servers/deploy key" tags=["Work/Servers"]
  LastPass type (text custom) = "SSH Key"
  Bit Strength (text custom) = "2048"
  Format (text custom) = "RSA"
  Passphrase (hidden custom) = "hunter2"
  Private Key (hidden custom) = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END RSA PRIVATE KEY-----"
  Public Key (text custom) = "ssh-rsa AAAAB3Nza deploy@example"
  Hostname (text custom) = "git.example.com"
  Date (text custom) = "2021-03-04"
note "Custom" source="Custom"
  LastPass type (text custom) = "Custom Thing"
  Colour (text custom) = "blue"
  notes = "hi"
login "No URL" source="No URL"
  username (text) = "carol"
  password (hidden) = "pw"
login "db1" source="Work/Servers/db1" tags=["Work/Servers"]
  LastPass type (text custom) = "Server"
  Hostname (text custom) = "db1.example.com"
  username (text) = "root"
  password (hidden) = "t0ps3cret"
skipped 1
unmapped: LastPass secure notes: the "Language" line is a LastPass setting of the note's template; not imported
`},
		// Exports from before 2019 have no totp column.
		{"testdata/lastpass/old.csv", `login "Old site" source="Archiv/Old site" tags=["Archiv"] urls=["https://example.com/"]
  username (text) = "olduser"
  password (hidden) = "oldpass"
  notes = "old\nnote"
skipped 0
`},
	})
}

// Each built-in note template lands on the item type and fields
// docs/IMPORT.md lists.
func TestReadLastPassNoteTypes(t *testing.T) {
	tests := []struct{ extra, want string }{
		{"NoteType:Address\nTitle:mr\nFirst Name:Jürgen\nMiddle Name:K\nLast Name:Müller\nBirthday:May,3,1980\nCompany:ACME\nAddress 1:Hauptstr. 1\nCity / Town:Berlin\nEmail Address:j@example.com\nPhone:+49 30 1\nNotes:",
			`identity "N" source="N"
  Title field (text custom) = "mr"
  first_name (text) = "Jürgen"
  Middle Name (text custom) = "K"
  last_name (text) = "Müller"
  birthdate (text) = "1980-05-03"
  company (text) = "ACME"
  address (text) = "Hauptstr. 1"
  City / Town (text custom) = "Berlin"
  email (text) = "j@example.com"
  phone (text) = "+49 30 1"
`},
		{"NoteType:Driver's License\nNumber:B072\nExpiration Date:September,22,2026\nLicense Class:B\nName:Ann Lee\nAddress:1 Road\nDate of Birth:January,2,1990\nNotes:x",
			`identity "N" source="N"
  LastPass type (text custom) = "Driver's License"
  license (hidden) = "B072"
  Expiration Date (text custom) = "2026-09-22"
  License Class (text custom) = "B"
  Name (text custom) = "Ann Lee"
  address (text) = "1 Road"
  birthdate (text) = "1990-01-02"
  notes = "x"
`},
		{"NoteType:Passport\nType:P\nName:Ann Lee\nCountry:NZ\nNumber:LA123\nDate of Birth:January,2,1990\nIssued Date:,,\nNotes:",
			`identity "N" source="N"
  LastPass type (text custom) = "Passport"
  Type (text custom) = "P"
  Name (text custom) = "Ann Lee"
  Country (text custom) = "NZ"
  passport (hidden) = "LA123"
  birthdate (text) = "1990-01-02"
`},
		{"NoteType:Social Security\nName:Ann Lee\nNumber:078-05-1120\nNotes:",
			`identity "N" source="N"
  LastPass type (text custom) = "Social Security"
  Name (text custom) = "Ann Lee"
  Number (hidden custom) = "078-05-1120"
`},
		{"NoteType:Wi-Fi Password\nSSID:Heimnetz\nPassword:wlan\nNotes:",
			`login "N" source="N"
  LastPass type (text custom) = "Wi-Fi Password"
  SSID (text custom) = "Heimnetz"
  password (hidden) = "wlan"
`},
		{"NoteType:Software License\nLicense Key:ABCD\nWebsite:https://sw.example\nPurchase Date:March,1,2020\nNotes:",
			`note "N" source="N" urls=["https://sw.example"]
  LastPass type (text custom) = "Software License"
  License Key (hidden custom) = "ABCD"
  Purchase Date (text custom) = "2020-03-01"
`},
		{"NoteType:Membership\nOrganization:Club\nWebsite:https://club.example\nPassword:pw\nStart Date:June,1,2020\nNotes:",
			`login "N" source="N" urls=["https://club.example"]
  LastPass type (text custom) = "Membership"
  Organization (text custom) = "Club"
  password (hidden) = "pw"
  Start Date (text custom) = "2020-06-01"
`},
		{"NoteType:Credit Card\nExpiration Date:Juni,2030\nNotes:",
			`card "N" source="N"
  expiry (text) = "Juni,2030"
unmapped: LastPass secure notes: 1 dates are not written "Month,day,year" or "Month,year"; imported as written
`},
		// Not a template: the whole text is the note, "NoteType" and all.
		{"NoteType without colon\nline", `note "N" source="N"
  notes = "NoteType without colon\nline"
`},
	}
	for _, tc := range tests {
		in := "url,username,password,totp,extra,name,grouping,fav\nhttp://sn,,,,\"" + strings.ReplaceAll(tc.extra, `"`, `""`) + "\",N,,0\n"
		res, err := transfertest.ReadCSV(t, Read, []byte(in), transfer.ImportOptions{})
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		transfertest.CheckValid(t, res)
		got := transfertest.Dump(res)
		got = strings.Replace(got, "skipped 0\n", "", 1)
		if got != tc.want {
			t.Errorf("%q:\n--- got\n%s--- want\n%s", tc.extra, got, tc.want)
		}
	}
}

func TestLastPassFolderAndDates(t *testing.T) {
	for in, want := range map[string]string{`A\B\C`: "A/B/C", "(none)": "", "": "", ` Work `: "Work", `A\\B`: "A/B"} {
		if got := lastPassFolder(in); got != want {
			t.Errorf("lastPassFolder(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct{ in, format, want string }{
		{"June,2020", "ym", "06/2020"},
		{"June,2020", "ymd", "2020-06"},
		{"December,31,1999", "ymd", "1999-12-31"},
		{" march , 4 , 2021 ", "ymd", "2021-03-04"},
		{"June,32,2020", "ymd", ""},
		{"Smarch,2020", "ym", ""},
		{"June", "ym", ""},
	} {
		got, ok := lastPassDate(tc.in, tc.format)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("lastPassDate(%q, %s) = %q, %v; want %q", tc.in, tc.format, got, ok, tc.want)
		}
	}
}

func TestReadLastPassCSVFavorite(t *testing.T) {
	in := "url,username,password,extra,name,grouping,fav\nhttps://a,u,p,,A,,1\nhttps://b,u,p,,B,,yes\n"
	res, err := transfertest.ReadCSV(t, Read, []byte(in), transfer.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Items[0].Item.Favorite || res.Items[1].Item.Favorite {
		t.Errorf("favorites: %v %v, want true false", res.Items[0].Item.Favorite, res.Items[1].Item.Favorite)
	}
	if len(res.Unmapped) != 1 || !strings.Contains(res.Unmapped[0], `"fav": 1 rows`) {
		t.Errorf("Unmapped = %q", res.Unmapped)
	}
}

func TestReadLastPassCSVBad(t *testing.T) {
	const head = "url,username,password,totp,extra,name,grouping,fav\n"
	transfertest.Bad(t, Read, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"no header", "https://a,u,S3CRET,,,A,,0\n", "not the header of a LastPass export"},
		{"chrome file", "name,url,username,password\nA,https://a,u,S3CRET\n", "--format chrome-csv"},
		{"missing cell", head + "https://a,u,S3CRET,,,A,,0\nhttps://b,u,S3CRET,,,B,0\n", "line 3"},
		{"truncated note", head + "http://sn,,,,\"NoteType:Credit Card\nNumber:S3CRET\n", "not closed"},
		{"latin-1", head + "https://a,u,S3CRET,,,Caf\xe9,,0\n", "line 2 is not valid UTF-8"},
	})
}

func FuzzReadLastPassCSV(f *testing.F) {
	transfertest.FuzzCSV(f, Read, []string{
		"url,username,password,totp,extra,name,grouping,fav\nhttp://sn,,,,\"NoteType:Credit Card\nNumber:1\nExpiration Date:June,2020\nNotes:x\ny\",C,A\\B,1\n",
		"url,username,password,extra,name,grouping,fav\nhttp://sn,,,,\"NoteType:SSH Key\nPrivate Key:a\nb:c\nPublic Key:d\",K,,0\n",
		"url,username,password,extra,name,grouping,fav\n,,,,,,\n",
		"url,username,password,totp,extra,name,grouping,fav\nhttp://sn,,,,\"NoteType:X\n:\n\nNotes:\",,,\n",
	}, []string{"testdata/lastpass/export.csv", "testdata/lastpass/old.csv", "testdata/lastpass.csv"})
}
