package manifest

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// AssetMeta is how index.html's asset table begins; the table ends at the
// next "'>". The source index.html carries it with content='{}' and the
// generator fills it in (docs/WEB.md).
const (
	AssetMeta    = `<meta name="keyhold-assets" content='`
	assetMetaEnd = `'>`
)

// Asset is one file of the build in the asset table: where it is served,
// its Subresource Integrity string and its size in bytes (uncompressed).
type Asset struct {
	Path      string `json:"path"`
	Integrity string `json:"integrity"`
	Size      int64  `json:"size"`
}

// AssetTable is the JSON object of index.html's asset table: one Asset per
// source file name ("keyhold.wasm", "wasm_exec.js", "worker.js", …), plus
// "manifest" (the build's ID) and "version" (its short form).
type AssetTable struct {
	Assets   map[string]Asset
	Manifest string
	Version  string
}

// Reserved names of the asset table that are not assets.
const (
	keyManifest = "manifest"
	keyVersion  = "version"
)

// MarshalJSON writes the table as one flat object, keys sorted.
func (t *AssetTable) MarshalJSON() ([]byte, error) {
	names := make([]string, 0, len(t.Assets))
	for n := range t.Assets {
		names = append(names, n)
	}
	names = append(names, keyManifest, keyVersion)
	slices.Sort(names)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteByte(':')
		var v []byte
		var err error
		switch n {
		case keyManifest:
			v, err = json.Marshal(t.Manifest)
		case keyVersion:
			v, err = json.Marshal(t.Version)
		default:
			v, err = json.Marshal(t.Assets[n])
		}
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads the flat object strictly: every key but "manifest"
// and "version" is an Asset with a valid path.
func (t *AssetTable) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	t.Assets = map[string]Asset{}
	for k, v := range raw {
		switch k {
		case keyManifest:
			if err := json.Unmarshal(v, &t.Manifest); err != nil {
				return fmt.Errorf("manifest: %v", err)
			}
		case keyVersion:
			if err := json.Unmarshal(v, &t.Version); err != nil {
				return fmt.Errorf("version: %v", err)
			}
		default:
			var a Asset
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil {
				return fmt.Errorf("%q: %v", k, err)
			}
			if !ValidPath(a.Path) || a.Size < 0 {
				return fmt.Errorf("%q: bad path or size", k)
			}
			t.Assets[k] = a
		}
	}
	if len(t.Assets) > MaxFiles {
		return fmt.Errorf("%d assets", len(t.Assets))
	}
	return nil
}

// FindAssetTable reads the asset table out of index.html as the generator
// writes it. It returns an error wrapping ErrInvalid when there is none
// or it does not parse (a page that is not a Keyhold build, or one from
// no generator).
func FindAssetTable(html []byte) (*AssetTable, error) {
	if len(html) > 8*MaxSize {
		return nil, fmt.Errorf("%w: page longer than %d bytes", ErrInvalid, 8*MaxSize)
	}
	i := bytes.Index(html, []byte(AssetMeta))
	if i < 0 {
		return nil, fmt.Errorf("%w: the page has no asset table", ErrInvalid)
	}
	rest := html[i+len(AssetMeta):]
	j := bytes.Index(rest, []byte(assetMetaEnd))
	if j < 0 || j > MaxSize {
		return nil, fmt.Errorf("%w: the asset table does not end", ErrInvalid)
	}
	if bytes.Contains(rest[j:], []byte(AssetMeta)) {
		return nil, fmt.Errorf("%w: the page has two asset tables", ErrInvalid)
	}
	var t AssetTable
	if err := json.Unmarshal(rest[:j], &t); err != nil {
		return nil, fmt.Errorf("%w: asset table: %v", ErrInvalid, err)
	}
	return &t, nil
}

// Integrity is the Subresource Integrity string of b: "sha384-" and the
// base64 of its SHA-384.
func Integrity(b []byte) string {
	s := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(s[:])
}

// attrSafe reports whether s may stand inside a single-quoted HTML
// attribute unescaped.
func attrSafe(s string) bool {
	return !strings.ContainsAny(s, "'&<>")
}

// Element returns the asset table's whole <meta> element as the
// generator writes it into index.html.
func (t *AssetTable) Element() (string, error) {
	b, err := t.MarshalJSON()
	if err != nil {
		return "", err
	}
	if !attrSafe(string(b)) {
		return "", fmt.Errorf("the asset table holds a character that cannot stand in an HTML attribute: %s", b)
	}
	return AssetMeta + string(b) + assetMetaEnd, nil
}
