// Package kdbx reads and writes KeePass databases (KDBX 2 to 4.1): the
// container and its ciphers and key derivations (file.go), the XML inside
// (xml.go), field references (ref.go), the mapping of entries to items
// (kdbx.go) and back (write.go). A database is read whole, within the
// limits of file.go, and never trusted: FuzzReadKDBX and the payload fuzz
// targets check that no file makes it panic or hang.
package kdbx

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// The entry's standard strings in KeePass.
const (
	kpTitle    = "Title"
	kpUserName = "UserName"
	kpPassword = "Password"
	kpURL      = "URL"
	kpNotes    = "Notes"
	kpOTP      = "otp"
)

// Entry custom data keys Keyhold writes so that a round trip through KDBX
// keeps what KeePass has no place for. KeePass and KeePassXC keep entry
// custom data without showing it.
const (
	kdbxTypeKey     = "keyhold.type"
	kdbxFavoriteKey = "keyhold.favorite"
	// kdbxMatchKey holds item.Item.Match ("domain" or "host"): where
	// the browser extension may fill the login.
	kdbxMatchKey = "keyhold.match"
)

// kdbxExtraURL matches the attributes KeePassXC and KeePass2Android use
// for an entry's further URLs.
var kdbxExtraURL = regexp.MustCompile(`^(KP2A_URL(_\d+)?|URL_\d+)$`)

// kdbxZeroUUID is an unset UUID as KeePass writes it.
const kdbxZeroUUID = "AAAAAAAAAAAAAAAAAAAAAA=="

// Read reads a KeePass database.
func Read(data []byte, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	f, err := openKDBX(data, kdbxCreds{password: opts.Password, passwordSet: opts.EmptyPassword, keyFile: opts.KeyFile})
	if err != nil {
		return nil, err
	}
	return readKDBXOpened(f, opts)
}

// readKDBXOpened maps a decrypted database onto items.
func readKDBXOpened(f *kdbxFile, opts transfer.ImportOptions) (*transfer.ImportResult, error) {
	doc, err := parseKDBXDocument(f)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	r := &kdbxReader{f: f, doc: doc, now: now.UTC().Truncate(time.Millisecond), progress: opts.Progress, attachCap: opts.AttachmentCap(),
		metaBinaries: map[string]*kxValue{}}
	for _, b := range doc.Meta.Binaries {
		if b != nil {
			r.metaBinaries[b.ID] = b
		}
	}
	if kxTrue(doc.Meta.RecycleBinEnabled) || doc.Meta.RecycleBinEnabled == "" {
		if u := strings.TrimSpace(doc.Meta.RecycleBinUUID); u != "" && u != kdbxZeroUUID {
			r.recycleBin = u
		}
	}
	r.refs = newKDBXRefs(doc.Root.Group)
	r.total = countKDBXEntries(doc.Root.Group)
	// The root group's name is the database's name, not a folder.
	root := doc.Root.Group
	r.group(root, nil, false, true)
	return r.result(), nil
}

// parseKDBXDocument decodes the XML and unmasks protected values.
func parseKDBXDocument(f *kdbxFile) (*kxFile, error) {
	doc := new(kxFile)
	d := xml.NewDecoder(bytes.NewReader(f.xml))
	if err := d.Decode(doc); err != nil {
		return nil, kdbxFormatErr("the database's content is not valid KeePass XML")
	}
	if doc.Root.Group == nil {
		return nil, kdbxFormatErr("the database holds no root group")
	}
	if f.major < 4 && doc.Meta.HeaderHash != "" {
		sum := sha256.Sum256(f.header)
		if base64.StdEncoding.EncodeToString(sum[:]) != strings.TrimSpace(doc.Meta.HeaderHash) {
			return nil, kdbxFormatErr("the KDBX header is damaged (its checksum does not match)")
		}
	}
	if err := doc.unmask(f.stream); err != nil {
		return nil, err
	}
	return doc, nil
}

func countKDBXEntries(g *kxGroup) int {
	n := len(g.Entries)
	for i := range g.Groups {
		n += countKDBXEntries(&g.Groups[i])
	}
	return n
}

