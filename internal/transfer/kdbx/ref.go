package kdbx

// KeePass field references: {REF:<Wanted>@<SearchIn>:<Text>} in a field's
// value stands for a field of another entry. KeePass documents them at
// https://keepass.info/help/base/fieldrefs.html and resolves them when a
// value is used; a Keyhold item has no references, so they are resolved
// once, at import, the way KeePass does:
//   - Wanted is T (title), U (user name), P (password), A (URL), N (notes)
//     or I (the entry's UUID, as 32 hex digits);
//   - SearchIn is one of the same letters or O (any other field); I finds
//     the entry whose UUID is Text, every other key the first entry, in
//     the database's order, whose field is Text exactly (KeePassXC's rule)
//     or, failing that, contains it ignoring case (KeePass's rule);
//   - a referenced value may itself hold references, followed up to
//     KeePass's depth of 12;
//   - the marker's letters are case-insensitive; a reference may be part of
//     a longer value.
// A reference that finds no entry, or names a field KeePass does not know,
// stays as text and is reported: the user then sees what to redo by hand.

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// kdbxRefDepth is how deeply KeePass follows references within
// references.
const kdbxRefDepth = 12

// kdbxRefEntry is one current entry as references see it: its values
// before any reference in them is resolved.
type kdbxRefEntry struct {
	uuid   string // 32 upper-case hex digits, or "" when unreadable
	values map[string]string
	keys   []string // in document order, for the O search
}

// kdbxRefs resolves references among a database's current entries.
type kdbxRefs struct {
	entries []*kdbxRefEntry
	byUUID  map[string]*kdbxRefEntry
	// done holds fields whose references are resolved; busy those being
	// resolved, to find loops.
	done map[kdbxRefKey]kdbxRefResult
	busy map[kdbxRefKey]bool
	// looped is set when a loop was met below the field being resolved.
	looped bool
}

// kdbxRefProblem is a reference that could not be resolved; it names the
// field sought and how, never the search text (which may be a secret).
type kdbxRefProblem struct {
	field string // the field holding the reference
	what  string
}

func (p kdbxRefProblem) String() string {
	return fmt.Sprintf("field %q: a KeePass field reference (%s) could not be resolved; it was kept as text", p.field, p.what)
}

