package kdbx

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tobischo/gokeepasslib/v3"
	"github.com/tobischo/gokeepasslib/v3/wrappers"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

var kdbxNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// kdbxCheap is a key derivation that keeps tests fast.
var kdbxCheap = WriteOptions{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// needKeePassXC skips a test when keepassxc-cli is missing, unless CI is
// set: CI installs it (scripts/deps.sh), so there it must run.
func needKeePassXC(t *testing.T) {
	t.Helper()
	testenv.NeedProgram(t, "keepassxc-cli", "keepassxc")
}

// kpx runs keepassxc-cli with stdin (passwords go there, never on the
// command line) and returns its standard output.
func kpx(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kpxRun(t, stdin, args...)
	if err != nil {
		t.Fatalf("keepassxc-cli %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func kpxRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("keepassxc-cli", args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_CACHE_HOME="+home, "QT_QPA_PLATFORM=offscreen")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

func readKDBXFile(t *testing.T, path string, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = kdbxNow
	}
	return Read(transfertest.File(t, path), opts)
}

func kdbxWantField(t *testing.T, it *item.Item, name string, kind item.Kind, value string) {
	t.Helper()
	f, ok := transfertest.Field(it, name)
	if !ok {
		t.Errorf("%q: no field %q (fields %v)", it.Title, name, fieldNames(it))
		return
	}
	if f.Kind != kind || f.Value != value {
		t.Errorf("%q: field %q = (%s, %q), want (%s, %q)", it.Title, name, f.Kind, f.Value, kind, value)
	}
}

func fieldNames(it *item.Item) []string {
	var n []string
	for _, f := range it.Fields {
		n = append(n, f.Name)
	}
	return n
}

func kdbxHasLine(lines []string, parts ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				return false
			}
		}
		return true
	})
}

// A KDBX 3.1 database made entry by entry with keepassxc-cli (which writes
// 3.1 while the database uses the AES key derivation): nested groups,
// non-ASCII titles, an edited entry, attachments, the recycle bin.
func TestReadKDBXKeePassXC31(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db.kdbx")
	pw := "correct horse\n"
	kpx(t, "correct horse\ncorrect horse\n", "db-create", "-q", "-p", "-t", "100", db)
	kpx(t, pw, "mkdir", "-q", db, "Banking")
	kpx(t, pw, "mkdir", "-q", db, "Banking/Café")
	kpx(t, pw+"s3cret Zürich\n", "add", "-q", "-u", "alice", "--url", "https://bank.example/login", "--notes", "first line\nsecond, with comma", "-p", db, "Banking/Café/Café Zürich")
	kpx(t, pw+"パスワード\n", "add", "-q", "-u", "山田", "-p", db, "日本語")
	kpx(t, pw+"old password\n", "add", "-q", "-u", "mail-user", "--url", "https://mail.example", "-p", db, "Mail")
	kpx(t, pw+"new password\n", "edit", "-q", "-u", "mail-user2", "-p", db, "Mail")
	kpx(t, pw, "add", "-q", "--notes", "just a note", db, "Note only")
	kpx(t, pw+"gone\n", "add", "-q", "-u", "bob", "-p", db, "Old account")
	small := filepath.Join(dir, "small.txt")
	os.WriteFile(small, []byte("attachment body ✓\n"), 0o600)
	kpx(t, pw, "attachment-import", "-q", db, "Banking/Café/Café Zürich", "readme.txt", small)
	big := filepath.Join(dir, "big.bin")
	os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 700<<10/16), 0o600)
	kpx(t, pw, "attachment-import", "-q", db, "日本語", "scan.bin", big)

	data, _ := os.ReadFile(db)
	if data[10] != 3 || data[8] != 1 {
		t.Fatalf("keepassxc-cli wrote KDBX %d.%d, want 3.1", data[10], data[8])
	}
	var progress [][2]int
	res, err := readKDBXFile(t, db, transfer.ImportOptions{Password: []byte("correct horse"), Progress: func(d, n int) { progress = append(progress, [2]int{d, n}) }})
	if err != nil {
		t.Fatalf("readKDBX: %v", err)
	}
	if len(res.Items) != 5 {
		t.Fatalf("got %d items, want 5", len(res.Items))
	}
	for _, im := range res.Items {
		if err := im.Item.Validate(); err != nil {
			t.Errorf("%s: %v", im.Source, err)
		}
	}
	cafe := transfertest.ByTitle(t, res, "Café Zürich")
	it := cafe.Item
	if it.Type != item.Login || cafe.Source != "Banking/Café/Café Zürich" {
		t.Errorf("type %s, source %q", it.Type, cafe.Source)
	}
	kdbxWantField(t, it, "username", item.Text, "alice")
	kdbxWantField(t, it, "password", item.Hidden, "s3cret Zürich")
	if !slices.Equal(it.URLs, []string{"https://bank.example/login"}) || it.Notes != "first line\nsecond, with comma" {
		t.Errorf("urls %q notes %q", it.URLs, it.Notes)
	}
	if !slices.Equal(it.Tags, []string{"Banking/Café"}) {
		t.Errorf("tags %q, want [Banking/Café]", it.Tags)
	}
	if len(it.Attachments) != 1 || it.Attachments[0].Name != "readme.txt" || string(it.Attachments[0].Data) != "attachment body ✓\n" {
		t.Errorf("attachments %+v", it.Attachments)
	}
	if it.Created.IsZero() || it.Created.Equal(kdbxNow) || it.Modified.Before(it.Created) {
		t.Errorf("times: created %v modified %v", it.Created, it.Modified)
	}

	jp := transfertest.ByTitle(t, res, "日本語").Item
	kdbxWantField(t, jp, "username", item.Text, "山田")
	kdbxWantField(t, jp, "password", item.Hidden, "パスワード")
	if len(jp.Tags) != 0 || len(jp.Attachments) != 0 {
		t.Errorf("root entry: tags %q, %d attachments", jp.Tags, len(jp.Attachments))
	}
	if !kdbxHasLine(res.Unmapped, `"日本語"`, `"scan.bin"`, "700.0 KiB") {
		t.Errorf("the oversized attachment is not reported: %q", res.Unmapped)
	}

	mail := transfertest.ByTitle(t, res, "Mail")
	kdbxWantField(t, mail.Item, "username", item.Text, "mail-user2")
	kdbxWantField(t, mail.Item, "password", item.Hidden, "new password")
	if len(mail.History) != 1 {
		t.Fatalf("Mail has %d earlier versions, want 1", len(mail.History))
	}
	kdbxWantField(t, mail.History[0], "password", item.Hidden, "old password")
	kdbxWantField(t, mail.History[0], "username", item.Text, "mail-user")

	note := transfertest.ByTitle(t, res, "Note only").Item
	if note.Type != item.Note || note.Notes != "just a note" {
		t.Errorf("note: type %s notes %q", note.Type, note.Notes)
	}
	if old := transfertest.ByTitle(t, res, "Old account").Item; old.Trashed != nil {
		t.Errorf("entry not in the recycle bin is trashed")
	}
	if len(progress) == 0 || progress[len(progress)-1] != [2]int{5, 5} {
		t.Errorf("progress calls %v, want to end with {5 5}", progress)
	}

	// Deleting an entry moves it to the recycle bin, which makes
	// keepassxc-cli write KDBX 4.1 (it records the entry's former group).
	kpx(t, pw, "rm", "-q", db, "Old account")
	data, _ = os.ReadFile(db)
	if data[10] != 4 || data[8] != 1 {
		t.Fatalf("after rm keepassxc-cli wrote KDBX %d.%d, want 4.1", data[10], data[8])
	}
	res, err = readKDBXFile(t, db, transfer.ImportOptions{Password: []byte("correct horse")})
	if err != nil {
		t.Fatalf("readKDBX 4.1: %v", err)
	}
	old := transfertest.ByTitle(t, res, "Old account").Item
	if old.Trashed == nil || len(old.Tags) != 0 {
		t.Errorf("recycled entry: trashed %v tags %q", old.Trashed, old.Tags)
	}
	if len(res.Items) != 5 || len(transfertest.ByTitle(t, res, "Mail").History) != 1 || transfertest.ByTitle(t, res, "Café Zürich").Item.Trashed != nil {
		t.Errorf("KDBX 4.1 reading differs from 3.1")
	}

	// The same file with a wrong or missing password.
	for _, pw := range [][]byte{[]byte("wrong"), nil} {
		res, err := readKDBXFile(t, db, transfer.ImportOptions{Password: pw})
		if !errors.Is(err, transfer.ErrSourcePassword) || res != nil {
			t.Errorf("password %q: got %v, %v; want ErrSourcePassword", pw, res, err)
		}
	}
}

