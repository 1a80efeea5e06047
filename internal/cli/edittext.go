package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/keyhold/keyhold/internal/item"
)

// The text form `keyhold edit` opens in the editor (docs/CLI.md, "The edit
// text"). One entry per line, KEY: VALUE:
//
//	title: GitHub
//	username: alice
//	password [hidden]: Tr0ub4dor&3
//	url: https://github.com
//	tag: work
//	favorite: no
//	match: default
//	notes: |
//	  first line
//	  second line
//
// The keys title, type, url, tag, favorite, match and notes are the
// item's own; any other key is a field. A field's kind is written in
// brackets unless it is text (a standard field may leave it out: its kind
// is its type's).
// A value is written as it is, or, where it would not survive an editor
// (leading or trailing blanks, control characters, a leading quote), as a
// Go-quoted string; a value of several lines may be a block: "|" then the
// lines, each indented by two spaces. Lines starting with # are comments.
// Parsing is strict: an unknown key or kind, a bad URL, a changed type or
// a quoted string that does not close is an error naming the line.

// itemKeys are the keys that are not fields.
var itemKeys = map[string]bool{"title": true, "type": true, "url": true, "tag": true, "favorite": true, "match": true, "notes": true}

// renderEditText writes an item in the edit text form, after a header of
// comments.
func renderEditText(it *item.Item, header []string) string {
	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + h + "\n")
	}
	writeEntry(&b, "title", it.Title)
	b.WriteString("type: " + string(it.Type) + "\n")
	for _, f := range it.Fields {
		key := f.Name
		if needsQuote(key) || strings.ContainsAny(key, ":[]#") {
			key = strconv.Quote(key)
		}
		std, isStd := standardKind(it.Type, f.Name)
		if f.Kind != item.Text || itemKeys[strings.ToLower(f.Name)] || (isStd && std != f.Kind) {
			key += " [" + string(f.Kind) + "]"
		}
		writeEntry(&b, key, f.Value)
	}
	for _, u := range it.URLs {
		writeEntry(&b, "url", u)
	}
	for _, t := range it.Tags {
		writeEntry(&b, "tag", t)
	}
	if it.Favorite {
		b.WriteString("favorite: yes\n")
	} else {
		b.WriteString("favorite: no\n")
	}
	// Written even when unset, as "default", so that the setting can be
	// found where it is changed.
	if it.Match == item.MatchDefault {
		b.WriteString("match: default\n")
	} else {
		writeEntry(&b, "match", it.Match)
	}
	writeEntry(&b, "notes", it.Notes)
	for _, a := range it.Attachments {
		fmt.Fprintf(&b, "# attachment (kept; keyhold attachment changes it): %s, %s\n", strconv.Quote(a.Name), byteSize(len(a.Data)))
	}
	return b.String()
}

func standardKind(t item.Type, name string) (item.Kind, bool) {
	for _, sf := range item.StandardFields[t] {
		if strings.EqualFold(sf.Name, name) {
			return sf.Kind, true
		}
	}
	return "", false
}

// writeEntry writes KEY: VALUE in the plainest form that reads back
// exactly.
func writeEntry(b *strings.Builder, key, v string) {
	switch {
	case v == "":
		b.WriteString(key + ":\n")
	case !needsQuote(v):
		b.WriteString(key + ": " + v + "\n")
	case blockable(v):
		b.WriteString(key + ": |\n")
		for _, l := range strings.Split(v, "\n") {
			if l == "" {
				b.WriteString("\n")
			} else {
				b.WriteString("  " + l + "\n")
			}
		}
	default:
		b.WriteString(key + ": " + strconv.Quote(v) + "\n")
	}
}

// needsQuote reports values that would not read back as they are on one
// plain line.
func needsQuote(v string) bool {
	if v == "" || v == "|" || strings.HasPrefix(v, `"`) || strings.TrimSpace(v) != v {
		return true
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8RuneError {
			return true
		}
	}
	return false
}

const utf8RuneError = '\uFFFD'

// blockable reports multi-line values whose every line reads back from a
// block: no line with blanks at its ends or control characters, no empty
// first or last line.
func blockable(v string) bool {
	if !strings.Contains(v, "\n") {
		return false
	}
	lines := strings.Split(v, "\n")
	if lines[0] == "" || lines[len(lines)-1] == "" {
		return false
	}
	for _, l := range lines {
		if l != "" && needsQuote(l) && !strings.HasPrefix(l, `"`) && l != "|" {
			return false
		}
		if l != "" && strings.TrimSpace(l) != l {
			return false
		}
	}
	return true
}

// editParseError is a mistake in the edited text, at a line.
type editParseError struct {
	line int
	msg  string
}

