package msecure

import (
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

const msecure6Want = `login "Bitwarden" source="Bitwarden" urls=["bitwarden.com"]
  username (text) = "bitwarden user"
  password (hidden) = "bitpassword"
login "Example" source="Privat/Example" tags=["Privat"] urls=["https://example2.com"]
  username (text) = "username || lol"
  password (hidden) = "this, is a password"
  PIN (hidden custom) = "4321"
  Security Question (text custom) = "Hund?"
  notes = "This is a note |\nsecond line"
card "myCreditCard" source="Finanzen/myCreditCard" tags=["Finanzen"]
  number (hidden) = "41111111111111111"
  expiry (text) = "05/2026"
  cvv (hidden) = "123"
  cardholder (text) = "Jürgen Müller"
  pin (hidden) = "1234"
  Issuing Bank (text custom) = "Visa"
bank "Girokonto" source="Finanzen/Girokonto" tags=["Finanzen"]
  account_number (hidden) = "DE0012345"
  bank_name (text) = "Sparkasse"
  pin (hidden) = "9999"
  routing_number (text) = "10010010"
note "Meine Notiz" source="Meine Notiz"
  notes = "Zeile 1\nZeile 2, mit Komma"
identity "Reisepass" source="Reisepass"
  mSecure type (text custom) = "Passport"
  passport (hidden) = "C01X00T47"
  birthdate (text) = "1970-01-01"
  Issuing Country (text custom) = "Deutschland"
note "Office 365" source="Work/Office 365" tags=["Work"] urls=["https://office.com"]
  mSecure type (text custom) = "Software"
  License Key (hidden custom) = "ABCD-EFGH"
  Version (text custom) = "2021"
login "Router" source="Router"
  mSecure type (text custom) = "Wi-Fi"
  Network Name (text custom) = "Heimnetz"
  password (hidden) = "wlanpass"
skipped 1
unmapped: mSecure record IDs (the number after '|' in each title) are mSecure's own; not imported
`

func TestReadMSecureCSV(t *testing.T) {
	transfertest.Golden(t, Read, []transfertest.GoldenCase{
		{"testdata/msecure/msecure6.csv", msecure6Want},
		{"testdata/msecure/msecure5.csv", `login "GitHub" source="Personal/GitHub" tags=["Personal"] urls=["https://github.com"]
  username (text) = "alice"
  password (hidden) = "gh-pass"
  notes = "Line one\nLine two, more"
card "Visa" source="Visa"
  number (hidden) = "4111111111111111"
  expiry (text) = "05/2026"
  cvv (hidden) = "123"
  cardholder (text) = "Jürgen Müller"
  pin (hidden) = "1234"
  Bank (text custom) = "Sparkasse"
  Phone Number (text custom) = "+49 30 1234"
  Billing Address (text custom) = "Hauptstr. 1, Berlin"
bank "Giro" source="Banking/Giro" tags=["Banking"]
  account_number (hidden) = "DE0012345"
  pin (hidden) = "9999"
  account_name (text) = "Jürgen"
  Branch (text custom) = "Berlin Mitte"
  routing_number (text) = "10010010"
  Account Type (text custom) = "Checking"
  Phone No. (text custom) = "030-1234"
note "Diary" source="Personal/Diary" tags=["Personal"]
  notes = "Dear diary,\ntoday"
note "Locker" source="Personal/Locker" tags=["Personal"]
  mSecure type (text custom) = "Combination"
  Code (hidden custom) = "12-34-56"
note "Thing" source="Personal/Thing" tags=["Personal"]
  mSecure type (text custom) = "Custom Type"
  Field 1 (text custom) = "value one"
  Field 2 (text custom) = "value two"
skipped 0
`},
	})
}

// The same mSecure 6 records import alike without the first line, with a
// BOM, with ';' between cells, and with LF line ends.
func TestReadMSecureCSVVariants(t *testing.T) {
	data := string(transfertest.File(t, "testdata/msecure/msecure6.csv"))
	body := strings.SplitN(data, "\r\n", 2)[1]
	semi := strings.NewReplacer(`"Password|8|this, is a password"`, `Password|8|this, is a password`,
		`"Zeile 1\nZeile 2, mit Komma"`, `Zeile 1\nZeile 2, mit Komma`, ",", ";").Replace(body)
	for name, in := range map[string]string{
		"no first line": body,
		"bom":           "\uFEFF" + data,
		"semicolons":    "mSecure6 CSV export file\r\n" + semi,
		"lf":            strings.ReplaceAll(data, "\r\n", "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := transfertest.ReadCSV(t, Read, []byte(in), transfer.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := transfertest.Dump(res); got != msecure6Want {
				t.Errorf("got\n%s", got)
			}
		})
	}
}