// kdbx4XML is a KeePass XML document that keepassxc-cli imports into a
// KDBX 4 database (the entry custom data makes it choose KDBX 4).
const kdbx4XML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<KeePassFile>
<Meta>
<Generator>test</Generator>
<Binaries><Binary ID="0">` + "aGVsbG8gYXR0YWNobWVudAo=" + `</Binary></Binaries>
</Meta>
<Root>
<Group>
<UUID>4A1KR6h9TiGtbHtdHtHdoA==</UUID>
<Name>My Database</Name>
<Group>
<UUID>/NfknFI4TeaAZQ7EyaD/OA==</UUID>
<Name>Work</Name>
<Notes>group notes</Notes>
<Group>
<UUID>QOadqDn6R/6kvd4KaGgB5Q==</UUID>
<Name>Ünïcode</Name>
<Entry>
<UUID>fgj2l5s3SuaClnzUGF9ouA==</UUID>
<IconID>5</IconID>
<BackgroundColor>#FF0000</BackgroundColor>
<Tags>prod;urgent</Tags>
<Times><LastModificationTime>2024-01-02T03:04:05Z</LastModificationTime><CreationTime>2023-01-02T03:04:05Z</CreationTime><Expires>True</Expires><ExpiryTime>2030-01-01T00:00:00Z</ExpiryTime></Times>
<String><Key>Title</Key><Value>Server «root»</Value></String>
<String><Key>UserName</Key><Value>root</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">pw2</Value></String>
<String><Key>URL</Key><Value>https://one.example</Value></String>
<String><Key>Notes</Key><Value>line 1
line 2</Value></String>
<String><Key>PIN</Key><Value ProtectInMemory="True">1234</Value></String>
<String><Key>Plain field</Key><Value>visible</Value></String>
<String><Key>username</Key><Value>a clash</Value></String>
<String><Key>otp</Key><Value>otpauth://totp/Server?secret=JBSWY3DPEHPK3PXP&amp;period=30&amp;digits=8&amp;algorithm=SHA256</Value></String>
<String><Key>KP2A_URL_1</Key><Value>https://two.example</Value></String>
<String><Key>KP2A_URL_2</Key><Value>https://three.example</Value></String>
<Binary><Key>hello.txt</Key><Value Ref="0"/></Binary>
<CustomData><Item><Key>KPXC_BROWSER_x</Key><Value>y</Value></Item></CustomData>
<AutoType><Enabled>True</Enabled><DefaultSequence>{USERNAME}{TAB}{PASSWORD}{ENTER}</DefaultSequence></AutoType>
<History>
<Entry>
<UUID>fgj2l5s3SuaClnzUGF9ouA==</UUID>
<Times><LastModificationTime>2023-03-02T03:04:05Z</LastModificationTime><CreationTime>2023-01-02T03:04:05Z</CreationTime></Times>
<String><Key>Title</Key><Value>Server v1</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">first</Value></String>
</Entry>
<Entry>
<UUID>fgj2l5s3SuaClnzUGF9ouA==</UUID>
<Times><LastModificationTime>2023-06-02T03:04:05Z</LastModificationTime><CreationTime>2023-01-02T03:04:05Z</CreationTime></Times>
<String><Key>Title</Key><Value>Server v2</Value></String>
<String><Key>Password</Key><Value ProtectInMemory="True">second</Value></String>
</Entry>
</History>
</Entry>
</Group>
</Group>
<Entry>
<UUID>AAECAwQFBgcICQoLDA0ODw==</UUID>
<Times><LastModificationTime>2024-01-02T03:04:05Z</LastModificationTime><CreationTime>2023-01-02T03:04:05Z</CreationTime></Times>
<String><Key>Title</Key><Value>Legacy TOTP</Value></String>
<String><Key>UserName</Key><Value>legacy</Value></String>
<String><Key>TOTP Seed</Key><Value ProtectInMemory="True">jbsw y3dp ehpk 3pxp</Value></String>
<String><Key>TOTP Settings</Key><Value>60;7</Value></String>
</Entry>
<Entry>
<UUID>EBESExQVFhcYGRobHB0eHw==</UUID>
<String><Key>Title</Key><Value>Steam</Value></String>
<String><Key>TOTP Seed</Key><Value ProtectInMemory="True">JBSWY3DPEHPK3PXP</Value></String>
<String><Key>TOTP Settings</Key><Value>30;S</Value></String>
</Entry>
<Entry>
<UUID>MDEyMzQ1Njc4OTo7PD0+Pw==</UUID>
<String><Key>Title</Key><Value>KeeOtp</Value></String>
<String><Key>otp</Key><Value ProtectInMemory="True">key=JBSWY3DPEHPK3PXP&amp;size=8&amp;step=45&amp;otpHashMode=Sha512</Value></String>
</Entry>
<Entry>
<UUID>ICEiIyQlJicoKSorLC0uLw==</UUID>
<String><Key>Title</Key><Value></Value></String>
</Entry>
</Group>
</Root>
</KeePassFile>
`

// A KDBX 4 database made by keepassxc-cli from an XML file: protected
// custom fields, TOTP in each form KeePassXC has written, more URLs, tags,
// history, an expiry, and what Keyhold does not keep.
func TestReadKDBXKeePassXC4(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	xmlPath := filepath.Join(dir, "in.xml")
	os.WriteFile(xmlPath, []byte(kdbx4XML), 0o600)
	db := filepath.Join(dir, "db.kdbx")
	kpx(t, "pw 4\npw 4\n", "import", "-q", "-p", "-t", "100", xmlPath, db)
	data, _ := os.ReadFile(db)
	if data[10] != 4 {
		t.Fatalf("keepassxc-cli wrote KDBX %d.%d, want 4", data[10], data[8])
	}
	res, err := Read(data, transfer.ImportOptions{Password: []byte("pw 4"), Now: kdbxNow})
	if err != nil {
		t.Fatalf("readKDBX: %v", err)
	}
	if len(res.Items) != 4 || res.Skipped != 1 {
		t.Fatalf("got %d items, %d skipped; want 4 and 1", len(res.Items), res.Skipped)
	}
	srv := transfertest.ByTitle(t, res, "Server «root»")
	it := srv.Item
	if srv.Source != "Work/Ünïcode/Server «root»" {
		t.Errorf("source %q", srv.Source)
	}
	kdbxWantField(t, it, "username", item.Text, "root")
	kdbxWantField(t, it, "password", item.Hidden, "pw2")
	kdbxWantField(t, it, "PIN", item.Hidden, "1234")
	kdbxWantField(t, it, "Plain field", item.Text, "visible")
	kdbxWantField(t, it, "username (2)", item.Text, "a clash")
	kdbxWantField(t, it, "totp", item.TOTP, "otpauth://totp/Server?secret=JBSWY3DPEHPK3PXP&period=30&digits=8&algorithm=SHA256")
	kdbxWantField(t, it, "Expires", item.Text, "2030-01-01T00:00:00Z")
	if !slices.Equal(it.URLs, []string{"https://one.example", "https://two.example", "https://three.example"}) {
		t.Errorf("urls %q", it.URLs)
	}
	if !slices.Equal(it.Tags, []string{"Work/Ünïcode", "prod", "urgent"}) {
		t.Errorf("tags %q", it.Tags)
	}
	if it.Notes != "line 1\nline 2" {
		t.Errorf("notes %q", it.Notes)
	}
	if !it.Created.Equal(time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)) || !it.Modified.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("created %v modified %v", it.Created, it.Modified)
	}
	if len(it.Attachments) != 1 || it.Attachments[0].Name != "hello.txt" || string(it.Attachments[0].Data) != "hello attachment\n" {
		t.Errorf("attachments %+v", it.Attachments)
	}
	if len(srv.History) != 2 || srv.History[0].Title != "Server v1" || srv.History[1].Title != "Server v2" {
		t.Fatalf("history %v", srv.History)
	}
	kdbxWantField(t, srv.History[0], "password", item.Hidden, "first")
	kdbxWantField(t, srv.History[1], "password", item.Hidden, "second")

	legacy := transfertest.ByTitle(t, res, "Legacy TOTP").Item
	kdbxWantField(t, legacy, "totp", item.TOTP, "otpauth://totp/Legacy%20TOTP?digits=7&period=60&secret=JBSWY3DPEHPK3PXP")
	if len(legacy.Fields) != 2 {
		t.Errorf("legacy TOTP fields %v, want username and totp only", fieldNames(legacy))
	}
	keeotp := transfertest.ByTitle(t, res, "KeeOtp").Item
	kdbxWantField(t, keeotp, "totp", item.TOTP, "otpauth://totp/KeeOtp?algorithm=SHA512&digits=8&period=45&secret=JBSWY3DPEHPK3PXP")
	steam := transfertest.ByTitle(t, res, "Steam").Item
	kdbxWantField(t, steam, "totp", item.TOTP, "otpauth://totp/Steam?digits=5&encoder=steam&period=30&secret=JBSWY3DPEHPK3PXP")

	for _, want := range [][]string{
		{`group "Work"`, "notes"},
		{`"Work/Ünïcode/Server «root»"`, "auto-type sequence"},
		{"1 entry has a custom icon"},
		{"1 entry has a colour"},
		{"1 entry has plugin data"},
	} {
		if !kdbxHasLine(res.Unmapped, want...) {
			t.Errorf("no unmapped line with %q in %q", want, res.Unmapped)
		}
	}
	for _, l := range res.Unmapped {
		for _, secret := range []string{"pw2", "1234", "JBSWY3DP", "first"} {
			if strings.Contains(l, secret) {
				t.Errorf("unmapped line %q quotes a value", l)
			}
		}
	}
}

// writeKeyFile writes each key file format KeePass knows.
func writeKeyFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	key := sha256.Sum256([]byte("key material"))
	hexKey := strings.ToUpper(hex.EncodeToString(key[:]))
	hash := sha256.Sum256(key[:])
	files := map[string]string{
		"binary32": string(key[:]),
		"hex64":    hex.EncodeToString(key[:]),
		"xml-v1": `<?xml version="1.0" encoding="utf-8"?>
