package kdbx

// The XML document inside a KDBX file, as far as Keyhold reads and writes
// it. Unknown elements are ignored when reading, so files from newer
// KeePass versions still open.

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"slices"
	"strings"
	"time"
)

type kxFile struct {
	XMLName xml.Name `xml:"KeePassFile"`
	Meta    kxMeta   `xml:"Meta"`
	Root    kxRoot   `xml:"Root"`
}

type kxMeta struct {
	Generator         string     `xml:"Generator"`
	HeaderHash        string     `xml:"HeaderHash,omitempty"`
	DatabaseName      string     `xml:"DatabaseName"`
	MemoryProtection  *kxMemProt `xml:"MemoryProtection,omitempty"`
	RecycleBinEnabled string     `xml:"RecycleBinEnabled"`
	RecycleBinUUID    string     `xml:"RecycleBinUUID"`
	HistoryMaxItems   string     `xml:"HistoryMaxItems,omitempty"`
	HistoryMaxSize    string     `xml:"HistoryMaxSize,omitempty"`
	Binaries          []*kxValue `xml:"Binaries>Binary"`
	CustomData        []kxCustom `xml:"CustomData>Item,omitempty"`
}

type kxMemProt struct {
	ProtectTitle    string `xml:"ProtectTitle"`
	ProtectUserName string `xml:"ProtectUserName"`
	ProtectPassword string `xml:"ProtectPassword"`
	ProtectURL      string `xml:"ProtectURL"`
	ProtectNotes    string `xml:"ProtectNotes"`
}

type kxRoot struct {
	Group *kxGroup `xml:"Group"`
}

type kxGroup struct {
	UUID    string    `xml:"UUID"`
	Name    string    `xml:"Name"`
	Notes   string    `xml:"Notes"`
	IconID  string    `xml:"IconID"`
	Times   kxTimes   `xml:"Times"`
	Entries []kxEntry `xml:"Entry"`
	Groups  []kxGroup `xml:"Group"`
}

type kxEntry struct {
	UUID            string      `xml:"UUID"`
	IconID          string      `xml:"IconID"`
	CustomIconUUID  string      `xml:"CustomIconUUID,omitempty"`
	ForegroundColor string      `xml:"ForegroundColor"`
	BackgroundColor string      `xml:"BackgroundColor"`
	OverrideURL     string      `xml:"OverrideURL"`
	Tags            string      `xml:"Tags"`
	Times           kxTimes     `xml:"Times"`
	Strings         []kxString  `xml:"String"`
	Binaries        []kxString  `xml:"Binary"`
	AutoType        *kxAutoType `xml:"AutoType"`
	CustomData      []kxCustom  `xml:"CustomData>Item,omitempty"`
	// History is nil in an earlier version: KeePassXC refuses a History
	// element there, even an empty one.
	History *kxHistory `xml:"History"`
}

type kxHistory struct {
	Entries []kxEntry `xml:"Entry"`
}

// history returns the entry's earlier versions.
func (e *kxEntry) history() []kxEntry {
	if e.History == nil {
		return nil
	}
	return e.History.Entries
}

type kxString struct {
	Key   string   `xml:"Key"`
	Value *kxValue `xml:"Value"`
}

type kxCustom struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type kxAutoType struct {
	Enabled         string    `xml:"Enabled"`
	Obfuscation     string    `xml:"DataTransferObfuscation"`
	DefaultSequence string    `xml:"DefaultSequence"`
	Associations    []kxAssoc `xml:"Association"`
}

type kxAssoc struct {
	Window   string `xml:"Window"`
	Sequence string `xml:"KeystrokeSequence"`
}

type kxTimes struct {
	LastModificationTime string `xml:"LastModificationTime"`
	CreationTime         string `xml:"CreationTime"`
	LastAccessTime       string `xml:"LastAccessTime"`
	ExpiryTime           string `xml:"ExpiryTime"`
	Expires              string `xml:"Expires"`
	UsageCount           string `xml:"UsageCount"`
	LocationChanged      string `xml:"LocationChanged"`
}