// kdbxUUIDHex turns a KDBX UUID (base64 of 16 bytes) into the hex form
// references use.
func kdbxUUIDHex(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(b) != 16 {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// newKDBXRefs indexes the current entries of the tree in KeePass's search
// order: a group's entries, then its subgroups, depth first.
func newKDBXRefs(root *kxGroup) *kdbxRefs {
	x := &kdbxRefs{byUUID: map[string]*kdbxRefEntry{}}
	var walk func(g *kxGroup)
	walk = func(g *kxGroup) {
		for i := range g.Entries {
			e := &g.Entries[i]
			re := &kdbxRefEntry{uuid: kdbxUUIDHex(e.UUID), values: map[string]string{}}
			for _, s := range e.Strings {
				if s.Value == nil {
					continue
				}
				if _, dup := re.values[s.Key]; !dup {
					re.keys = append(re.keys, s.Key)
				}
				re.values[s.Key] = s.Value.Text
			}
			x.entries = append(x.entries, re)
			if re.uuid != "" {
				if _, dup := x.byUUID[re.uuid]; !dup {
					x.byUUID[re.uuid] = re
				}
			}
		}
		for i := range g.Groups {
			walk(&g.Groups[i])
		}
	}
	if root != nil {
		walk(root)
	}
	return x
}

// kdbxRefField maps a reference letter to KeePass's field name.
func kdbxRefField(c byte) (string, bool) {
	switch c | 0x20 { // lower case
	case 't':
		return kpTitle, true
	case 'u':
		return kpUserName, true
	case 'p':
		return kpPassword, true
	case 'a':
		return kpURL, true
	case 'n':
		return kpNotes, true
	}
	return "", false
}

// kdbxRefNames names a reference's letters in a problem line.
var kdbxRefNames = map[byte]string{'t': "title", 'u': "user name", 'p': "password", 'a': "URL", 'n': "notes", 'i': "UUID", 'o': "other fields"}

// resolveEntry resolves the references in every value of an entry (a
// current one or an earlier version) and returns what could not be.
func (x *kdbxRefs) resolveEntry(e *kxEntry) []kdbxRefProblem {
	var problems []kdbxRefProblem
	for _, s := range e.Strings {
		if s.Value == nil || !kdbxHasRef(s.Value.Text) {
			continue
		}
		text, secret, bad := x.resolve(s.Value.Text, 0)
		for _, b := range bad {
			problems = append(problems, kdbxRefProblem{field: s.Key, what: b})
		}
		s.Value.Text = text
		// A secret pulled into a field of the user's own stays hidden;
		// KeePass's standard fields keep their own kind.
		if secret && !kdbxStandardKey(s.Key) {
			s.Value.Hidden = true
		}
	}
	return problems
}

func kdbxStandardKey(k string) bool {
	switch k {
	case kpTitle, kpUserName, kpPassword, kpURL, kpNotes:
		return true
	}
	return false
}

// kdbxHasRef reports whether s may hold a reference.
func kdbxHasRef(s string) bool { return kdbxRefIndex(s) >= 0 }

// kdbxRefIndex finds "{REF:" in any case, comparing ASCII only so that the
// offset is one in s (upper-casing the whole string can change the length
// of other characters).
func kdbxRefIndex(s string) int {
	for i := 0; i+5 <= len(s); i++ {
		if s[i] == '{' && s[i+4] == ':' && s[i+1]|0x20 == 'r' && s[i+2]|0x20 == 'e' && s[i+3]|0x20 == 'f' {
			return i
		}
	}
	return -1
}

// resolve replaces every reference in s. secret reports that a password
// or a protected value was put in; bad describes each reference left as
// text.
func (x *kdbxRefs) resolve(s string, depth int) (out string, secret bool, bad []string) {
	var b strings.Builder
	rest := s
	for {
		i := kdbxRefIndex(rest)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			b.WriteString(rest)
			break
		}
		ref := rest[i : i+end+1]
		b.WriteString(rest[:i])
		rest = rest[i+end+1:]
		val, sec, why := x.lookup(ref[len("{REF:"):len(ref)-1], depth)
		if why != "" {
			bad = append(bad, why)
			b.WriteString(ref)
			continue
		}
		secret = secret || sec
		b.WriteString(val)
		if b.Len() > kdbxRefMaxValue {
			return s, false, []string{"a value that grows too large through references"}
		}
	}
	return b.String(), secret, bad
}

// lookup resolves the inside of one reference ("P@I:…").
func (x *kdbxRefs) lookup(spec string, depth int) (string, bool, string) {
	if len(spec) < 4 || spec[1] != '@' || spec[3] != ':' {
		return "", false, "not in KeePass's {REF:X@Y:text} form"
	}
	wanted, in, text := spec[0]|0x20, spec[2]|0x20, spec[4:]
	wname, win := kdbxRefNames[wanted], kdbxRefNames[in]
	if wname == "" || wanted == 'o' || win == "" {
		return "", false, "a field KeePass does not know"
	}
	what := wname + " of the entry "
	if in == 'i' {
		what += "with UUID " + strings.ToUpper(strings.TrimSpace(text))
	} else {
		what += "whose " + win + " contains the text given"
	}
	if depth >= kdbxRefDepth {
		return "", false, what + ", nested too deeply or in a loop"
	}
	target := x.find(in, text)
	if target == nil {
		return "", false, what + ", which is not in the file"
	}
	if wanted == 'i' {
		return target.uuid, false, ""
	}
	name, _ := kdbxRefField(wanted)
	key := kdbxRefKey{target, name}
	if r, ok := x.done[key]; ok {
		if r.bad != "" {
			return "", false, what + r.bad
		}
		return r.val, r.secret, ""
	}
	if x.busy[key] {
		x.looped = true
		return "", false, what + ", which is part of a loop of references"
	}
	val := target.values[name]
	secret := wanted == 'p'
	var r kdbxRefResult
	if kdbxHasRef(val) {
		if x.busy == nil {
			x.busy, x.done = map[kdbxRefKey]bool{}, map[kdbxRefKey]kdbxRefResult{}
		}
		x.busy[key] = true
		outer := x.looped
		x.looped = false
		v, sec, bad := x.resolve(val, depth+1)
		looped := x.looped
		x.looped = outer || looped
		delete(x.busy, key)
		val, secret = v, secret || sec
		switch {
		case looped:
			r.bad = ", which is part of a loop of references"
		case len(bad) > 0:
			r.bad = ", whose own value holds a reference that could not be resolved"
		case len(val) > kdbxRefMaxValue:
			r.bad = ", whose value grows too large through nested references"
		}
		// Each field is resolved once, however many references lead to
		// it: a hostile file cannot make the work grow exponentially.
		r.val, r.secret = val, secret
		x.done[key] = r
	}
	if r.bad != "" {
		return "", false, what + r.bad
	}
	return val, secret, ""
}

// kdbxRefMaxValue bounds a value assembled from references; past it the
// reference is reported, so nested references cannot fill memory.
const kdbxRefMaxValue = 1 << 20

// kdbxRefKey is one field of one entry.
type kdbxRefKey struct {
	e     *kdbxRefEntry
	field string
}

// kdbxRefResult is a field's value with its references resolved.
type kdbxRefResult struct {
	val    string
	secret bool
	bad    string
}

// find returns the entry a search key and text select, as KeePass does.
func (x *kdbxRefs) find(in byte, text string) *kdbxRefEntry {
	if in == 'i' {
		u := strings.ToUpper(strings.TrimSpace(text))
		u = strings.NewReplacer("-", "", "{", "", "}", "").Replace(u)
		return x.byUUID[u]
	}
	if text == "" {
		return nil
	}
	match := func(e *kdbxRefEntry, ok func(string) bool) bool {
		if in == 'o' {
			for _, k := range e.keys {
				if !kdbxStandardKey(k) && ok(e.values[k]) {
					return true
				}
			}
			return false
		}
		name, _ := kdbxRefField(in)
		return ok(e.values[name])
	}
	// An entry whose field is the text exactly (KeePassXC's rule) comes
	// first; else the first whose field contains it, ignoring case
	// (KeePass's rule). Both agree whenever the reference is unambiguous.
	exact := func(v string) bool { return v == text }
	needle := strings.ToLower(text)
	contains := func(v string) bool { return strings.Contains(strings.ToLower(v), needle) }
	for _, ok := range []func(string) bool{exact, contains} {
		for _, e := range x.entries {
			if match(e, ok) {
				return e
			}
		}
	}
	return nil
}