func (e *editParseError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// errEmptyEdit is an edited text with nothing in it but blanks and
// comments: the user cancelled.
var errEmptyEdit = errors.New("the edited text is empty")

// parseEditText reads the edit text into a copy of orig: the fields, URLs,
// tags, notes, title, favourite mark and match setting come from the
// text; the type, times, trash state and attachments from orig.
func parseEditText(text string, orig *item.Item) (*item.Item, error) {
	it := orig.Clone()
	it.Fields, it.URLs, it.Tags, it.Notes = nil, nil, nil, ""
	seen := map[string]bool{}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	empty := true
	for i := 0; i < len(lines); i++ {
		ln := i + 1
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		empty = false
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			return nil, &editParseError{ln, "an indented line outside a block (a value of several lines starts with \"KEY: |\")"}
		}
		key, kind, rest, err := splitEntry(l)
		if err != nil {
			return nil, &editParseError{ln, err.Error()}
		}
		var val string
		switch {
		case rest == "|":
			var blk []string
			j := i + 1
			for ; j < len(lines); j++ {
				if strings.HasPrefix(lines[j], "  ") {
					blk = append(blk, lines[j][2:])
					continue
				}
				if strings.TrimSpace(lines[j]) == "" {
					// An empty line belongs to the block if an
					// indented line follows.
					k := j
					for k < len(lines) && strings.TrimSpace(lines[k]) == "" {
						k++
					}
					if k < len(lines) && strings.HasPrefix(lines[k], "  ") {
						for ; j < k; j++ {
							blk = append(blk, "")
						}
						j--
						continue
					}
				}
				break
			}
			if len(blk) == 0 {
				return nil, &editParseError{ln, "\"|\" starts a block, but no line indented by two spaces follows"}
			}
			val = strings.Join(blk, "\n")
			i = j - 1
		case strings.HasPrefix(rest, `"`):
			v, err := strconv.Unquote(rest)
			if err != nil {
				return nil, &editParseError{ln, "a value that starts with \" must be one quoted string (as in Go: \\\" \\\\ \\n \\t)"}
			}
			val = v
		default:
			val = rest
		}
		lk := strings.ToLower(key)
		if kind == "" && itemKeys[lk] {
			if err := setItemKey(it, orig, lk, val, seen); err != nil {
				return nil, &editParseError{ln, err.Error()}
			}
			continue
		}
		k := item.Kind(kind)
		std, isStd := standardKind(it.Type, key)
		switch {
		case kind == "" && isStd:
			k = std
		case kind == "":
			k = item.Text
		}
		switch k {
		case item.Text, item.Hidden, item.URL, item.TOTP:
		default:
			return nil, &editParseError{ln, fmt.Sprintf("unknown kind [%s] (one of text, hidden, url, totp)", kind)}
		}
		// Values are checked as the flags check them, unless they are
		// as they were: an imported value the checks would refuse must
		// not stop an edit of something else.
		unchanged := slices.ContainsFunc(orig.Fields, func(f item.Field) bool { return strings.EqualFold(f.Name, key) && f.Value == val })
		if k == item.URL && !unchanged {
			if checkURL(val) != nil {
				return nil, &editParseError{ln, fmt.Sprintf("the value of %q is not a URL", key)}
			}
		}
		if k == item.TOTP && val != "" && !unchanged {
			nv, err := normalizeTOTP(val)
			if err != nil {
				return nil, &editParseError{ln, err.Error()}
			}
			val = nv
		}
		name := key
		custom := !isStd
		if isStd {
			for _, sf := range item.StandardFields[it.Type] {
				if strings.EqualFold(sf.Name, key) {
					name = sf.Name
				}
			}
		}
		for _, of := range orig.Fields {
			if of.Name == name {
				custom = of.Custom
				break
			}
		}
		it.Fields = append(it.Fields, item.Field{Name: name, Kind: k, Value: val, Custom: custom})
	}
	if empty {
		return nil, errEmptyEdit
	}
	if !seen["title"] || strings.TrimSpace(it.Title) == "" {
		return nil, &editParseError{0, "the title is missing or empty"}
	}
	if err := it.Validate(); err != nil {
		return nil, &editParseError{0, err.Error()}
	}
	return it, nil
}

// splitEntry splits KEY [KIND]: VALUE, where KEY may be Go-quoted.
func splitEntry(l string) (key, kind, rest string, err error) {
	var after string
	if strings.HasPrefix(l, `"`) {
		q, err := strconv.QuotedPrefix(l)
		if err != nil {
			return "", "", "", errors.New("a quoted name does not close")
		}
		key, _ = strconv.Unquote(q)
		after = l[len(q):]
	} else {
		i := strings.IndexAny(l, ":[")
		if i < 0 {
			return "", "", "", errors.New("expected NAME: VALUE")
		}
		key, after = strings.TrimSpace(l[:i]), l[i:]
	}
	after = strings.TrimLeft(after, " ")
	if strings.HasPrefix(after, "[") {
		j := strings.IndexByte(after, ']')
		if j < 0 {
			return "", "", "", errors.New("a [kind] does not close")
		}
		kind = strings.TrimSpace(after[1:j])
		if kind == "" {
			return "", "", "", errors.New("an empty [kind]")
		}
		after = strings.TrimLeft(after[j+1:], " ")
	}
	if !strings.HasPrefix(after, ":") {
		return "", "", "", errors.New("expected NAME: VALUE")
	}
	if key == "" {
		return "", "", "", errors.New("a field without a name")
	}
	return key, kind, strings.TrimSpace(after[1:]), nil
}

func setItemKey(it, orig *item.Item, key, val string, seen map[string]bool) error {
	single := key == "title" || key == "type" || key == "favorite" || key == "match" || key == "notes"
	if single && seen[key] {
		return fmt.Errorf("%q given twice", key)
	}
	seen[key] = true
	switch key {
	case "title":
		it.Title = val
	case "type":
		if !strings.EqualFold(val, string(orig.Type)) {
			return fmt.Errorf("the type cannot be changed (it is %s); add a new item of the other type instead", orig.Type)
		}
	case "url":
		if !slices.Contains(orig.URLs, val) && checkURL(val) != nil {
			return errors.New("the url is not a URL")
		}
		it.URLs = append(it.URLs, val)
	case "tag":
		if val != "" {
			it.Tags = append(it.Tags, val)
		}
	case "favorite":
		switch strings.ToLower(val) {
		case "yes", "true":
			it.Favorite = true
		case "no", "false", "":
			it.Favorite = false
		default:
			return fmt.Errorf("favorite is yes or no, not %q", val)
		}
	case "match":
		m, err := item.ParseMatch(val)
		if err != nil {
			return err
		}
		it.Match = m
	case "notes":
		it.Notes = val
	}
	return nil
}
