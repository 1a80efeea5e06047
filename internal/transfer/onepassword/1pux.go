// Package onepassword reads 1Password's exports: the .1pux archive of
// 1Password 8 and its CSV export (1Password 8's, and 1Password 7's from
// the Mac and the Windows app).
package onepassword

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// Bounds on a 1PUX archive. A 1PUX file is a ZIP that we read whole into
// memory, so the archive is checked before anything is inflated: at most
// opMaxEntries files, at most opMaxTotal bytes once inflated by its own
// account, and export.data at most opMaxData bytes. Every read is also
// capped by what it may really yield, so a directory that lies about
// sizes gains nothing.
var (
	opMaxEntries        = 100_000
	opMaxTotal   uint64 = 4 << 30
	opMaxData    int64  = 256 << 20
)

// 1Password item categories (categoryUuid).
const (
	opLogin          = "001"
	opCreditCard     = "002"
	opSecureNote     = "003"
	opIdentity       = "004"
	opPassword       = "005"
	opDocument       = "006"
	opSoftware       = "100"
	opBankAccount    = "101"
	opDatabase       = "102"
	opDriverLicense  = "103"
	opOutdoorLicense = "104"
	opMembership     = "105"
	opPassport       = "106"
	opRewards        = "107"
	opSSN            = "108"
	opRouter         = "109"
	opServer         = "110"
	opEmailAccount   = "111"
	opAPICredential  = "112"
	opMedicalRecord  = "113"
	opSSHKey         = "114"
	opCryptoWallet   = "115"
)

// opCategoryType maps a category onto a Keyhold item type. Categories
// with a username and password of their own (servers, databases, email
// accounts, routers, API credentials) become logins.
var opCategoryType = map[string]item.Type{
	opLogin: item.Login, opPassword: item.Login, opDatabase: item.Login, opRouter: item.Login,
	opServer: item.Login, opEmailAccount: item.Login, opAPICredential: item.Login,
	opCreditCard: item.Card,
	opIdentity:   item.Identity, opDriverLicense: item.Identity, opPassport: item.Identity, opSSN: item.Identity,
	opMembership: item.Identity, opRewards: item.Identity, opOutdoorLicense: item.Identity,
	opBankAccount: item.Bank,
	opSecureNote:  item.Note, opDocument: item.Note, opSoftware: item.Note, opMedicalRecord: item.Note,
	opSSHKey: item.Note, opCryptoWallet: item.Note,
}

type opExport struct {
	Accounts []opAccount `json:"accounts"`
}

type opAccount struct {
	Attrs struct {
		AccountName string `json:"accountName"`
	} `json:"attrs"`
	Vaults []opVault `json:"vaults"`
}

type opVault struct {
	Attrs struct {
		Name string `json:"name"`
	} `json:"attrs"`
	Items []opItem `json:"items"`
}

type opItem struct {
	UUID         string     `json:"uuid"`
	FavIndex     int64      `json:"favIndex"`
	CreatedAt    int64      `json:"createdAt"`
	UpdatedAt    int64      `json:"updatedAt"`
	State        string     `json:"state"`
	CategoryUUID string     `json:"categoryUuid"`
	Details      opDetails  `json:"details"`
	Overview     opOverview `json:"overview"`
}

type opDetails struct {
	LoginFields        []*opLoginField `json:"loginFields"`
	NotesPlain         string          `json:"notesPlain"`
	Sections           []*opSection    `json:"sections"`
	PasswordHistory    []*opOldPass    `json:"passwordHistory"`
	DocumentAttributes *opFileRef      `json:"documentAttributes"`
	Password           string          `json:"password"`
}

type opLoginField struct {
	Value       json.RawMessage `json:"value"`
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	FieldType   string          `json:"fieldType"`
	Designation string          `json:"designation"`
}

type opSection struct {
	Title  string     `json:"title"`
	Name   string     `json:"name"`
	Fields []*opField `json:"fields"`
}

type opField struct {
	Title string                     `json:"title"`
	ID    string                     `json:"id"`
	Value map[string]json.RawMessage `json:"value"`
}

