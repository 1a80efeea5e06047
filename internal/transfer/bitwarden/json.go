// Package bitwarden reads Bitwarden's exports: the .json export, plain,
// password-protected or encrypted with the account key (crypt.go), and
// the .csv export of logins and secure notes.
package bitwarden

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// bwMaxJSON bounds a Bitwarden JSON export. A vault of a hundred thousand
// items is a few tens of megabytes.
const bwMaxJSON = 256 << 20

// Bitwarden item types ("type" in the export).
const (
	bwLogin    = 1
	bwNote     = 2
	bwCard     = 3
	bwIdentity = 4
	bwSSHKey   = 5
)

// Bitwarden custom field types.
const (
	bwFieldText    = 0
	bwFieldHidden  = 1
	bwFieldBoolean = 2
	bwFieldLinked  = 3
)

// bwExport is the outer object of every Bitwarden JSON export: the
// unencrypted one, the password-protected one and the account-restricted
// one.
type bwExport struct {
	Encrypted         bool       `json:"encrypted"`
	PasswordProtected bool       `json:"passwordProtected"`
	Salt              string     `json:"salt"`
	KdfType           *int       `json:"kdfType"`
	KdfIterations     *int64     `json:"kdfIterations"`
	KdfMemory         *int64     `json:"kdfMemory"`
	KdfParallelism    *int64     `json:"kdfParallelism"`
	EncKeyValidation  string     `json:"encKeyValidation_DO_NOT_EDIT"`
	Data              string     `json:"data"`
	Folders           []bwFolder `json:"folders"`
	Collections       []bwFolder `json:"collections"`
	Items             *[]bwItem  `json:"items"`
}

type bwFolder struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type bwItem struct {
	ID              string          `json:"id"`
	OrganizationID  *string         `json:"organizationId"`
	FolderID        *string         `json:"folderId"`
	Type            int             `json:"type"`
	Reprompt        int             `json:"reprompt"`
	Name            string          `json:"name"`
	Notes           *string         `json:"notes"`
	Favorite        bool            `json:"favorite"`
	Fields          []bwField       `json:"fields"`
	Login           *bwLoginData    `json:"login"`
	Card            *bwCardData     `json:"card"`
	Identity        *bwIdentityData `json:"identity"`
	SSHKey          *bwSSHKeyData   `json:"sshKey"`
	CollectionIDs   []string        `json:"collectionIds"`
	PasswordHistory []bwOldPass     `json:"passwordHistory"`
	CreationDate    *string         `json:"creationDate"`
	RevisionDate    *string         `json:"revisionDate"`
	DeletedDate     *string         `json:"deletedDate"`
	Attachments     []bwAttachment  `json:"attachments"`
}

type bwField struct {
	Name     *string `json:"name"`
	Value    *string `json:"value"`
	Type     int     `json:"type"`
	LinkedID *int    `json:"linkedId"`
}

type bwLoginData struct {
	URIs     []bwURI           `json:"uris"`
	Username *string           `json:"username"`
	Password *string           `json:"password"`
	TOTP     *string           `json:"totp"`
	Fido2    []json.RawMessage `json:"fido2Credentials"`
}

type bwURI struct {
	URI   *string `json:"uri"`
	Match *int    `json:"match"`
}

type bwCardData struct {
	CardholderName *string `json:"cardholderName"`
	Brand          *string `json:"brand"`
	Number         *string `json:"number"`
	ExpMonth       *string `json:"expMonth"`
	ExpYear        *string `json:"expYear"`
	Code           *string `json:"code"`
}

type bwIdentityData struct {
	Title          *string `json:"title"`
	FirstName      *string `json:"firstName"`
	MiddleName     *string `json:"middleName"`
	LastName       *string `json:"lastName"`
	Address1       *string `json:"address1"`
	Address2       *string `json:"address2"`
	Address3       *string `json:"address3"`
	City           *string `json:"city"`
	State          *string `json:"state"`
	PostalCode     *string `json:"postalCode"`
	Country        *string `json:"country"`
	Company        *string `json:"company"`
	Email          *string `json:"email"`
	Phone          *string `json:"phone"`
	SSN            *string `json:"ssn"`
	Username       *string `json:"username"`
	PassportNumber *string `json:"passportNumber"`
	LicenseNumber  *string `json:"licenseNumber"`
}

type bwSSHKeyData struct {
	PrivateKey     *string `json:"privateKey"`
	PublicKey      *string `json:"publicKey"`
	KeyFingerprint *string `json:"keyFingerprint"`
}

type bwOldPass struct {
	LastUsedDate *string `json:"lastUsedDate"`
	Password     *string `json:"password"`
}

type bwAttachment struct {
	FileName *string `json:"fileName"`
	Size     *string `json:"size"`
}