// Field kinds decide where a value goes when the labels are in another
// language or the record type is unknown.
func TestReadMSecureCSVKinds(t *testing.T) {
	tests := []struct{ row, want string }{
		{"Konto|1,Anmeldung,,,Webseite|2|https://a.example,Benutzername|7|ich,Kennwort|8|geheim,Geheimnis|9|psst,",
			`login "Konto" source="Konto" urls=["https://a.example"]
  mSecure type (text custom) = "Anmeldung"
  username (text) = "ich"
  password (hidden) = "geheim"
  Geheimnis (hidden custom) = "psst"
`},
		{"Karte|1,Kreditkarte,,,Kartennummer|12|4111,Ablauf|11|05/2030,",
			`card "Karte" source="Karte"
  mSecure type (text custom) = "Kreditkarte"
  number (hidden) = "4111"
  Ablauf (text custom) = "05/2030"
`},
		{"Two passwords|1,Login,,,Password|8|one,Password|8|two,|0|no label,plain value,",
			`login "Two passwords" source="Two passwords"
  password (hidden) = "one"
  Password 2 (hidden custom) = "two"
  field (text custom) = "no label"
  Field 4 (text custom) = "plain value"
`},
		{"|1,Login,,,Website|2|https://untitled.example/x,", `login "untitled.example" source="untitled.example" urls=["https://untitled.example/x"]
`},
	}
	for _, tc := range tests {
		res, err := transfertest.ReadCSV(t, Read, []byte("mSecure6 CSV export file\n"+tc.row+"\n"), transfer.ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.row, err)
		}
		transfertest.CheckValid(t, res)
		got := transfertest.Dump(res)
		got = got[:strings.Index(got, "skipped ")]
		if got != tc.want {
			t.Errorf("%s:\n--- got\n%s--- want\n%s", tc.row, got, tc.want)
		}
	}
}

func TestReadMSecureCSVBad(t *testing.T) {
	transfertest.Bad(t, Read, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"too few cells", "mSecure6 CSV export file\nA|1,Login,,,Password|8|x,\nB|2,S3CRET\n", "line 3 has 2 cells"},
		{"truncated", "mSecure6 CSV export file\nA|1,Login,,\"S3CRET note\n", "not closed"},
		{"windows latin-1", "Personal,Login,Caf\xe9,,https://a,u,S3CRET\n", "line 1 is not valid UTF-8"},
		{"binary", "\x00\x01\x02", "NUL"},
	})
}

func FuzzReadMSecureCSV(f *testing.F) {
	transfertest.FuzzCSV(f, Read, []string{
		"mSecure6 CSV export file\nA|1,Login,T,N\\nM,Website|2|https://a,Username|7|u,Password|8|p|q,\n",
		"mSecure CSV export file\nG,Credit Card,C,\"n\vm\",4111,05/2026,123,Name,1,Bank,Phone,Addr,\n",
		"A;Login;;;Password|8|x;\n",
		"A|1,Unknown,,,x|12|y,|2|,\n",
		",,,\n",
	}, []string{"testdata/msecure/msecure6.csv", "testdata/msecure/msecure5.csv"})
}