type opOldPass struct {
	Value string `json:"value"`
	Time  int64  `json:"time"`
}

type opFileRef struct {
	FileName      string `json:"fileName"`
	DocumentID    string `json:"documentId"`
	DecryptedSize int64  `json:"decryptedSize"`
}

type opOverview struct {
	Title string `json:"title"`
	URL   string `json:"url"`
	URLs  []struct {
		Label string `json:"label"`
		URL   string `json:"url"`
	} `json:"urls"`
	Tags []string `json:"tags"`
}

// op1PUX is an opened archive.
type op1PUX struct {
	files map[string]*zip.File // "files/..." entries by name
	err   error                // the first damaged entry met
	// attached counts the attachment bytes read so far, bounded by
	// MaxImportAttachmentBytes.
	attached uint64
	cap      int64 // ImportOptions.AttachmentCap
}

// Read1PUX reads 1Password's .1pux export (1Password 8: File > Export).
func Read1PUX(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: the file is not a ZIP archive, so not a .1pux export (or it is truncated; export it again)", transfer.ErrSourceFormat)
	}
	if len(zr.File) > opMaxEntries {
		return nil, fmt.Errorf("%w: the archive holds %d files; a .1pux export of this size is not plausible", transfer.ErrSourceFormat, len(zr.File))
	}
	res := &transfer.ImportResult{}
	arc := &op1PUX{files: map[string]*zip.File{}, cap: opts.AttachmentCap()}
	var dataFile, attrFile *zip.File
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > opMaxTotal {
			return nil, fmt.Errorf("%w: the archive would inflate to more than %s; refusing it", transfer.ErrSourceFormat, build.SizeText(int(opMaxTotal)))
		}
		name := f.Name
		if !safeZipName(name) {
			res.Unmapped = append(res.Unmapped, fmt.Sprintf("archive entry %q has an unsafe path; ignored", build.Clip(name, 200)))
			continue
		}
		switch {
		case name == "export.data":
			dataFile = f
		case name == "export.attributes":
			attrFile = f
		case strings.HasPrefix(name, "files/") && !strings.HasSuffix(name, "/"):
			arc.files[name] = f
		}
	}
	if dataFile == nil {
		return nil, fmt.Errorf("%w: the archive has no export.data; this is not a .1pux export", transfer.ErrSourceFormat)
	}
	if attrFile != nil {
		b, err := readZipFile(attrFile, 1<<20)
		if err != nil {
			return nil, err
		}
		var attrs struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(b, &attrs); err != nil {
			return nil, fmt.Errorf("%w: export.attributes: %s", transfer.ErrSourceFormat, build.JSONProblem(err, ".1pux export"))
		}
	}
	raw, err := readZipFile(dataFile, opMaxData)
	if err != nil {
		return nil, err
	}
	if !json.Valid(raw) {
		var probe any
		return nil, fmt.Errorf("%w: export.data: %s", transfer.ErrSourceFormat, build.JSONProblem(json.Unmarshal(raw, &probe), ".1pux export"))
	}
	var exp opExport
	if err := json.Unmarshal(raw, &exp); err != nil {
		return nil, fmt.Errorf("%w: export.data: %s", transfer.ErrSourceFormat, build.JSONProblem(err, ".1pux export"))
	}
	if exp.Accounts == nil {
		return nil, fmt.Errorf("%w: export.data has no \"accounts\"; this is not a .1pux export", transfer.ErrSourceFormat)
	}

	vaults := 0
	total1 := 0
	for _, a := range exp.Accounts {
		vaults += len(a.Vaults)
		for _, v := range a.Vaults {
			total1 += len(v.Items)
		}
	}
	done := 0
	for _, a := range exp.Accounts {
		for _, v := range a.Vaults {
			for i := range v.Items {
				im, err := arc.item(&v.Items[i], v.Attrs.Name, vaults > 1, opts.Now, res)
				if err != nil {
					return nil, err
				}
				if im != nil {
					res.Items = append(res.Items, *im)
				}
				done++
				build.ReportProgress(opts.Progress, done, total1)
			}
		}
	}
	return res, nil
}

