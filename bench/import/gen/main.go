// Command gen writes the same N synthetic entries as a KeePass XML file
// (what `keepassxc-cli import` reads) and as a CSV file with keyhold's
// header, for the import benchmark (bench/import/run.sh).
//
//	gen -n 10000 -xml entries.xml -csv entries.csv
//
// Entry i sits in group g{i%10} with title entry-{i:05d}, a user name, a
// URL, a 20-character password from a seeded generator, a TOTP secret on
// every tenth entry and a two-line note: the same data every run.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/xml"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
)

type entry struct {
	group, title, user, url, password, notes, totp string
}

func entries(n int) []entry {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!@#^&*+="
	r := rand.New(rand.NewPCG(2025, 1))
	out := make([]entry, n)
	for i := range out {
		pw := make([]byte, 20)
		for j := range pw {
			pw[j] = alphabet[r.IntN(len(alphabet))]
		}
		e := entry{
			group:    fmt.Sprintf("g%d", i%10),
			title:    fmt.Sprintf("entry-%05d", i),
			user:     fmt.Sprintf("user%05d@example.com", i),
			url:      fmt.Sprintf("https://site-%05d.example.com/login", i),
			password: string(pw),
			notes:    fmt.Sprintf("note for entry %d\nsecond line", i),
		}
		if i%10 == 0 {
			e.totp = "JBSWY3DPEHPK3PXP"
		}
		out[i] = e
	}
	return out
}

func esc(s string) string {
	var b []byte
	w := &byteWriter{&b}
	xml.EscapeText(w, []byte(s))
	return string(b)
}

type byteWriter struct{ b *[]byte }

func (w *byteWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

func writeXML(path string, es []entry) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	uuid := func(i, kind int) string {
		var b [16]byte
		b[0], b[1], b[2], b[3] = byte(kind), byte(i>>16), byte(i>>8), byte(i)
		b[15] = 0x42
		return base64.StdEncoding.EncodeToString(b[:])
	}
	const ts = "2025-01-01T00:00:00Z"
	times := "<Times><LastModificationTime>" + ts + "</LastModificationTime><CreationTime>" + ts +
		"</CreationTime><LastAccessTime>" + ts + "</LastAccessTime><ExpiryTime>" + ts +
		"</ExpiryTime><Expires>False</Expires><UsageCount>0</UsageCount><LocationChanged>" + ts + "</LocationChanged></Times>\n"
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<KeePassFile>\n<Meta><Generator>bench</Generator></Meta>\n<Root>\n<Group><UUID>%s</UUID><Name>Root</Name>%s", uuid(0, 1), times)
	for g := range 10 {
		fmt.Fprintf(w, "<Group><UUID>%s</UUID><Name>g%d</Name>%s", uuid(g, 2), g, times)
		for i, e := range es {
			if i%10 != g {
				continue
			}
			fmt.Fprintf(w, "<Entry><UUID>%s</UUID>%s", uuid(i, 3), times)
			str := func(k, v string, protected bool) {
				attr := ""
				if protected {
					attr = ` ProtectInMemory="True"`
				}
				fmt.Fprintf(w, "<String><Key>%s</Key><Value%s>%s</Value></String>\n", k, attr, esc(v))
			}
			str("Title", e.title, false)
			str("UserName", e.user, false)
			str("Password", e.password, true)
			str("URL", e.url, false)
			str("Notes", e.notes, false)
			if e.totp != "" {
				str("otp", "otpauth://totp/"+e.title+"?secret="+e.totp+"&period=30&digits=6", true)
			}
			// Entry custom data makes keepassxc-cli write KDBX 4 (with
			// the AES key derivation) instead of KDBX 3.1.
			if i == 0 {
				fmt.Fprint(w, "<CustomData><Item><Key>bench</Key><Value>kdbx4</Value></Item></CustomData>\n")
			}
			fmt.Fprint(w, "</Entry>\n")
		}
		fmt.Fprint(w, "</Group>\n")
	}
	fmt.Fprint(w, "</Group>\n</Root>\n</KeePassFile>\n")
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func writeCSV(path string, es []entry) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"title", "username", "password", "url", "notes", "totp", "tags"})
	for _, e := range es {
		w.Write([]string{e.title, e.user, e.password, e.url, e.notes, e.totp, e.group})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return f.Close()
}

func main() {
	n := flag.Int("n", 10000, "number of entries")
	xmlPath := flag.String("xml", "", "write KeePass XML here")
	csvPath := flag.String("csv", "", "write CSV here")
	flag.Parse()
	es := entries(*n)
	if *xmlPath != "" {
		if err := writeXML(*xmlPath, es); err != nil {
			log.Fatal(err)
		}
	}
	if *csvPath != "" {
		if err := writeCSV(*csvPath, es); err != nil {
			log.Fatal(err)
		}
	}
}
