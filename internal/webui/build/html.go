package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/internal/webui/manifest"
)

// assetPlaceholder is the asset table as the source index.html carries it.
const assetPlaceholder = manifest.AssetMeta + `{}'>`

// attr is one attribute of a start tag, with where its value lies in the
// document (vStart == vEnd == -1 when it has none).
type attr struct {
	name         string
	value        string
	vStart, vEnd int
}

// rewriteIndex rewrites every src and href of index.html that names a
// file of the build to its served path, adds Subresource Integrity to
// scripts, style sheets and module preloads, fills in the asset table, and
// refuses what the Content-Security-Policy would block anyway: inline
// scripts, <style> elements, style attributes, event handler attributes
// and scripts from elsewhere.
func rewriteIndex(src []byte, t *manifest.AssetTable) ([]byte, error) {
	el, err := t.Element()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	last := 0
	tables := 0
	for i := 0; i < len(src); {
		if bytes.HasPrefix(src[i:], []byte("<!--")) {
			j := bytes.Index(src[i+4:], []byte("-->"))
			if j < 0 {
				return nil, errors.New("a comment does not end")
			}
			i += 4 + j + 3
			continue
		}
		if src[i] != '<' || i+1 >= len(src) || !isLetter(src[i+1]) {
			i++
			continue
		}
		name, attrs, end, err := parseTag(src, i)
		if err != nil {
			return nil, err
		}
		ins, err := checkTag(name, attrs, t)
		if err != nil {
			return nil, err
		}
		if name == "meta" && attrValue(attrs, "name") == "keyhold-assets" {
			// The asset table, however the source wrote it: replaced
			// whole.
			tables++
			ins = []edit{{at: i, skip: end, text: el}}
		}
		for _, e := range ins {
			out.Write(src[last:e.at])
			out.WriteString(e.text)
			last = e.skip
		}
		i = end
		switch name {
		case "script":
			j := indexFold(src[i:], "</script")
			if j < 0 {
				return nil, errors.New("a <script> element does not end")
			}
			if len(bytes.TrimSpace(src[i:i+j])) != 0 {
				return nil, errors.New("an inline <script> (the Content-Security-Policy allows only script files: move it into a .js file)")
			}
			i += j
		case "style":
			return nil, errors.New("a <style> element (the Content-Security-Policy allows only style sheet files: use a .css file)")
		}
	}
	out.Write(src[last:])
	page := out.Bytes()
	switch tables {
	case 1:
		return page, nil
	case 0:
		// No table in the source: put it at the end of <head>.
		j := indexFold(page, "</head>")
		if j < 0 {
			return nil, errors.New("no asset table and no </head> to put it before")
		}
		return bytes.Join([][]byte{page[:j], []byte(el + "\n"), page[j:]}, nil), nil
	}
	return nil, fmt.Errorf("%d asset tables: write one, %s", tables, assetPlaceholder)
}

func attrValue(attrs []attr, name string) string {
	for _, a := range attrs {
		if a.name == name {
			return a.value
		}
	}
	return ""
}

// edit replaces src[at:skip] with text.
type edit struct {
	at, skip int
	text     string
}

// checkTag applies the page rules to one start tag and returns the edits
// it needs, in document order.
func checkTag(name string, attrs []attr, t *manifest.AssetTable) ([]edit, error) {
	var edits []edit
	has := map[string]*attr{}
	for i := range attrs {
		a := &attrs[i]
		has[a.name] = a
		if a.name == "style" || strings.HasPrefix(a.name, "on") {
			return nil, fmt.Errorf("<%s %s=…> (the Content-Security-Policy blocks inline styles and event handler attributes: use a class, or addEventListener in a .js file)", name, a.name)
		}
	}
	if has["integrity"] != nil {
		return nil, fmt.Errorf("<%s> already has an integrity attribute: the build adds it", name)
	}
	needsSRI := name == "script"
	if name == "link" && has["rel"] != nil {
		for _, r := range strings.Fields(strings.ToLower(has["rel"].value)) {
			needsSRI = needsSRI || r == "stylesheet" || r == "modulepreload"
		}
	}
	for _, a := range attrs {
		if (a.name != "src" && a.name != "href") || a.vStart < 0 {
			continue
		}
		asset, ok := t.Assets[strings.TrimPrefix(a.value, "./")]
		if !ok {
			if needsSRI {
				return nil, fmt.Errorf("<%s %s=%q> names no file of the app (scripts and style sheets come from the app only)", name, a.name, a.value)
			}
			continue
		}
		text := asset.Path
		if needsSRI {
			// Close the value's quotes ourselves: write the whole
			// quoted value and the new attribute after it.
			text = asset.Path + `" integrity="` + asset.Integrity
		}
		edits = append(edits, edit{at: a.vStart, skip: a.vEnd, text: text})
	}
	if name == "script" && has["src"] == nil {
		return nil, nil // an inline script: the caller refuses it
	}
	return edits, nil
}

// parseTag reads the start tag at src[i] ('<' then a letter) and returns
// its lowercased name, its attributes, and the offset after its '>'. Only
// double-quoted values may be rewritten: vStart/vEnd are set for them.
func parseTag(src []byte, i int) (name string, attrs []attr, end int, err error) {
	j := i + 1
	for j < len(src) && !isSpace(src[j]) && src[j] != '>' && src[j] != '/' {
		j++
	}
	name = strings.ToLower(string(src[i+1 : j]))
	for {
		for j < len(src) && (isSpace(src[j]) || src[j] == '/') {
			j++
		}
		if j >= len(src) {
			return "", nil, 0, fmt.Errorf("the tag <%s> does not end", name)
		}
		if src[j] == '>' {
			return name, attrs, j + 1, nil
		}
		k := j
		for k < len(src) && !isSpace(src[k]) && src[k] != '=' && src[k] != '>' && src[k] != '/' {
			k++
		}
		a := attr{name: strings.ToLower(string(src[j:k])), vStart: -1, vEnd: -1}
		j = k
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j < len(src) && src[j] == '=' {
			j++
			for j < len(src) && isSpace(src[j]) {
				j++
			}
			if j >= len(src) {
				return "", nil, 0, fmt.Errorf("the tag <%s> does not end", name)
			}
			switch q := src[j]; q {
			case '"', '\'':
				e := bytes.IndexByte(src[j+1:], q)
				if e < 0 {
					return "", nil, 0, fmt.Errorf("an attribute of <%s> does not end", name)
				}
				a.value = string(src[j+1 : j+1+e])
				if q == '"' {
					a.vStart, a.vEnd = j+1, j+1+e
				} else if a.name == "src" || a.name == "href" {
					return "", nil, 0, fmt.Errorf("<%s %s='…'>: write src and href with double quotes", name, a.name)
				}
				j = j + 1 + e + 1
			default:
				e := j
				for e < len(src) && !isSpace(src[e]) && src[e] != '>' {
					e++
				}
				a.value = string(src[j:e])
				if a.name == "src" || a.name == "href" {
					return "", nil, 0, fmt.Errorf("<%s %s=%s>: write src and href with double quotes", name, a.name, a.value)
				}
				j = e
			}
		}
		attrs = append(attrs, a)
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// indexFold is bytes.Index, ignoring ASCII case.
func indexFold(b []byte, s string) int {
	return bytes.Index(bytes.ToLower(b), []byte(s))
}