// kxValue is an element whose text may be masked by the inner stream
// (Protected="True"): a string's value, or a KDBX 3.1 attachment in the
// Meta section. Masked values must be unmasked in document order, so
// reading records where each one starts and writing masks each as it is
// written.
type kxValue struct {
	Text string
	// Raw is the unmasked content of a masked value.
	Raw []byte
	// Masked: Protected="True", the text is base64 of masked bytes.
	Masked bool
	// Hidden: the user marked the value protected (masked in a KDBX,
	// ProtectInMemory in a plain XML export).
	Hidden     bool
	Ref        string // a binary reference's Ref attribute
	ID         string // a Meta binary's ID attribute
	Compressed bool   // a Meta binary's Compressed attribute

	off    int64
	stream kdbxStream // set when writing a masked value
}

func kxTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

// UnmarshalXML records the value's attributes, text and position.
func (v *kxValue) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	v.off = d.InputOffset()
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "Protected":
			v.Masked = kxTrue(a.Value)
		case "ProtectInMemory":
			v.Hidden = kxTrue(a.Value)
		case "Ref":
			v.Ref = a.Value
		case "ID":
			v.ID = a.Value
		case "Compressed":
			v.Compressed = kxTrue(a.Value)
		}
	}
	v.Hidden = v.Hidden || v.Masked
	return d.DecodeElement(&v.Text, &start)
}

// MarshalXML writes the value, masking it with the stream if it has one.
func (v *kxValue) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if v.Ref != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "Ref"}, Value: v.Ref})
		return e.EncodeElement("", start)
	}
	text := v.Text
	if v.stream != nil {
		masked := []byte(v.Text)
		v.stream.XORKeyStream(masked, masked)
		text = base64.StdEncoding.EncodeToString(masked)
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "Protected"}, Value: "True"})
	}
	return e.EncodeElement(text, start)
}

// unmask decodes every masked value in document order.
func (f *kxFile) unmask(s kdbxStream) error {
	var vals []*kxValue
	vals = append(vals, f.Meta.Binaries...)
	var walkEntry func(e *kxEntry)
	walkEntry = func(e *kxEntry) {
		for _, s := range e.Strings {
			if s.Value != nil {
				vals = append(vals, s.Value)
			}
		}
		h := e.history()
		for i := range h {
			walkEntry(&h[i])
		}
	}
	var walk func(g *kxGroup)
	walk = func(g *kxGroup) {
		for i := range g.Entries {
			walkEntry(&g.Entries[i])
		}
		for i := range g.Groups {
			walk(&g.Groups[i])
		}
	}
	if f.Root.Group != nil {
		walk(f.Root.Group)
	}
	slices.SortStableFunc(vals, func(a, b *kxValue) int { return int(a.off - b.off) })
	for _, v := range vals {
		if v == nil || !v.Masked {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v.Text))
		if err != nil {
			return kdbxFormatErr("a protected value in the database is damaged")
		}
		s.XORKeyStream(raw, raw)
		v.Raw = raw
		v.Text = string(raw)
	}
	return nil
}

// parseKXTime reads a time written either as ISO 8601 (KDBX 3.1) or as
// base64 of seconds since year 1 (KDBX 4). It returns the zero time for
// anything else.
func parseKXTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return time.Time{}
	}
	secs := int64(binary.LittleEndian.Uint64(b))
	// Years 1 to 9999.
	if secs < 0 || secs > 315537897599 {
		return time.Time{}
	}
	return time.Unix(secs-62135596800, 0).UTC()
}

// formatKXTime writes a time the KDBX 4 way.
func formatKXTime(t time.Time) string {
	secs := t.Unix() + 62135596800
	if secs < 0 {
		secs = 0
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(secs))
	return base64.StdEncoding.EncodeToString(b[:])
}