<KeyFile><Meta><Version>1.00</Version></Meta><Key><Data>` + base64.StdEncoding.EncodeToString(key[:]) + `</Data></Key></KeyFile>`,
		"xml-v2": `<?xml version="1.0" encoding="utf-8"?>
<KeyFile>
	<Meta><Version>2.0</Version></Meta>
	<Key>
		<Data Hash="` + strings.ToUpper(hex.EncodeToString(hash[:4])) + `">
			` + hexKey[:32] + `
			` + hexKey[32:] + `
		</Data>
	</Key>
</KeyFile>`,
		"any-file": "a photo, a PDF, anything: KeePass hashes the whole file\n",
	}
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, name+".key")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

// Key files of every format KeePass knows, alone and with a password,
// on databases made by keepassxc-cli.
func TestReadKDBXKeyFiles(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	paths := writeKeyFiles(t, dir)
	// keepassxc-cli makes a new key file (random bytes, hashed like any
	// other file) when asked for one that does not exist yet.
	paths["keepassxc-generated"] = filepath.Join(dir, "generated.key")
	type tc struct {
		keyFile  string
		password string
	}
	var cases []tc
	for _, name := range slices.Sorted(maps.Keys(paths)) {
		cases = append(cases, tc{name, ""})
	}
	cases = append(cases, tc{"xml-v2", "kf pw"})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/password=%v", c.keyFile, c.password != ""), func(t *testing.T) {
			kf := paths[c.keyFile]
			db := filepath.Join(t.TempDir(), "db.kdbx")
			create := []string{"db-create", "-q", "-t", "100", "--set-key-file", kf}
			open := []string{"--no-password", "-k", kf}
			stdin := ""
			if c.password != "" {
				create = append(create, "-p")
				open = []string{"-k", kf}
				stdin = c.password + "\n"
			}
			kpx(t, strings.Repeat(stdin, 2), append(create, db)...)
			kpx(t, stdin, append(append([]string{"add", "-q", "-u", "k-user"}, open...), db, "Keyed")...)
			keyData := transfertest.File(t, kf)
			opts := transfer.ImportOptions{KeyFile: keyData}
			if c.password != "" {
				opts.Password = []byte(c.password)
			}
			res, err := readKDBXFile(t, db, opts)
			if err != nil {
				t.Fatalf("readKDBX: %v", err)
			}
			kdbxWantField(t, transfertest.ByTitle(t, res, "Keyed").Item, "username", item.Text, "k-user")
			if c.password == "" {
				return
			}
			// A missing or wrong key file, or a missing password.
			for i, o := range []transfer.ImportOptions{{Password: opts.Password}, {Password: opts.Password, KeyFile: []byte("other key file")}, {KeyFile: keyData}} {
				if res, err := readKDBXFile(t, db, o); !errors.Is(err, transfer.ErrSourcePassword) || res != nil {
					t.Errorf("bad credentials %d: got %v; want ErrSourcePassword", i, err)
				}
			}
		})
	}
}

// kdbxExportItems is a vault's worth of items covering every mapping.
func kdbxExportItems() []transfer.ExportItem {
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	login := item.New(item.Login, "Café Zürich", t0)
	login.Set("username", "alice", item.Text)
	login.Set("password", "pa55 wörd", item.Hidden)
	login.Set("totp", "otpauth://totp/Caf%C3%A9?secret=JBSWY3DPEHPK3PXP&period=30&digits=6", item.TOTP)
	login.Set("PIN", "0000", item.Hidden)
	login.Set("Recovery email", "a@example.com", item.Text)
	login.URLs = []string{"https://cafe.example", "https://m.cafe.example", "https://cafe.example/app"}
	login.Notes = "line 1\nline 2, with comma\n日本語"
	login.Tags = []string{"Banking/Café", "favourites"}
	login.Favorite = true
	login.Match = item.MatchHost
	login.Attachments = []item.Attachment{{Name: "scan.pdf", Data: bytes.Repeat([]byte{0, 1, 2, 255}, 1000)}, {Name: "notes.txt", Data: []byte("hi\n")}}
	v1 := login.Clone()
	v1.Set("password", "old one", item.Hidden)
	v1.Modified = t0.Add(-48 * time.Hour)
	v2 := login.Clone()
	v2.Set("password", "middle one", item.Hidden)
	v2.Modified = t0.Add(-24 * time.Hour)

	note := item.New(item.Note, "日本語のメモ", t0)
	note.Notes = "秘密"
	card := item.New(item.Card, "Visa", t0)
	card.Set("cardholder", "Alice A", item.Text)
	card.Set("number", "4111111111111111", item.Hidden)
	card.Set("cvv", "123", item.Hidden)
	card.Set("expiry", "12/30", item.Text)
	card.Tags = []string{"Finance"}
	trashed := item.New(item.Login, "Old", t0)
	trashed.Set("username", "old-user", item.Text)
	tt := t0.Add(time.Hour)
	trashed.Trashed = &tt
	trashed.Tags = []string{"Archive/2020"}
	clash := item.New(item.Login, "Clash", t0)
	clash.Set("Title", "a custom field named Title", item.Text)
	clash.Set("plain base32", "x", item.Text)
	clash.Set("totp", "JBSWY3DPEHPK3PXP", item.TOTP)

	return []transfer.ExportItem{
		{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e0f", Revision: 3, Current: login,
			History: []transfer.ExportRevision{{Revision: 1, Item: v1}, {Revision: 2, Item: v2}}},
		{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e10", Revision: 1, Current: note},
		{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e11", Revision: 1, Current: card},
		{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e12", Revision: 1, Current: trashed},
		{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e13", Revision: 1, Current: clash},
	}
}

func writeKDBXBytes(t testing.TB, items []transfer.ExportItem, password string, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, items, []byte(password), opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// An export read back gives the same items.
func TestKDBXRoundTrip(t *testing.T) {
	items := kdbxExportItems()
	data := writeKDBXBytes(t, items, "export pw", kdbxCheap)
	res, err := Read(data, transfer.ImportOptions{Password: []byte("export pw"), Now: kdbxNow})
	if err != nil {
		t.Fatalf("readKDBX: %v", err)
	}
	if len(res.Items) != len(items) {
		t.Fatalf("got %d items, want %d", len(res.Items), len(items))
	}
	byTitle := map[string]transfer.Imported{}
	for _, im := range res.Items {
		byTitle[im.Item.Title] = im
	}
	for _, ei := range items {
		want := ei.Current
		im, ok := byTitle[want.Title]
		if !ok {
			t.Errorf("%q missing", want.Title)
			continue
		}
		got := im.Item
		if want.Title == "Clash" {
			// Renamed and normalised on the way: checked below.
			continue
		}
		wj, _ := want.Marshal()
		gj, _ := got.Marshal()
		if !bytes.Equal(wj, gj) {
			t.Errorf("%q changed:\n got %s\nwant %s", want.Title, gj, wj)
		}
		if len(im.History) != len(ei.History) {
			t.Errorf("%q: %d earlier versions, want %d", want.Title, len(im.History), len(ei.History))
		}
		for i := range min(len(im.History), len(ei.History)) {
			wj, _ := ei.History[i].Item.Marshal()
			gj, _ := im.History[i].Marshal()
			if !bytes.Equal(wj, gj) {
				t.Errorf("%q version %d changed:\n got %s\nwant %s", want.Title, i, gj, wj)
			}
		}
	}
	clash := byTitle["Clash"].Item
	kdbxWantField(t, clash, "Title (2)", item.Text, "a custom field named Title")
	kdbxWantField(t, clash, "totp", item.TOTP, "otpauth://totp/Clash?digits=6&period=30&secret=JBSWY3DPEHPK3PXP")
	if len(res.Unmapped) != 0 {
		t.Errorf("unmapped: %q", res.Unmapped)
	}
}

// keepassxc-cli opens an export and sees what Keyhold wrote.
func TestKDBXExportOpensInKeePassXC(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "export.kdbx")
	os.WriteFile(db, writeKDBXBytes(t, kdbxExportItems(), "export pw", kdbxCheap), 0o600)
	pw := "export pw\n"

	ls := kpx(t, pw, "ls", "-q", "-R", "-f", db)
	for _, want := range []string{"Banking/Café/Café Zürich", "日本語のメモ", "Finance/Visa", "Recycle Bin/Old", "Clash"} {
		if !strings.Contains(ls, want+"\n") {
			t.Errorf("ls -R lacks %q:\n%s", want, ls)
		}
	}
	show := kpx(t, pw, "show", "-q", "-s", "--all", db, "Banking/Café/Café Zürich")
	for _, want := range []string{"UserName: alice\n", "Password: pa55 wörd\n", "URL: https://cafe.example\n",
		"KP2A_URL_1: https://m.cafe.example\n", "PIN: 0000\n", "Recovery email: a@example.com\n", "Notes: line 1\nline 2, with comma\n日本語\n"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	code := strings.TrimSpace(kpx(t, pw, "show", "-q", "--totp", db, "Banking/Café/Café Zürich"))
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Errorf("show --totp printed %q, want a 6-digit code", code)
	}
	out := filepath.Join(dir, "scan.pdf")
	kpx(t, pw, "attachment-export", "-q", db, "Banking/Café/Café Zürich", "scan.pdf", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, bytes.Repeat([]byte{0, 1, 2, 255}, 1000)) {
		t.Errorf("attachment-export gave %d bytes, not the attachment", len(got))
	}
	card := kpx(t, pw, "show", "-q", "-s", "-a", "number", db, "Finance/Visa")
	if card != "4111111111111111\n" {
		t.Errorf("card number %q", card)
	}
	if _, err := kpxRun(t, "wrong\n", "ls", "-q", db); err == nil {
		t.Errorf("keepassxc-cli opened the export with a wrong password")
	}
}

// The default export setting is strong Argon2id, as keepassxc-cli reports.
func TestKDBXExportDefaultKDF(t *testing.T) {
	needKeePassXC(t)
	db := filepath.Join(t.TempDir(), "export.kdbx")
	os.WriteFile(db, writeKDBXBytes(t, kdbxExportItems()[:1], "export pw", WriteOptions{}), 0o600)
	info := kpx(t, "export pw\n", "db-info", "-q", db)
	want := fmt.Sprintf("KDF: Argon2id (%d rounds, %d KB)", DefaultIterations, DefaultMemoryKiB)
	if !strings.Contains(info, want) || !strings.Contains(info, "Cipher: ChaCha20") {
		t.Errorf("db-info:\n%s\nwant %q and ChaCha20", info, want)
	}
}

func TestWriteKDBXRefuses(t *testing.T) {
	items := kdbxExportItems()
	bad := item.New(item.Login, "", kdbxNow)
	for name, tc := range map[string]struct {
		items []transfer.ExportItem
		pw    string
		opts  WriteOptions
	}{
		"no password":   {items, "", kdbxCheap},
		"invalid item":  {[]transfer.ExportItem{{ID: "x", Revision: 1, Current: bad}}, "pw", kdbxCheap},
		"nil item":      {[]transfer.ExportItem{{ID: "x", Revision: 1}}, "pw", kdbxCheap},
		"absurd memory": {items, "pw", WriteOptions{MemoryKiB: 1 << 40, Iterations: 1, Parallelism: 1}},
		"absurd lanes":  {items, "pw", WriteOptions{MemoryKiB: 1 << 20, Iterations: 1, Parallelism: 1000}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, tc.items, []byte(tc.pw), tc.opts); !errors.Is(err, ErrWrite) || buf.Len() != 0 {
			t.Errorf("%s: err %v, %d bytes written; want ErrWrite and nothing", name, err, buf.Len())
		}
	}
}

// Damaged, truncated and foreign files are refused with ErrSourceFormat
// (or, where the damage cannot be told from a wrong key, ErrSourcePassword),
// never with a partial result.
func TestReadKDBXMalformed(t *testing.T) {
	good := writeKDBXBytes(t, kdbxExportItems(), "zq9", kdbxCheap)
	_, off, err := parseKDBXHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) (*transfer.ImportResult, error) {
		return Read(b, transfer.ImportOptions{Password: []byte("zq9"), Now: kdbxNow})
	}
	cases := map[string][]byte{
		"empty":      nil,
		"csv":        []byte("title,username,password\nA,b,c\n"),
		"kdb1":       append([]byte{0x03, 0xd9, 0xa2, 0x9a, 0x65, 0xfb, 0x4b, 0xb5}, make([]byte, 200)...),
		"version 5":  append(append([]byte{}, good[:8]...), 0, 0, 5, 0),
		"signature":  good[:8],
		"random":     bytes.Repeat([]byte{0x5a}, 1000),
		"no blocks":  good[:off+64],
		"no end":     good[:len(good)-36],
		"last block": good[:len(good)-40],
	}
	for _, n := range []int{1, 11, 12, 20, off - 1, off, off + 10, off + 63, off + 100, len(good) / 2, len(good) - 1} {
		cases[fmt.Sprintf("truncated at %d", n)] = good[:n]
	}
	for name, b := range cases {
		res, err := open(b)
		if !errors.Is(err, transfer.ErrSourceFormat) || res != nil {
			t.Errorf("%s: got %v; want ErrSourceFormat", name, err)
		}
	}
	// A flipped byte anywhere: the header's checksum, the header MAC
	// (which a wrong key also fails) or a block MAC catches it.
	for i := 0; i < len(good); i += 7 {
		b := bytes.Clone(good)
		b[i] ^= 0x20
		res, err := open(b)
		if res != nil || err == nil {
			t.Fatalf("flipped byte %d: the file still opened", i)
		}
		inHeaderMAC := i >= off+32 && i < off+64
		if !errors.Is(err, transfer.ErrSourceFormat) && !(inHeaderMAC && errors.Is(err, transfer.ErrSourcePassword)) {
			t.Errorf("flipped byte %d: %v", i, err)
		}
		if strings.Contains(err.Error(), "zq9") {
			t.Errorf("error quotes the password: %v", err)
		}
	}
}

// A setting no real database has is refused before any work is done.
func TestReadKDBXAbsurdKDF(t *testing.T) {
	mk := func(items ...kdbxVariant) []byte {
		var b bytes.Buffer
		b.Write([]byte{0x03, 0xd9, 0xa2, 0x9a, 0x67, 0xfb, 0x4b, 0xb5, 0, 0, 4, 0})
		field := func(id byte, v []byte) {
			b.WriteByte(id)
			b.Write([]byte{byte(len(v)), byte(len(v) >> 8), 0, 0})
			b.Write(v)
		}
		field(kdbxHdrCipherID, []byte{0xD6, 0x03, 0x8A, 0x2B, 0x8B, 0x6F, 0x4C, 0xB5, 0xA5, 0x24, 0x33, 0x9A, 0x31, 0xDB, 0xB5, 0x9A})
		field(kdbxHdrMasterSeed, make([]byte, 32))
		field(kdbxHdrEncryptionIV, make([]byte, 12))
		field(kdbxHdrKDFParameters, kdbxVariantDict(items...))
		field(kdbxHdrEnd, nil)
		b.Write(make([]byte, 200))
		return b.Bytes()
	}
	u64 := func(n uint64) []byte {
		return []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), byte(n >> 32), byte(n >> 40), byte(n >> 48), byte(n >> 56)}
	}
	u32 := func(n uint32) []byte { return u64(uint64(n))[:4] }
	salt := make([]byte, 32)
	argon := func(mem, it uint64, p uint32) []byte {
		return mk(kdbxVariant{0x42, "$UUID", kdbxArgon2id}, kdbxVariant{0x42, "S", salt}, kdbxVariant{0x04, "P", u32(p)},
			kdbxVariant{0x05, "M", u64(mem)}, kdbxVariant{0x05, "I", u64(it)}, kdbxVariant{0x04, "V", u32(0x13)})
	}
	aesKDF := []byte{0x7C, 0x02, 0xBB, 0x82, 0x79, 0xA7, 0x4A, 0xC0, 0x92, 0x7D, 0x11, 0x4A, 0x00, 0x64, 0x82, 0x38}
	for name, b := range map[string][]byte{
		"1 TiB of memory":   argon(1<<40, 1, 2),
		"a billion passes":  argon(64<<20, 1_000_000_000, 2),
		"no lanes":          argon(64<<20, 2, 0),
		"1000 lanes":        argon(64<<20, 2, 1000),
		"2^50 AES rounds":   mk(kdbxVariant{0x42, "$UUID", aesKDF}, kdbxVariant{0x42, "S", salt}, kdbxVariant{0x05, "R", u64(1 << 50)}),
		"unknown KDF":       mk(kdbxVariant{0x42, "$UUID", make([]byte, 16)}),
		"short salt":        mk(kdbxVariant{0x42, "$UUID", aesKDF}, kdbxVariant{0x42, "S", salt[:3]}, kdbxVariant{0x05, "R", u64(10)}),
		"argon2 version 10": mk(kdbxVariant{0x42, "$UUID", kdbxArgon2id}, kdbxVariant{0x42, "S", salt}, kdbxVariant{0x04, "P", u32(1)}, kdbxVariant{0x05, "M", u64(1 << 20)}, kdbxVariant{0x05, "I", u64(1)}, kdbxVariant{0x04, "V", u32(0x10)}),
	} {
		start := time.Now()
		res, err := Read(b, transfer.ImportOptions{Password: []byte("pw")})
		if !errors.Is(err, transfer.ErrSourceFormat) || res != nil {
			t.Errorf("%s: got %v; want ErrSourceFormat", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v to refuse", name, d)
		}
	}
}

// An item's limits hold on import: what does not fit is reported, never
// dropped in silence.
func TestReadKDBXLimits(t *testing.T) {
	big := item.New(item.Login, "Big", kdbxNow)
	big.Set("username", "u", item.Text)
	for i := range 15 {
		big.Attachments = append(big.Attachments, item.Attachment{Name: fmt.Sprintf("part%02d.bin", i), Data: bytes.Repeat([]byte{byte(i)}, 40<<10)})
	}
	data := writeKDBXBytes(t, []transfer.ExportItem{{ID: "0190a0e4-1c2b-7d3e-8f40-5a6b7c8d9e0f", Revision: 1, Current: big}}, "pw", kdbxCheap)
	// Add to the entry, in the document, more than an item holds.
	f, err := openKDBX(data, kdbxPassword("pw"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseKDBXDocument(f)
	if err != nil {
		t.Fatal(err)
	}
	e := &doc.Root.Group.Entries[0]
	for name, size := range map[string]int{"part15.bin": 40 << 10, "huge.bin": 200 << 10} {
		f.binaries = append(f.binaries, bytes.Repeat([]byte{9}, size))
		e.Binaries = append(e.Binaries, kxString{Key: name, Value: &kxValue{Ref: fmt.Sprint(len(f.binaries) - 1)}})
	}
	e.Strings = append(e.Strings, kxString{Key: "Long", Value: &kxValue{Text: strings.Repeat("x", item.MaxFieldValue+1)}})
	r := &kdbxReader{f: f, doc: doc, now: kdbxNow, metaBinaries: map[string]*kxValue{}, attachCap: transfer.MaxImportAttachmentBytes}
	r.group(doc.Root.Group, nil, false, true)
	res := r.result()
	it := res.Items[0].Item
	if err := it.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(it.Attachments) != 15 || it.AttachmentBytes() > item.MaxAttachmentBytes {
		t.Errorf("%d attachments, %d bytes; want the first 15 (600 KiB)", len(it.Attachments), it.AttachmentBytes())
	}
	for _, want := range []string{`"part15.bin" (40.0 KiB)`, `"huge.bin" (200.0 KiB)`, `field "Long" (64.0 KiB)`} {
		if !kdbxHasLine(res.Unmapped, `entry "Big"`, want) {
			t.Errorf("no unmapped line for %s in %q", want, res.Unmapped)
		}
	}
	if !strings.Contains(it.Notes, "Long:\nxxx") {
		t.Errorf("the oversized field did not go to the notes")
	}
}

func BenchmarkWriteKDBXDefault(b *testing.B) {
	items := kdbxExportItems()[:1]
	for b.Loop() {
		var buf bytes.Buffer
		if err := Write(&buf, items, []byte("pw"), WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// kdbx31Bytes writes a KDBX 3.1 database with gokeepasslib, an
// independent writer: Salsa20-masked protected values and a compressed
// attachment in the Meta section, as KeePass 2.x writes them.
func kdbx31Bytes(t testing.TB, rounds uint64) []byte {
	t.Helper()
	db := gokeepasslib.NewDatabase(gokeepasslib.WithDatabaseKDBXVersion3())
	db.Credentials = gokeepasslib.NewPasswordCredentials("pw")
	db.Header.FileHeaders.TransformRounds = rounds
	val := func(k, v string, protected bool) gokeepasslib.ValueData {
		return gokeepasslib.ValueData{Key: k, Value: gokeepasslib.V{Content: v, Protected: wrappers.NewBoolWrapper(protected)}}
	}
	root := gokeepasslib.NewGroup()
	root.Name = "Root"
	sub := gokeepasslib.NewGroup()
	sub.Name = "Sub grüppe"
	e := gokeepasslib.NewEntry()
	e.Values = []gokeepasslib.ValueData{val("Title", "Gökeepasslib", false), val("UserName", "gk", false),
		val("Password", "gk pässword", true), val("Secret", "masked too", true), val("Plain", "open", false)}
	bin := db.AddBinary([]byte("a KDBX 3.1 attachment\n"))
	e.Binaries = append(e.Binaries, bin.CreateReference("gk.txt"))
	e2 := gokeepasslib.NewEntry()
	e2.Values = []gokeepasslib.ValueData{val("Title", "Second", false), val("Password", "second secret", true)}
	sub.Entries = append(sub.Entries, e)
	root.Entries = append(root.Entries, e2)
	root.Groups = append(root.Groups, sub)
	db.Content.Root = &gokeepasslib.RootData{Groups: []gokeepasslib.Group{root}}
	if err := db.LockProtectedEntries(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gokeepasslib.NewEncoder(&buf).Encode(db); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadKDBX31Gokeepasslib(t *testing.T) {
	res, err := Read(kdbx31Bytes(t, 100), transfer.ImportOptions{Password: []byte("pw"), Now: kdbxNow})
	if err != nil {
		t.Fatalf("readKDBX: %v", err)
	}
	gk := transfertest.ByTitle(t, res, "Gökeepasslib")
	kdbxWantField(t, gk.Item, "password", item.Hidden, "gk pässword")
	kdbxWantField(t, gk.Item, "Secret", item.Hidden, "masked too")
	kdbxWantField(t, gk.Item, "Plain", item.Text, "open")
	if gk.Source != "Sub grüppe/Gökeepasslib" || !slices.Equal(gk.Item.Tags, []string{"Sub grüppe"}) {
		t.Errorf("source %q tags %q", gk.Source, gk.Item.Tags)
	}
	if len(gk.Item.Attachments) != 1 || string(gk.Item.Attachments[0].Data) != "a KDBX 3.1 attachment\n" {
		t.Errorf("attachments %+v (unmapped %q)", gk.Item.Attachments, res.Unmapped)
	}
	kdbxWantField(t, transfertest.ByTitle(t, res, "Second").Item, "password", item.Hidden, "second secret")
}

// FuzzReadKDBX checks that no input makes Read panic or hang, that it
// fails only with ErrSourceFormat or ErrSourcePassword, and that what it
// accepts is valid. The seeds use the password "pw" and cheap settings.
func FuzzReadKDBX(f *testing.F) {
	// Keep the fuzzer from spending its time in the key derivation.
	mem, cost, rounds := maxKDBXArgon2Memory, maxKDBXArgon2Cost, maxKDBXAESRounds
	maxKDBXArgon2Memory, maxKDBXArgon2Cost, maxKDBXAESRounds = 1<<20, 1<<12, 10_000
	f.Cleanup(func() { maxKDBXArgon2Memory, maxKDBXArgon2Cost, maxKDBXAESRounds = mem, cost, rounds })

	k4 := writeKDBXBytes(f, kdbxExportItems()[:2], "pw", kdbxCheap)
	k3 := kdbx31Bytes(f, 1)
	for _, b := range [][]byte{k4, k3, k4[:len(k4)/2], k3[:len(k3)/2], k4[:200], nil, []byte("title,password\n")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Read(data, transfer.ImportOptions{Password: []byte("pw"), Now: kdbxNow})
		transfertest.Outcome(t, res, err)
	})
}

// FuzzReadKDBXXML feeds the decrypted document directly, past the MACs the
// outer fuzzer rarely gets through: what a database that authenticates
// but was written by a faulty or hostile program may hold. Protected
// values are unmasked with a fixed ChaCha20 stream.
func FuzzReadKDBXXML(f *testing.F) {
	k4 := writeKDBXBytes(f, kdbxExportItems(), "pw", kdbxCheap)
	kf, err := openKDBX(k4, kdbxPassword("pw"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{kf.xml, []byte(kdbx4XML), []byte(kdbxRefXML), []byte("<KeePassFile><Root><Group><Entry><String><Key>Title</Key><Value Protected='True'>AAAA</Value></String></Entry></Group></Root></KeePassFile>")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		stream, err := newKDBXStream(kdbxStreamChaCha, make([]byte, 64))
		if err != nil {
			t.Fatal(err)
		}
		kf := &kdbxFile{major: 4, xml: doc, stream: stream, binaries: [][]byte{[]byte("bin")}}
		res, err := readKDBXOpened(kf, transfer.ImportOptions{Now: kdbxNow})
		// No password is asked for here, so none can be wrong.
		if err != nil && !errors.Is(err, transfer.ErrSourceFormat) {
			t.Fatalf("error %v is not ErrSourceFormat", err)
		}
		transfertest.Outcome(t, res, err)
	})
}

// One attachment shared by many entries is decoded once, and what an
// import brings in attachments is bounded in all: past the bound each
// attachment is reported, never silently dropped.
func TestKDBXAttachmentsBoundedInAll(t *testing.T) {
	data := bytes.Repeat([]byte("scan "), 20<<10) // 100 KiB
	var items []transfer.ExportItem
	for i := range 5 {
		it := item.New(item.Note, fmt.Sprintf("Entry %d", i), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		it.Attachments = []item.Attachment{{Name: "scan.txt", Data: data}}
		items = append(items, transfer.ExportItem{ID: fmt.Sprintf("01935c1e-7a00-7000-8000-00000000000%d", i), Revision: 1, Current: it})
	}
	file := writeKDBXBytes(t, items, "pw", kdbxCheap)
	res, err := Read(file, transfer.ImportOptions{Password: []byte("pw"), Now: time.Now(), MaxAttachments: 250 << 10})
	if err != nil {
		t.Fatal(err)
	}
	with := 0
	for _, im := range res.Items {
		if len(im.Item.Attachments) == 1 {
			with++
			if !bytes.Equal(im.Item.Attachments[0].Data, data) {
				t.Fatal("an attachment came back changed")
			}
		}
	}
	reported := 0
	for _, u := range res.Unmapped {
		if strings.Contains(u, "attachments exceed") {
			reported++
		}
	}
	if len(res.Items) != 5 || with != 2 || reported != 3 {
		t.Fatalf("%d items, %d with the attachment, %d reported; want 5, 2, 3 (unmapped: %q)", len(res.Items), with, reported, res.Unmapped)
	}
}