// kdbxReader maps a decoded database onto items.
type kdbxReader struct {
	f            *kdbxFile
	doc          *kxFile
	now          time.Time
	progress     func(done, total int)
	metaBinaries map[string]*kxValue
	recycleBin   string
	// refs resolves KeePass field references; nil leaves them as text.
	refs *kdbxRefs

	items    []transfer.Imported
	unmapped []string
	skipped  int
	done     int
	total    int

	// Attachments are decoded once however many entries share them, and
	// bounded in all (MaxImportAttachmentBytes).
	binCache    map[string]kdbxBinary
	attachBytes int64
	attachCap   int64 // ImportOptions.AttachmentCap

	// Counts of what is reported once for the whole file.
	icons, colours, customData int
}

func (r *kdbxReader) result() *transfer.ImportResult {
	once := func(n int, what string) {
		if n > 0 {
			r.unmapped = append(r.unmapped, fmt.Sprintf("%d %s", n, what))
		}
	}
	once(r.icons, kdbxPlural(r.icons, "entry has a custom icon", "entries have custom icons")+" (Keyhold keeps no icons)")
	once(r.colours, kdbxPlural(r.colours, "entry has a colour", "entries have colours")+" (Keyhold keeps no colours)")
	once(r.customData, kdbxPlural(r.customData, "entry has", "entries have")+" plugin data (KeePass entry custom data, such as browser integration settings)")
	if r.progress != nil {
		r.progress(r.done, r.total)
	}
	return &transfer.ImportResult{Items: r.items, Unmapped: r.unmapped, Skipped: r.skipped}
}

func kdbxPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// group maps a group's entries and its subgroups. path is the group path
// below the root (or below the recycle bin for trashed entries).
func (r *kdbxReader) group(g *kxGroup, path []string, trashed, isRoot bool) {
	if !isRoot {
		if strings.TrimSpace(g.UUID) == r.recycleBin && r.recycleBin != "" && !trashed {
			trashed = true
			path = nil
		} else if name := strings.TrimSpace(g.Name); name != "" {
			path = append(slices.Clip(path), name)
		}
		if strings.TrimSpace(g.Notes) != "" {
			r.unmapped = append(r.unmapped, fmt.Sprintf("group %q: the group's notes (groups become tags, which have no notes)", strings.Join(path, "/")))
		}
	}
	for i := range g.Entries {
		r.entry(&g.Entries[i], path, trashed)
		r.done++
		if r.progress != nil && r.done%100 == 0 {
			r.progress(r.done, r.total)
		}
	}
	for i := range g.Groups {
		r.group(&g.Groups[i], path, trashed, false)
	}
}

// entry maps one entry and its history.
func (r *kdbxReader) entry(e *kxEntry, path []string, trashed bool) {
	if e.empty() {
		r.skipped++
		return
	}
	var refProblems []kdbxRefProblem
	if r.refs != nil {
		refProblems = r.refs.resolveEntry(e)
	}
	m := r.mapEntry(e, path, trashed)
	source := m.it.Title
	if len(path) > 0 {
		source = strings.Join(path, "/") + "/" + source
	}
	if trashed {
		source = "Recycle Bin/" + source
	}
	source = kdbxSourceName(source)
	for _, p := range refProblems {
		r.unmapped = append(r.unmapped, fmt.Sprintf("entry %q: %s", source, p))
	}
	for _, p := range m.problems {
		r.unmapped = append(r.unmapped, fmt.Sprintf("entry %q: %s", source, p))
	}
	// Report what is per file once; per entry only what the user may
	// want to redo by hand.
	if id := strings.TrimSpace(e.IconID); (id != "" && id != "0") || (e.CustomIconUUID != "" && e.CustomIconUUID != kdbxZeroUUID) {
		r.icons++
	}
	if strings.TrimSpace(e.ForegroundColor) != "" || strings.TrimSpace(e.BackgroundColor) != "" {
		r.colours++
	}
	for _, c := range e.CustomData {
		if c.Key != kdbxTypeKey && c.Key != kdbxFavoriteKey && c.Key != kdbxMatchKey && c.Key != "_LAST_MODIFIED" {
			r.customData++
			break
		}
	}
	if at := e.AutoType; at != nil && (strings.TrimSpace(at.DefaultSequence) != "" || len(at.Associations) > 0) {
		r.unmapped = append(r.unmapped, fmt.Sprintf("entry %q: auto-type sequence (Keyhold has no auto-type)", source))
	}
	var history []*item.Item
	var hproblems []string
	versions := e.history()
	for i := range versions {
		if versions[i].empty() {
			continue
		}
		if r.refs != nil {
			for _, p := range r.refs.resolveEntry(&versions[i]) {
				if s := p.String(); !slices.Contains(hproblems, s) {
					hproblems = append(hproblems, s)
				}
			}
		}
		h := r.mapEntry(&versions[i], path, false)
		history = append(history, h.it)
		for _, p := range h.problems {
			if !slices.Contains(hproblems, p) {
				hproblems = append(hproblems, p)
			}
		}
	}
	for _, p := range hproblems {
		r.unmapped = append(r.unmapped, fmt.Sprintf("entry %q, an earlier version: %s", source, p))
	}
	slices.SortStableFunc(history, func(a, b *item.Item) int { return a.Modified.Compare(b.Modified) })
	r.items = append(r.items, transfer.Imported{Item: m.it, History: history, Source: source})
}