// safeZipName accepts relative, clean, forward-slash paths only.
func safeZipName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.IndexByte(name, 0) >= 0 {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

var errZipTooLarge = errors.New("too large")

// readZipFile inflates one entry, failing past max bytes whatever the
// directory claims.
func readZipFile(f *zip.File, max int64) ([]byte, error) {
	// An entry whose directory record declares more than the bound is
	// refused before a byte is inflated; one that declares less and
	// inflates to more is cut off by the limit below.
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("%w: the archive entry %q declares %s, larger than %s; refusing it: %w", transfer.ErrSourceFormat, build.Clip(f.Name, 200), build.SizeText(int(min(f.UncompressedSize64, 1<<40))), build.SizeText(int(max)), errZipTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: the archive entry %q cannot be opened (%v); the file is damaged", transfer.ErrSourceFormat, build.Clip(f.Name, 200), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: the archive entry %q is damaged or truncated (%v)", transfer.ErrSourceFormat, build.Clip(f.Name, 200), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: the archive entry %q is larger than %s; refusing it: %w", transfer.ErrSourceFormat, build.Clip(f.Name, 200), build.SizeText(int(max)), errZipTooLarge)
	}
	return b, nil
}

// unixTime reads 1Password's times: seconds since 1970, or milliseconds
// for 13-digit values.
func unixTime(n int64) time.Time {
	switch {
	case n <= 0:
		return time.Time{}
	case n >= 1e12:
		return time.UnixMilli(n).UTC()
	}
	return time.Unix(n, 0).UTC()
}

// item maps one 1Password item.
func (arc *op1PUX) item(o *opItem, vault string, tagVault bool, now time.Time, res *transfer.ImportResult) (*transfer.Imported, error) {
	source := strings.TrimSpace(o.Overview.Title)
	if vault != "" {
		source = vault + "/" + source
	}
	t, ok := opCategoryType[o.CategoryUUID]
	if !ok {
		t = item.Note
		res.Unmapped = append(res.Unmapped, fmt.Sprintf("entry %q: 1Password category %q is not known to Keyhold; imported as a note", source, build.Clip(o.CategoryUUID, 16)))
	}
	d := build.NewDraft(t, o.Overview.Title, source, unixTime(o.CreatedAt), unixTime(o.UpdatedAt), now, &res.Unmapped)
	if tagVault && vault != "" {
		d.AddTag(vault)
	}
	for _, tag := range o.Overview.Tags {
		d.AddTag(tag)
	}
	d.It.Favorite = o.FavIndex > 0
	if o.State == "archived" {
		at := d.It.Modified
		d.It.Trashed = &at
	}
	d.AddURL(o.Overview.URL)
	for _, u := range o.Overview.URLs {
		d.AddURL(u.URL)
	}

	for _, lf := range o.Details.LoginFields {
		if lf == nil {
			continue
		}
		v := opLoginValue(lf.Value)
		switch {
		case lf.Designation == "username" && v != "":
			if d.It.Type == item.Login {
				d.SetStandard("username", v)
			} else {
				d.AddField("username", v, item.Text)
			}
		case lf.Designation == "password" && v != "":
			if d.It.Type == item.Login {
				d.SetStandard("password", v)
			} else {
				d.AddField("password", v, item.Hidden)
			}
		default:
			name := firstNonEmpty(lf.Name, lf.ID, lf.Designation)
			switch lf.FieldType {
			case "P":
				d.AddField(name, v, item.Hidden)
			case "C":
				// A checkbox ("remember me") on the sign-in form: not
				// a value anyone needs to keep.
			default:
				d.AddField(name, v, item.Text)
			}
		}
	}
	if o.Details.Password != "" {
		if d.It.Type == item.Login {
			d.SetStandard("password", o.Details.Password)
		} else {
			d.AddField("password", o.Details.Password, item.Hidden)
		}
	}
	for _, s := range o.Details.Sections {
		if s == nil {
			continue
		}
		for _, f := range s.Fields {
			if f != nil {
				arc.field(d, o.CategoryUUID, s, f)
			}
		}
	}
	if doc := o.Details.DocumentAttributes; doc != nil {
		arc.attach(d, doc)
	}
	d.SetNotes(o.Details.NotesPlain)
	if arc.err != nil {
		return nil, arc.err
	}

	var old []build.OldPassword
	for _, h := range o.Details.PasswordHistory {
		if h != nil {
			old = append(old, build.OldPassword{Value: h.Value, When: unixTime(h.Time)})
		}
	}
	if !d.HasTitle() && len(d.It.Fields) == 0 && len(d.It.URLs) == 0 && d.It.Notes == "" && len(d.It.Attachments) == 0 && len(old) == 0 {
		res.Skipped++
		return nil, nil
	}
	it, err := d.Finish()
	if err != nil {
		return nil, fmt.Errorf("%w: entry %q: %w", transfer.ErrSourceFormat, source, err)
	}
	return &transfer.Imported{Item: it, History: d.History(old), Source: source}, nil
}

// opLoginValue reads a login field's value: a string, or for linked
// accounts an object holding an email address or string.
func opLoginValue(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		EmailAddress string `json:"email_address"`
		String       string `json:"string"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return firstNonEmpty(obj.EmailAddress, obj.String)
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// opStandard maps section field ids onto standard fields, per type.
var opStandard = map[item.Type]map[string]string{
	item.Card: {"cardholder": "cardholder", "ccnum": "number", "cvv": "cvv", "expiry": "expiry",
		"type": "brand", "pin": "pin"},
	item.Bank: {"bankName": "bank_name", "owner": "account_name", "accountNo": "account_number",
		"routingNo": "routing_number", "iban": "iban", "swift": "swift", "telephonePin": "pin"},
	item.Identity: {"firstname": "first_name", "lastname": "last_name", "email": "email",
		"defphone": "phone", "address": "address", "birthdate": "birthdate", "company": "company"},
	item.Login: {"username": "username", "password": "password"},
}

// field maps one section field.
func (arc *op1PUX) field(d *build.Draft, category string, s *opSection, f *opField) {
	name := firstNonEmpty(f.Title, f.ID, s.Title)
	keys := make([]string, 0, len(f.Value))
	for k := range f.Value {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, kind := range keys {
		raw := f.Value[kind]
		if kind == "file" {
			var ref opFileRef
			if json.Unmarshal(raw, &ref) != nil {
				d.Report("field %q holds a file reference Keyhold cannot read; not imported", name)
				continue
			}
			arc.attach(d, &ref)
			continue
		}
		v, k, ok := opValue(kind, raw)
		if !ok {
			d.Report("field %q has a value of kind %q that Keyhold cannot read; not imported", name, build.Clip(kind, 32))
			continue
		}
		if v == "" {
			continue
		}
		if kind == "totp" || strings.HasPrefix(f.ID, "TOTP_") {
			d.SetTOTP(name, v)
			continue
		}
		if kind == "reference" {
			d.Report("field %q links to another 1Password item; the link is not kept", name)
			continue
		}
		if kind == "sshKey" {
			arc.sshKey(d, name, raw)
			continue
		}
		std := opStandard[d.It.Type][f.ID]
		switch {
		case category == opPassport && f.ID == "number":
			std = "passport"
		case category == opDriverLicense && f.ID == "number":
			std = "license"
		case category == opSSN && f.ID == "number":
			d.AddField(firstNonEmpty(f.Title, "social security number"), v, item.Hidden)
			continue
		}
		if d.It.Type == item.Login && std == "" && kind == "concealed" && strings.EqualFold(f.Title, "password") {
			std = "password"
		}
		if std != "" && !d.Has(std) {
			d.SetStandard(std, v)
			continue
		}
		d.AddField(name, v, k)
	}
}

// opValue renders one typed 1Password value as text and picks its kind.
func opValue(kind string, raw json.RawMessage) (string, item.Kind, bool) {
	switch kind {
	case "string", "phone", "menu", "gender", "creditCardType", "url", "totp", "reference":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", "", string(raw) == "null"
		}
		if kind == "url" {
			return s, item.URL, true
		}
		return s, item.Text, true
	case "concealed", "creditCardNumber":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", "", string(raw) == "null"
		}
		return s, item.Hidden, true
	case "email":
		var e struct {
			EmailAddress string `json:"email_address"`
		}
		if json.Unmarshal(raw, &e) == nil {
			return e.EmailAddress, item.Text, true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, item.Text, true
		}
		return "", "", string(raw) == "null"
	case "date":
		var n *int64
		if json.Unmarshal(raw, &n) != nil {
			return "", "", false
		}
		if n == nil {
			return "", item.Text, true
		}
		return time.Unix(*n, 0).UTC().Format(time.DateOnly), item.Text, true
	case "monthYear":
		var n *int64
		if json.Unmarshal(raw, &n) != nil {
			return "", "", false
		}
		if n == nil || *n <= 0 {
			return "", item.Text, true
		}
		s := strconv.FormatInt(*n, 10)
		if len(s) == 6 {
			return s[4:] + "/" + s[:4], item.Text, true
		}
		return s, item.Text, true
	case "address":
		var a *struct {
			Street, City, Country, Zip, State string
		}
		if json.Unmarshal(raw, &a) != nil {
			return "", "", false
		}
		if a == nil {
			return "", item.Text, true
		}
		cityLine := strings.TrimSpace(strings.Join(nonEmpty(a.City, a.State, a.Zip), " "))
		return build.JoinLines(a.Street, cityLine, a.Country), item.Text, true
	case "sshKey":
		return "ssh key", item.Hidden, true
	}
	return "", "", false
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// sshKey stores an SSH key field's private key and what describes it.
func (arc *op1PUX) sshKey(d *build.Draft, name string, raw json.RawMessage) {
	var k struct {
		PrivateKey string `json:"privateKey"`
		Metadata   struct {
			PrivateKey  string `json:"privateKey"`
			PublicKey   string `json:"publicKey"`
			Fingerprint string `json:"fingerprint"`
			KeyType     string `json:"keyType"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &k) != nil {
		d.Report("field %q holds an SSH key Keyhold cannot read; not imported", name)
		return
	}
	d.AddField(name, firstNonEmpty(k.Metadata.PrivateKey, k.PrivateKey), item.Hidden)
	d.AddField("public key", k.Metadata.PublicKey, item.Text)
	d.AddField("fingerprint", k.Metadata.Fingerprint, item.Text)
	d.AddField("key type", k.Metadata.KeyType, item.Text)
}

