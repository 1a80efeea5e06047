package transfer

import (
	"bytes"
	"reflect"
	"testing"

	"filippo.io/age"
)

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