// kdbxSourceName keeps a source name printable and short.
func kdbxSourceName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func (e *kxEntry) get(key string) string {
	for _, s := range e.Strings {
		if s.Key == key && s.Value != nil {
			return s.Value.Text
		}
	}
	return ""
}

// empty reports an entry with no text and no attachment at all.
func (e *kxEntry) empty() bool {
	for _, s := range e.Strings {
		if s.Value != nil && strings.TrimSpace(s.Value.Text) != "" {
			return false
		}
	}
	return len(e.Binaries) == 0
}

type kdbxMapped struct {
	it       *item.Item
	problems []string
}

// mapEntry turns one entry (current or earlier version) into an item, in
// the steps below, each reporting in m.problems what it could not keep.
func (r *kdbxReader) mapEntry(e *kxEntry, path []string, trashed bool) kdbxMapped {
	m := newEntryMapping(r, e)
	m.start(trashed)
	m.loginFields()
	m.urls()
	m.totp()
	m.otherStrings()
	m.expiry()
	m.tags(path)
	m.setNotes()
	m.attachments()
	return m.finish()
}

// entryMapping is one entry on its way to becoming an item.
type entryMapping struct {
	r        *kdbxReader
	e        *kxEntry
	strs     map[string]*kxValue // the entry's strings by key
	custom   map[string]string   // the entry's custom data
	title    string
	it       *item.Item
	notes    string
	overflow []string        // "name:\nvalue" blocks for the notes
	consumed map[string]bool // strings given a place already
	problems []string
}

func newEntryMapping(r *kdbxReader, e *kxEntry) *entryMapping {
	m := &entryMapping{r: r, e: e, strs: map[string]*kxValue{}, custom: map[string]string{},
		consumed: map[string]bool{kpTitle: true, kpNotes: true}}
	for _, s := range e.Strings {
		if s.Value != nil {
			m.strs[s.Key] = s.Value
		}
	}
	for _, c := range e.CustomData {
		m.custom[c.Key] = c.Value
	}
	return m
}