// attach adds the file a document or file field points at. 1Password
// stores it as files/<documentId>__<fileName>.
func (arc *op1PUX) attach(d *build.Draft, ref *opFileRef) {
	name := firstNonEmpty(path.Base(ref.FileName), "attachment")
	if ref.DocumentID == "" {
		d.Report("attachment %q has no document id; not imported", name)
		return
	}
	f := arc.files["files/"+ref.DocumentID+"__"+ref.FileName]
	if f == nil {
		for n, g := range arc.files {
			if strings.HasPrefix(path.Base(n), ref.DocumentID) {
				f = g
				break
			}
		}
	}
	if f == nil {
		d.Report("attachment %q is not in the archive's files folder; not imported", name)
		return
	}
	if f.UncompressedSize64 > item.MaxAttachmentBytes {
		d.Report("attachment %q (%s) is larger than an item can hold (%s in all); not imported", name, build.SizeText(int(min(f.UncompressedSize64, 1<<40))), build.SizeText(item.MaxAttachmentBytes))
		return
	}
	if int64(arc.attached+f.UncompressedSize64) > arc.cap {
		d.Report("attachment %q (%s): the export's attachments exceed %s in all; not imported", name, build.SizeText(int(f.UncompressedSize64)), build.SizeText(int(arc.cap)))
		return
	}
	b, err := readZipFile(f, item.MaxAttachmentBytes)
	if err == nil {
		arc.attached += uint64(len(b))
	}
	if err != nil {
		if errors.Is(err, errZipTooLarge) {
			d.Report("attachment %q is larger than an item can hold (%s in all); not imported", name, build.SizeText(item.MaxAttachmentBytes))
		} else if arc.err == nil {
			arc.err = err
		}
		return
	}
	d.AddAttachment(name, b)
}