// str reads an optional JSON string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ReadJSON reads Bitwarden's .json export: the unencrypted one,
// or the password-protected one when opts.Password is given. The
// account-restricted encrypted export needs the Bitwarden account's own
// key and is refused with a hint.
func ReadJSON(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	exp, err := bwParse(data)
	if err != nil {
		return nil, err
	}
	if exp.Encrypted {
		if !exp.PasswordProtected {
			return nil, fmt.Errorf("%w: this is an account-restricted encrypted Bitwarden export, which only the Bitwarden account that made it can open; in Bitwarden, export again choosing the file type \".json\" or \".json (Encrypted)\" with \"Password protected\"", transfer.ErrSourceFormat)
		}
		plain, err := bwDecryptExport(exp, opts.Password)
		if err != nil {
			return nil, err
		}
		exp, err = bwParse(plain)
		if err != nil {
			return nil, fmt.Errorf("%w: the decrypted content is not a Bitwarden export", transfer.ErrSourceFormat)
		}
		if exp.Encrypted {
			return nil, fmt.Errorf("%w: the decrypted content is itself encrypted", transfer.ErrSourceFormat)
		}
	}
	return bwItems(exp, opts)
}

// bwParse decodes the outer object and checks it is a Bitwarden export.
func bwParse(data []byte) (*bwExport, error) {
	if len(data) > bwMaxJSON {
		return nil, fmt.Errorf("%w: the file is larger than %s; no Bitwarden export is that large", transfer.ErrSourceFormat, build.SizeText(bwMaxJSON))
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if err := build.ValidText(data); err != nil {
		return nil, err
	}
	var exp bwExport
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&exp); err != nil {
		return nil, fmt.Errorf("%w: %s", transfer.ErrSourceFormat, build.JSONProblem(err, "Bitwarden .json export"))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: there is more data after the export's closing brace; the file is damaged", transfer.ErrSourceFormat)
	}
	if exp.Encrypted {
		if exp.PasswordProtected && (exp.Data == "" || exp.EncKeyValidation == "") {
			return nil, fmt.Errorf("%w: the password-protected export lacks its \"data\" or \"encKeyValidation_DO_NOT_EDIT\"; the file is damaged", transfer.ErrSourceFormat)
		}
		return &exp, nil
	}
	if exp.Items == nil {
		return nil, fmt.Errorf("%w: no \"items\" list; this is not a Bitwarden .json export", transfer.ErrSourceFormat)
	}
	return &exp, nil
}

// bwItems maps every item of an unencrypted export.
func bwItems(exp *bwExport, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	res := &transfer.ImportResult{}
	folders := map[string]string{}
	for _, f := range exp.Folders {
		folders[f.ID] = strings.TrimSpace(f.Name)
	}
	collections := map[string]string{}
	for _, c := range exp.Collections {
		collections[c.ID] = strings.TrimSpace(c.Name)
	}
	items := *exp.Items
	for i := range items {
		im, err := bwMapItem(&items[i], folders, collections, opts.Now, res)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %w", transfer.ErrSourceFormat, i+1, err)
		}
		if im != nil {
			res.Items = append(res.Items, *im)
		}
		build.ReportProgress(opts.Progress, i+1, len(items))
	}
	return res, nil
}

// bwTime reads a Bitwarden date (ISO 8601); a missing or unreadable one
// is zero.
func bwTime(p *string) time.Time {
	if p == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *p)
	if err != nil {
		return time.Time{}
	}
	return t
}