func (m *entryMapping) problem(format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

// val is the text of the entry's string k, or "".
func (m *entryMapping) val(k string) string {
	if v := m.strs[k]; v != nil {
		return v.Text
	}
	return ""
}

// start makes the item: its type, title, times, trash state and
// favorite mark.
func (m *entryMapping) start(trashed bool) {
	// The type: what Keyhold wrote, else a login, or a note when the
	// entry has nothing of a login.
	typ := item.Login
	if t, err := item.ParseType(m.custom[kdbxTypeKey]); err == nil {
		typ = t
	} else if m.val(kpUserName) == "" && m.val(kpPassword) == "" && m.val(kpURL) == "" && m.val(kpOTP) == "" &&
		m.val("TOTP Seed") == "" && m.val("TimeOtp-Secret-Base32") == "" {
		typ = item.Note
	}

	m.title = strings.TrimSpace(m.val(kpTitle))
	var notesPrefix string
	if m.title == "" {
		m.title = kdbxFallbackTitle(m.val(kpURL), m.val(kpUserName))
	} else if len(m.title) > item.MaxTitle {
		notesPrefix = "Title: " + m.title + "\n\n"
		m.title = build.Clip(m.title, item.MaxTitle)
		m.problem("the title is longer than %d bytes; it was shortened and the full title put in the notes", item.MaxTitle)
	}
	it := item.New(typ, m.title, m.r.now)
	if t := parseKXTime(m.e.Times.CreationTime); !t.IsZero() {
		it.Created = t.Truncate(time.Millisecond)
	}
	if t := parseKXTime(m.e.Times.LastModificationTime); !t.IsZero() {
		it.Modified = t.Truncate(time.Millisecond)
	}
	if trashed {
		t := parseKXTime(m.e.Times.LocationChanged)
		if t.IsZero() {
			t = it.Modified
		}
		t = t.Truncate(time.Millisecond)
		it.Trashed = &t
	}
	it.Favorite = kxTrue(m.custom[kdbxFavoriteKey])
	// A value this version does not know is dropped rather than
	// refused: the login then fills by the extension's default.
	if v, err := item.ParseMatch(m.custom[kdbxMatchKey]); err == nil {
		it.Match = v
	}
	m.it = it
	m.notes = notesPrefix + m.val(kpNotes)
}

// addField adds a field; standard says name is a Keyhold standard field
// filled from KeePass's own (username, password, totp).
func (m *entryMapping) addField(name, value string, kind item.Kind, standard bool) {
	it := m.it
	if name == "" {
		m.problem("a field without a name")
		return
	}
	if len(value) > item.MaxFieldValue {
		if kind == item.Hidden || kind == item.TOTP {
			// Notes are shown and searched: a secret does not go there.
			m.problem("field %q (%s, a secret) is larger than a field can hold; not imported", name, kdbxSize(len(value)))
			return
		}
		m.overflow = append(m.overflow, name+":\n"+value)
		m.problem("field %q (%s) is larger than a field can hold; it was added to the notes", name, kdbxSize(len(value)))
		return
	}
	if len(it.Fields) >= item.MaxFields {
		m.problem("field %q: an item holds at most %d fields", name, item.MaxFields)
		return
	}
	// A KeePass field named like a standard field of a card or an
	// identity fills it (that is how Keyhold's own export writes them);
	// any other clash ("username" as a custom field of a login, or "PIN"
	// next to "pin") is renamed rather than overwritten.
	if !standard && !(kdbxStandard(it.Type, name) && !kdbxHas(it, name)) {
		base := name
		for i := 2; kdbxNameTaken(it, name); i++ {
			name = fmt.Sprintf("%s (%d)", base, i)
		}
	}
	it.Set(name, value, kind)
	// Set gives standard names their standard kind; a custom field keeps
	// the kind the source gave it.
	if last := &it.Fields[len(it.Fields)-1]; last.Custom {
		last.Kind = kind
	}
}

// loginFields places KeePass's user name and password. Every KeePass
// entry has both, often empty; only a login has a place for them, other
// types keep them as custom fields when they hold something.
func (m *entryMapping) loginFields() {
	if m.val(kpUserName) == "" {
		m.consumed[kpUserName] = true
	}
	if m.val(kpPassword) == "" {
		m.consumed[kpPassword] = true
	}
	if m.it.Type == item.Login {
		if v := m.val(kpUserName); v != "" {
			m.addField("username", v, item.Text, true)
		}
		if v := m.val(kpPassword); v != "" {
			m.addField("password", v, item.Hidden, true)
		}
		m.consumed[kpUserName], m.consumed[kpPassword] = true, true
	}
}

// urls places the URL field first, then KeePassXC's further URLs.
func (m *entryMapping) urls() {
	var urls []string
	if v := strings.TrimSpace(m.val(kpURL)); v != "" {
		urls = append(urls, v)
	}
	m.consumed[kpURL] = true
	for _, s := range m.e.Strings {
		if kdbxExtraURL.MatchString(s.Key) {
			m.consumed[s.Key] = true
			if v := strings.TrimSpace(m.val(s.Key)); v != "" && !slices.Contains(urls, v) {
				urls = append(urls, v)
			}
		}
	}
	for _, u := range urls {
		switch {
		case len(u) > item.MaxFieldValue:
			m.problem("a URL longer than %s", kdbxSize(item.MaxFieldValue))
		case len(m.it.URLs) >= item.MaxURLs:
			m.problem("a URL: an item holds at most %d URLs", item.MaxURLs)
		default:
			m.it.URLs = append(m.it.URLs, u)
		}
	}
	if strings.TrimSpace(m.e.OverrideURL) != "" {
		m.problem("override URL (a KeePass command line)")
	}
}

// totp places the one-time password: the otp attribute (KeePassXC 2.6+,
// KeePass 2 plugins), KeePassXC's older "TOTP Seed"/"TOTP Settings", or
// KeePass 2.47's TimeOtp-* fields.
func (m *entryMapping) totp() {
	totp, used := kdbxTOTP(m.title, m.val)
	if totp == "" {
		return
	}
	for _, k := range used {
		m.consumed[k] = true
	}
	if m.it.Type == item.Login {
		m.addField("totp", totp, item.TOTP, true)
	} else {
		m.addField("otp", totp, item.TOTP, false)
	}
}

// otherStrings keeps every string not placed yet as a field.
func (m *entryMapping) otherStrings() {
	for _, s := range m.e.Strings {
		if m.consumed[s.Key] || s.Value == nil {
			continue
		}
		m.consumed[s.Key] = true
		// Protected in KeePass, or named like a secret (many databases
		// leave "PIN" or "API secret" unprotected): hidden, so that it
		// is masked when shown and never searched.
		kind := build.Kind(s.Key)
		if s.Value.Hidden {
			kind = item.Hidden
		}
		m.addField(s.Key, s.Value.Text, kind, false)
	}
}

// expiry keeps the entry's expiry time, when it is set to expire.
func (m *entryMapping) expiry() {
	if kxTrue(m.e.Times.Expires) {
		if t := parseKXTime(m.e.Times.ExpiryTime); !t.IsZero() {
			m.addField("Expires", t.Format(time.RFC3339), item.Text, false)
		}
	}
}

// tags gives the item its group path, then the entry's own tags.
func (m *entryMapping) tags(path []string) {
	var tags []string
	if len(path) > 0 {
		tags = append(tags, strings.Join(path, "/"))
	}
	for _, t := range strings.FieldsFunc(m.e.Tags, func(r rune) bool { return r == ';' || r == ',' }) {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	for _, t := range tags {
		switch {
		case len(t) > item.MaxTitle:
			m.problem("a tag longer than %d bytes", item.MaxTitle)
		case len(m.it.Tags) >= item.MaxTags:
			m.problem("tag %q: an item holds at most %d tags", t, item.MaxTags)
		default:
			m.it.Tags = append(m.it.Tags, t)
		}
	}
}

// setNotes sets the notes, with the values too large for a field after
// them, if they fit.
func (m *entryMapping) setNotes() {
	notes := m.notes
	for _, o := range m.overflow {
		if notes != "" {
			notes += "\n\n"
		}
		notes += o
	}
	if len(notes) > item.MaxNotes {
		m.problem("the notes (%s) are larger than an item holds (%s)", kdbxSize(len(notes)), kdbxSize(item.MaxNotes))
	} else {
		m.it.Notes = notes
	}
}

// attachments adds the entry's attachments, as many as fit.
func (m *entryMapping) attachments() {
	it, r := m.it, m.r
	for _, b := range m.e.Binaries {
		name := b.Key
		if name == "" {
			name = "attachment"
		}
		data, size, err := r.binary(b.Value)
		if errors.Is(err, errKDBXShortAttachment) {
			m.problem("attachment %q may be incomplete: its compressed data ends early", name)
			err = nil
		}
		switch {
		case err != nil:
			m.problem("attachment %q: %v", name, err)
		case len(it.Attachments) >= item.MaxAttachments:
			m.problem("attachment %q (%s): an item holds at most %d attachments", name, kdbxSize64(size), item.MaxAttachments)
		case data == nil || int64(it.AttachmentBytes())+size > item.MaxAttachmentBytes:
			m.problem("attachment %q (%s) is larger than an item can hold (%s in all)", name, kdbxSize64(size), kdbxSize(item.MaxAttachmentBytes))
		case r.attachBytes+size > r.attachCap:
			m.problem("attachment %q (%s): the file's attachments exceed %s in all; import the rest from KeePass by hand", name, kdbxSize64(size), kdbxSize64(r.attachCap))
		case len(name) > item.MaxTitle || slices.ContainsFunc(it.Attachments, func(a item.Attachment) bool { return a.Name == name }):
			m.problem("attachment %q: its name is too long or used twice", build.Clip(name, 80))
		default:
			r.attachBytes += size
			it.Attachments = append(it.Attachments, item.Attachment{Name: name, Data: data})
		}
	}
}

// finish checks the item. Every limit is checked by the steps before; this
// is a safety net, never a partial item.
func (m *entryMapping) finish() kdbxMapped {
	if err := m.it.Validate(); err != nil {
		m.problem("the entry could not be imported as it is (%v); only its title was kept", err)
		m.it = item.New(item.Note, m.title, m.r.now)
	}
	return kdbxMapped{it: m.it, problems: m.problems}
}

// kdbxStandard reports whether name is one of the type's standard fields
// other than a login's, which are filled from KeePass's own.
func kdbxStandard(t item.Type, name string) bool {
	return t != item.Login && kdbxStandardName(t, name)
}

func kdbxStandardName(t item.Type, name string) bool {
	for _, f := range item.StandardFields[t] {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

func kdbxHas(it *item.Item, name string) bool {
	for _, f := range it.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// kdbxNameTaken reports a custom field name that would clash with an
// existing field, a standard field of the item's type, or a name item.Get
// reserves.
func kdbxNameTaken(it *item.Item, name string) bool {
	switch strings.ToLower(name) {
	case "title", "notes", "note", "url":
		return true
	}
	return kdbxHas(it, name) || kdbxStandardName(it.Type, name)
}

// kdbxTOTP builds the item's TOTP value and names the KeePass fields it
// used.
func kdbxTOTP(title string, val func(string) string) (string, []string) {
	if v := strings.TrimSpace(val(kpOTP)); v != "" {
		if strings.HasPrefix(v, "key=") {
			// KeeOtp's form: key=SECRET&size=6&step=30&otpHashMode=Sha256.
			if q, err := url.ParseQuery(v); err == nil && q.Get("key") != "" && (q.Get("type") == "" || strings.EqualFold(q.Get("type"), "totp")) {
				period, digits := "30", "6"
				if _, err := strconv.Atoi(q.Get("step")); err == nil {
					period = q.Get("step")
				}
				if _, err := strconv.Atoi(q.Get("size")); err == nil {
					digits = q.Get("size")
				}
				return kdbxOTPAuth(title, kdbxSecret(q.Get("key")), period, digits, kdbxAlgorithm(q.Get("otpHashMode")), ""), []string{kpOTP}
			}
		}
		return v, []string{kpOTP}
	}
	if seed := kdbxSecret(val("TOTP Seed")); seed != "" {
		period, digits, algo, encoder := "30", "6", "", ""
		parts := strings.Split(strings.TrimSpace(val("TOTP Settings")), ";")
		if len(parts) >= 2 {
			if _, err := strconv.Atoi(parts[0]); err == nil {
				period = parts[0]
			}
			switch d := strings.TrimSpace(parts[1]); {
			case strings.EqualFold(d, "S"):
				digits, encoder = "5", "steam"
			default:
				if _, err := strconv.Atoi(d); err == nil {
					digits = d
				}
			}
		}
		if len(parts) >= 3 {
			algo = kdbxAlgorithm(parts[2])
		}
		return kdbxOTPAuth(title, seed, period, digits, algo, encoder), []string{"TOTP Seed", "TOTP Settings"}
	}
	if seed := kdbxSecret(val("TimeOtp-Secret-Base32")); seed != "" {
		period, digits := "30", "6"
		if p := strings.TrimSpace(val("TimeOtp-Period")); p != "" {
			if _, err := strconv.Atoi(p); err == nil {
				period = p
			}
		}
		if d := strings.TrimSpace(val("TimeOtp-Length")); d != "" {
			if _, err := strconv.Atoi(d); err == nil {
				digits = d
			}
		}
		algo := kdbxAlgorithm(val("TimeOtp-Algorithm"))
		return kdbxOTPAuth(title, seed, period, digits, algo, ""),
			[]string{"TimeOtp-Secret-Base32", "TimeOtp-Period", "TimeOtp-Length", "TimeOtp-Algorithm"}
	}
	return "", nil
}

// kdbxSecret normalises a base32 secret: no spaces or padding, upper case.
func kdbxSecret(s string) string {
	return strings.TrimRight(strings.ToUpper(strings.Join(strings.Fields(s), "")), "=")
}

func kdbxAlgorithm(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "HMAC-")
	s = strings.ReplaceAll(s, "-", "")
	switch s {
	case "SHA1", "SHA256", "SHA512":
		return s
	}
	return ""
}

// kdbxOTPAuth writes an otpauth:// URI.
func kdbxOTPAuth(title, secret, period, digits, algo, encoder string) string {
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("period", period)
	q.Set("digits", digits)
	if algo != "" {
		q.Set("algorithm", algo)
	}
	if encoder != "" {
		q.Set("encoder", encoder)
	}
	label := title
	if label == "" {
		label = "KeePass"
	}
	return "otpauth://totp/" + url.PathEscape(label) + "?" + q.Encode()
}

func kdbxFallbackTitle(u, user string) string {
	if u != "" {
		if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.Hostname() != "" {
			return build.Clip(p.Hostname(), item.MaxTitle)
		}
	}
	if s := strings.TrimSpace(user); s != "" {
		return build.Clip(s, item.MaxTitle)
	}
	return "Untitled"
}

func kdbxSize(n int) string { return kdbxSize64(int64(n)) }

func kdbxSize64(n int64) string {
	switch {
	case n < 0:
		return "unknown size"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// errKDBXShortAttachment marks an attachment whose compressed data ends
// early.
var errKDBXShortAttachment = errors.New("the attachment's compressed data ends early")

// kdbxBase64 decodes base64 leniently: whitespace anywhere and a missing
// end (padding, or the last partial group) are accepted.
func kdbxBase64(s string) ([]byte, bool) {
	s = strings.Join(strings.Fields(s), "")
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil
}

// kdbxCountCap bounds how far an oversized compressed attachment is
// decompressed just to report its size.
const kdbxCountCap = 1 << 30

// kdbxBinary is a decoded attachment: binary's results.
type kdbxBinary struct {
	data []byte
	size int64
	err  error
}

// binary returns a referenced attachment's content, or nil and its size
// (-1 when unknown) if it is larger than an item can hold. Each distinct
// attachment is decoded once; entries that share it share its bytes
// (nothing modifies them).
func (r *kdbxReader) binary(ref *kxValue) ([]byte, int64, error) {
	if ref == nil {
		return nil, 0, errors.New("the reference is damaged")
	}
	key := strings.TrimSpace(ref.Ref)
	if b, ok := r.binCache[key]; ok {
		return b.data, b.size, b.err
	}
	data, size, err := r.decodeBinary(ref)
	if r.binCache == nil {
		r.binCache = map[string]kdbxBinary{}
	}
	r.binCache[key] = kdbxBinary{data, size, err}
	return data, size, err
}

func (r *kdbxReader) decodeBinary(ref *kxValue) ([]byte, int64, error) {
	if ref == nil {
		return nil, 0, errors.New("the reference is damaged")
	}
	if r.f.major == 4 {
		i, err := strconv.Atoi(strings.TrimSpace(ref.Ref))
		if err != nil || i < 0 || i >= len(r.f.binaries) {
			return nil, 0, errors.New("the database does not hold it")
		}
		b := r.f.binaries[i]
		if len(b) > item.MaxAttachmentBytes {
			return nil, int64(len(b)), nil
		}
		return bytes.Clone(b), int64(len(b)), nil
	}
	mb := r.metaBinaries[strings.TrimSpace(ref.Ref)]
	if mb == nil {
		return nil, 0, errors.New("the database does not hold it")
	}
	raw := mb.Raw
	if !mb.Masked {
		var ok bool
		if raw, ok = kdbxBase64(mb.Text); !ok {
			return nil, 0, errors.New("its data is damaged")
		}
	}
	if len(raw) == 0 {
		// An empty file: KeePassXC writes it as an empty element, marked
		// compressed though there is nothing to decompress.
		return []byte{}, 0, nil
	}
	if !mb.Compressed {
		if len(raw) > item.MaxAttachmentBytes {
			return nil, int64(len(raw)), nil
		}
		return bytes.Clone(raw), int64(len(raw)), nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, errors.New("its compressed data is damaged")
	}
	data, err := io.ReadAll(io.LimitReader(zr, item.MaxAttachmentBytes+1))
	var short error
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// Some writers (gokeepasslib among them) leave off the end of the
		// compressed data; the file's own checks passed, so keep what is
		// there and say so.
		short = errKDBXShortAttachment
	} else if err != nil {
		return nil, 0, errors.New("its compressed data is damaged")
	}
	if len(data) <= item.MaxAttachmentBytes {
		return data, int64(len(data)), short
	}
	n, err := io.Copy(io.Discard, io.LimitReader(zr, kdbxCountCap))
	if err != nil || n == kdbxCountCap {
		return nil, -1, nil
	}
	return nil, int64(len(data)) + n, nil
}