// bwMapItem maps one item; a nil result with no error means it was skipped
// (and reported) or empty.
func bwMapItem(b *bwItem, folders, collections map[string]string, now time.Time, res *transfer.ImportResult) (*transfer.Imported, error) {
	folder := ""
	if b.FolderID != nil && *b.FolderID != "" {
		folder = folders[*b.FolderID]
	}
	source := strings.TrimSpace(b.Name)
	if folder != "" {
		source = folder + "/" + source
	}

	var t item.Type
	switch b.Type {
	case bwLogin:
		t = item.Login
	case bwNote, bwSSHKey:
		t = item.Note
	case bwCard:
		t = item.Card
	case bwIdentity:
		t = item.Identity
	default:
		res.Unmapped = append(res.Unmapped, fmt.Sprintf("entry %q: Bitwarden item type %d is not known to Keyhold; skipped", source, b.Type))
		return nil, nil
	}
	d := build.NewDraft(t, b.Name, source, bwTime(b.CreationDate), bwTime(b.RevisionDate), now, &res.Unmapped)
	if folder != "" {
		d.AddTag(folder)
	} else if b.FolderID != nil && *b.FolderID != "" {
		d.Report("its folder is not listed in the export's folders; no folder tag")
	}
	for _, id := range b.CollectionIDs {
		if name := collections[id]; name != "" {
			d.AddTag(name)
		}
	}
	d.It.Favorite = b.Favorite
	if del := bwTime(b.DeletedDate); !del.IsZero() {
		del = del.UTC().Truncate(time.Millisecond)
		d.It.Trashed = &del
	}
	if b.Reprompt != 0 {
		d.Report("Bitwarden's \"master password re-prompt\" setting has no Keyhold equivalent; not kept")
	}

	switch b.Type {
	case bwLogin:
		if l := b.Login; l != nil {
			d.SetStandard("username", str(l.Username))
			d.SetStandard("password", str(l.Password))
			d.SetTOTP("totp", str(l.TOTP))
			matchRules := 0
			for _, u := range l.URIs {
				d.AddURL(str(u.URI))
				if u.Match != nil {
					matchRules++
				}
			}
			if matchRules > 0 {
				d.Report("%d URL match detection setting(s) have no Keyhold equivalent; not kept", matchRules)
			}
			if len(l.Fido2) > 0 {
				d.Report("%d passkey(s) cannot be moved out of Bitwarden; not imported", len(l.Fido2))
			}
		}
	case bwCard:
		if c := b.Card; c != nil {
			d.SetStandard("cardholder", str(c.CardholderName))
			d.SetStandard("number", str(c.Number))
			d.SetStandard("expiry", bwExpiry(str(c.ExpMonth), str(c.ExpYear)))
			d.SetStandard("cvv", str(c.Code))
			d.SetStandard("brand", str(c.Brand))
		}
	case bwIdentity:
		if id := b.Identity; id != nil {
			d.AddField("salutation", str(id.Title), item.Text)
			d.SetStandard("first_name", str(id.FirstName))
			d.AddField("middle_name", str(id.MiddleName), item.Text)
			d.SetStandard("last_name", str(id.LastName))
			d.SetStandard("email", str(id.Email))
			d.SetStandard("phone", str(id.Phone))
			d.SetStandard("address", build.JoinLines(str(id.Address1), str(id.Address2), str(id.Address3)))
			d.AddField("city", str(id.City), item.Text)
			d.AddField("state", str(id.State), item.Text)
			d.AddField("postal_code", str(id.PostalCode), item.Text)
			d.AddField("country", str(id.Country), item.Text)
			d.SetStandard("company", str(id.Company))
			d.AddField("ssn", str(id.SSN), item.Hidden)
			d.AddField("username", str(id.Username), item.Text)
			d.SetStandard("passport", str(id.PassportNumber))
			d.SetStandard("license", str(id.LicenseNumber))
		}
	case bwSSHKey:
		if k := b.SSHKey; k != nil {
			d.AddField("private_key", str(k.PrivateKey), item.Hidden)
			d.AddField("public_key", str(k.PublicKey), item.Text)
			d.AddField("fingerprint", str(k.KeyFingerprint), item.Text)
		}
	}

	for _, f := range b.Fields {
		name := strings.TrimSpace(str(f.Name))
		switch f.Type {
		case bwFieldHidden:
			d.AddField(name, str(f.Value), item.Hidden)
		case bwFieldLinked:
			d.Report("linked custom field %q only points at another of the item's values; not imported", name)
		case bwFieldText, bwFieldBoolean:
			d.AddField(name, str(f.Value), item.Text)
		default:
			d.AddField(name, str(f.Value), item.Text)
		}
	}
	d.SetNotes(str(b.Notes))
	if len(b.Attachments) > 0 {
		d.Report("%d attachment(s) are not part of a .json export; export as \".zip (with attachments)\" and add them by hand", len(b.Attachments))
	}

	if emptyDraft(d, b) {
		res.Skipped++
		return nil, nil
	}
	var old []build.OldPassword
	for _, h := range b.PasswordHistory {
		old = append(old, build.OldPassword{Value: str(h.Password), When: bwTime(h.LastUsedDate)})
	}
	it, err := d.Finish()
	if err != nil {
		return nil, err
	}
	return &transfer.Imported{Item: it, History: d.History(old), Source: source}, nil
}

// emptyDraft reports whether an entry held nothing at all.
func emptyDraft(d *build.Draft, b *bwItem) bool {
	return !d.HasTitle() && len(d.It.Fields) == 0 && len(d.It.URLs) == 0 && d.It.Notes == "" && len(b.PasswordHistory) == 0
}

// bwExpiry writes a card's expiry as MM/YYYY, or whatever part is known.
func bwExpiry(month, year string) string {
	month, year = strings.TrimSpace(month), strings.TrimSpace(year)
	if len(month) == 1 {
		month = "0" + month
	}
	if len(year) == 2 {
		year = "20" + year
	}
	switch {
	case month != "" && year != "":
		return month + "/" + year
	case month != "":
		return month
	}
	return year
}
