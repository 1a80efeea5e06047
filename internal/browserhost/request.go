package browserhost

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/jsonscan"
)

// Version is the protocol version this host speaks: the "v" of every
// request and response (protocol v1, docs/BROWSER.md).
const Version = 1

// Limits on a request. The extension's requests are a few hundred bytes;
// the limits are far above what it sends and far below what could cost the
// host memory or time.
const (
	// MaxRequest bounds a whole request, below nativemsg.MaxMessage.
	MaxRequest = 64 << 10
	// MaxOrigin bounds origin and top_origin: the browser reports an
	// origin (scheme, host, port), which DNS limits to 253 characters
	// of host, but a full URL is accepted too.
	MaxOrigin = 4096
	// MaxPassword bounds a password: more than any site takes.
	MaxPassword = 4096
	// MaxUsername bounds a username.
	MaxUsername = 1024
	// MaxTitle bounds an item title (item.MaxTitle).
	MaxTitle = 1024
	// MaxQuery bounds a search query.
	MaxQuery = 1024
	// MaxItemID bounds an item id (a UUID has 36 characters).
	MaxItemID = 64
	// MaxAncestors bounds ancestor_origins: frames nest a few deep on
	// real pages.
	MaxAncestors = 32
	// maxID is the largest request id: JavaScript's largest safe integer,
	// so that the extension's counter round-trips exactly.
	maxID = 1<<53 - 1
)

// Ops of protocol v1.
const (
	OpStatus     = "status"
	OpUnlock     = "unlock"
	OpLock       = "lock"
	OpCandidates = "candidates"
	OpSearch     = "search"
	OpFill       = "fill"
	OpCopy       = "copy"
	OpGenerate   = "generate"
	OpSaveCheck  = "save_check"
	OpSave       = "save"
	OpUpdate     = "update"
)

// field is one request field other than v, id and op.
type field uint16

const (
	fOrigin field = 1 << iota
	fTopOrigin
	fExact
	fQuery
	fItem
	fField
	fUsername
	fPassword
	fTitle
	fAncestors
)

// fields names each field and bounds its length (exact is a boolean).
var fields = []struct {
	name string
	f    field
	max  int
}{
	{"origin", fOrigin, MaxOrigin}, {"top_origin", fTopOrigin, MaxOrigin}, {"exact", fExact, 0},
	{"query", fQuery, MaxQuery}, {"item", fItem, MaxItemID}, {"field", fField, 16},
	{"username", fUsername, MaxUsername}, {"password", fPassword, MaxPassword}, {"title", fTitle, MaxTitle},
	{"ancestor_origins", fAncestors, MaxOrigin},
}

func fieldByName(name string) (field, int, bool) {
	for _, f := range fields {
		if f.name == name {
			return f.f, f.max, true
		}
	}
	return 0, 0, false
}

// opFields says, per op, which fields a request may carry and which it
// must. Anything else is refused, so a request never means something the
// host did not intend (a stray "origin" in a copy, say).
var opFields = map[string]struct{ allowed, required field }{
	OpStatus:     {},
	OpUnlock:     {fPassword, fPassword},
	OpLock:       {},
	OpCandidates: {fOrigin | fTopOrigin | fAncestors | fExact, fOrigin},
	OpSearch:     {fQuery | fOrigin | fExact, 0},
	OpFill:       {fItem | fOrigin | fTopOrigin | fAncestors | fExact, fItem | fOrigin | fTopOrigin},
	OpCopy:       {fItem | fField, fItem | fField},
	OpGenerate:   {fOrigin | fTopOrigin | fAncestors, 0},
	OpSaveCheck:  {fOrigin | fUsername | fPassword | fExact, fOrigin | fPassword},
	OpSave:       {fOrigin | fTitle | fUsername | fPassword, fOrigin | fPassword},
	OpUpdate:     {fItem | fOrigin | fUsername | fPassword | fExact, fItem | fOrigin | fPassword},
}

// Request is one decoded request. Password is the only secret a request
// carries: it is kept in a byte slice that Wipe clears, never a string.
type Request struct {
	ID        int64
	Op        string
	Origin    string
	TopOrigin string
	Exact     bool
	Query     string
	Item      string
	Field     string
	Username  string
	Title     string
	// AncestorOrigins are the origins of the frames around the target
	// frame, the top first, as the browser reports them; nil when the
	// request has none.
	AncestorOrigins []string
	Password        []byte
}

// Wipe clears the password.
func (r *Request) Wipe() {
	clear(r.Password)
	r.Password = nil
}

// DecodeError says why a request was refused. It names fields, never
// their values, which may be a password. ID is the request's id when it
// could be read (else 0), so the answer still reaches the right caller.
type DecodeError struct {
	ID     int64
	Reason string
}

func (e *DecodeError) Error() string { return "invalid request: " + e.Reason }

// DecodeRequest reads one request: a JSON object whose members are
// strings, integers or booleans only, with no duplicate or unknown
// member, "v" equal to Version, an integer "id", a known "op" and exactly
// the fields that op takes, each within its limit. Strings must be valid
// UTF-8 with no lone surrogate escape.
//
// It is a small parser of its own rather than encoding/json: that one
// accepts duplicate members (the last wins), and would put the password
// in a string, which cannot be wiped.
func DecodeRequest(b []byte) (*Request, error) {
	if len(b) > MaxRequest {
		return nil, &DecodeError{Reason: fmt.Sprintf("larger than %d bytes", MaxRequest)}
	}
	if !utf8.Valid(b) {
		return nil, &DecodeError{Reason: "not UTF-8"}
	}
	members, err := parseFlatObject(b)
	if err != nil {
		// The id, if it can be found, still lets the extension match
		// the answer to its request.
		id := recoverID(b)
		for _, m := range members {
			if m.name == "id" && m.kind == kindInt {
				id = m.num
			}
		}
		wipeMembers(members, true)
		return nil, &DecodeError{ID: id, Reason: err.Error()}
	}
	r := &Request{}
	if err := r.fill(members); err != nil {
		wipeMembers(members, true)
		r.Password = nil
		return nil, &DecodeError{ID: r.ID, Reason: err.Error()}
	}
	// The request holds copies of every string but the password.
	wipeMembers(members, false)
	return r, nil
}

// recoverID looks, in a request that does not parse, for a member "id"
// with an integer value, written plainly; 0 if there is none.
func recoverID(b []byte) int64 {
	const key = `"id"`
	for i := 0; i+len(key) <= len(b); i++ {
		if string(b[i:i+len(key)]) != key {
			continue
		}
		p := &parser{b: b, off: i + len(key)}
		p.ws()
		if !p.eat(':') {
			continue
		}
		p.ws()
		if c := p.peek(); c < '0' || c > '9' {
			continue
		}
		if n, err := p.int(); err == nil {
			return n
		}
	}
	return 0
}

func wipeMembers(ms []member, password bool) {
	for _, m := range ms {
		if password || m.name != "password" {
			clear(m.str)
		}
		for _, x := range m.list {
			clear(x)
		}
	}
}

func (r *Request) fill(members []member) error {
	var v int64
	var have field
	var haveV, haveID, haveOp bool
	// The id first, so that any later error still names the request.
	for _, m := range members {
		if m.name == "id" {
			if m.kind != kindInt {
				return errors.New(`"id" must be an integer`)
			}
			r.ID, haveID = m.num, true
		}
	}
	for _, m := range members {
		switch m.name {
		case "v":
			if m.kind != kindInt {
				return errors.New(`"v" must be an integer`)
			}
			v, haveV = m.num, true
		case "id":
		case "op":
			if m.kind != kindString || len(m.str) > 32 {
				return errors.New(`"op" must be a short string`)
			}
			r.Op, haveOp = string(m.str), true
		default:
			f, limit, ok := fieldByName(m.name)
			if !ok {
				return fmt.Errorf("unknown field %s", quoteName(m.name))
			}
			have |= f
			if err := r.set(f, limit, m); err != nil {
				return err
			}
		}
	}
	switch {
	case !haveV:
		return errors.New(`no "v"`)
	case v != Version:
		return fmt.Errorf("protocol version %d; this keyhold speaks version %d: update keyhold or the extension so that they agree", v, Version)
	case !haveID:
		return errors.New(`no "id"`)
	case !haveOp:
		return errors.New(`no "op"`)
	}
	spec, ok := opFields[r.Op]
	if !ok {
		return fmt.Errorf("unknown op %s: update keyhold or the extension so that they agree", quoteName(r.Op))
	}
	if extra := have &^ spec.allowed; extra != 0 {
		return fmt.Errorf("%s does not take %s", r.Op, names(extra))
	}
	if missing := spec.required &^ have; missing != 0 {
		return fmt.Errorf("%s needs %s", r.Op, names(missing))
	}
	return nil
}

func (r *Request) set(f field, limit int, m member) error {
	name := quoteName(m.name)
	if f == fAncestors {
		if m.kind != kindList {
			return fmt.Errorf("%s must be a list of strings", name)
		}
		r.AncestorOrigins = make([]string, len(m.list))
		for i, a := range m.list {
			if len(a) > limit {
				return fmt.Errorf("%s has an entry longer than %d bytes", name, limit)
			}
			r.AncestorOrigins[i] = string(a)
		}
		return nil
	}
	if f == fExact {
		if m.kind != kindBool {
			return fmt.Errorf("%s must be true or false", name)
		}
		r.Exact = m.b
		return nil
	}
	if m.kind != kindString {
		return fmt.Errorf("%s must be a string", name)
	}
	if len(m.str) > limit {
		return fmt.Errorf("%s is longer than %d bytes", name, limit)
	}
	switch f {
	case fOrigin:
		r.Origin = string(m.str)
	case fTopOrigin:
		r.TopOrigin = string(m.str)
	case fQuery:
		r.Query = string(m.str)
	case fItem:
		r.Item = string(m.str)
	case fField:
		r.Field = string(m.str)
	case fUsername:
		r.Username = string(m.str)
	case fTitle:
		r.Title = string(m.str)
	case fPassword:
		// The decoded bytes themselves: the caller wipes them.
		r.Password = m.str
	}
	return nil
}

// names lists the fields of a set, for an error message.
func names(set field) string {
	var out string
	for _, f := range fields {
		if set&f.f != 0 {
			if out != "" {
				out += ", "
			}
			out += strconv.Quote(f.name)
		}
	}
	return out
}

// quoteName quotes a member name for an error message, shortened: it is
// the extension's text, not a value.
func quoteName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.QuoteToASCII(s)
}

type kind uint8

const (
	kindString kind = iota + 1
	kindInt
	kindBool
	kindList // of strings
)

type member struct {
	name string
	kind kind
	str  []byte
	num  int64
	b    bool
	list [][]byte
}

// maxMembers bounds the members of a request: v, id, op and at most the
// five fields of the largest op.
const maxMembers = 12

// parseFlatObject parses b as one JSON object (RFC 8259) whose values are
// strings, non-negative integers, booleans or arrays of strings: what
// every request is. Nested objects, other arrays, null, fractions and
// exponents are refused, as are duplicate names and anything after the
// object but white space.
func parseFlatObject(b []byte) ([]member, error) {
	p := &parser{b: b}
	p.ws()
	if !p.eat('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	p.ws()
	if p.eat('}') {
		return out, p.end()
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return out, errors.New("expected a member name")
		}
		nb, err := p.str()
		if err != nil {
			clear(nb)
			return out, err
		}
		name := string(nb)
		for _, m := range out {
			if m.name == name {
				return out, fmt.Errorf("duplicate field %s", quoteName(name))
			}
		}
		if len(out) == maxMembers {
			return out, fmt.Errorf("more than %d fields", maxMembers)
		}
		p.ws()
		if !p.eat(':') {
			return out, errors.New("expected ':'")
		}
		p.ws()
		m := member{name: name}
		switch c := p.peek(); {
		case c == '"':
			m.kind = kindString
			if m.str, err = p.str(); err != nil {
				clear(m.str)
				return out, err
			}
		case c >= '0' && c <= '9':
			m.kind = kindInt
			if m.num, err = p.int(); err != nil {
				return out, fmt.Errorf("%s: %v", quoteName(name), err)
			}
		case c == '[':
			m.kind = kindList
			m.list, err = p.strList()
			if err != nil {
				for _, x := range m.list {
					clear(x)
				}
				return out, fmt.Errorf("%s: %v", quoteName(name), err)
			}
		case c == 't' || c == 'f':
			m.kind = kindBool
			if p.lit("true") {
				m.b = true
			} else if !p.lit("false") {
				return out, errors.New("malformed literal")
			}
		case c == '-':
			return out, fmt.Errorf("%s: negative numbers are not accepted", quoteName(name))
		default:
			return out, fmt.Errorf("%s: only strings, integers, booleans and lists of strings are accepted", quoteName(name))
		}
		out = append(out, m)
		p.ws()
		if p.eat('}') {
			return out, p.end()
		}
		if !p.eat(',') {
			return out, errors.New("expected ',' or '}'")
		}
	}
}

type parser struct {
	b   []byte
	off int
}

func (p *parser) peek() byte {
	if p.off < len(p.b) {
		return p.b[p.off]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.peek() == c && p.off < len(p.b) {
		p.off++
		return true
	}
	return false
}

func (p *parser) ws() {
	for p.off < len(p.b) {
		switch p.b[p.off] {
		case ' ', '\t', '\n', '\r':
			p.off++
		default:
			return
		}
	}
}

func (p *parser) end() error {
	p.ws()
	if p.off != len(p.b) {
		return errors.New("data after the object")
	}
	return nil
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.off >= len(s) && string(p.b[p.off:p.off+len(s)]) == s {
		p.off += len(s)
		return true
	}
	return false
}

// int reads a JSON integer that is not negative and at most maxID. A
// fraction or exponent is refused: "1.0" is not an id.
func (p *parser) int() (int64, error) {
	digits, next, err := jsonscan.Integer(p.b, p.off)
	if err != nil {
		return 0, err
	}
	p.off = next
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || n > maxID {
		return 0, errors.New("integer too large")
	}
	return n, nil
}

// strList reads a JSON array of at most MaxAncestors strings.
func (p *parser) strList() ([][]byte, error) {
	p.off++ // the opening bracket
	var out [][]byte
	p.ws()
	if p.eat(']') {
		return [][]byte{}, nil
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return out, errors.New("only strings are accepted in a list")
		}
		if len(out) == MaxAncestors {
			return out, fmt.Errorf("more than %d entries", MaxAncestors)
		}
		s, err := p.str()
		if err != nil {
			clear(s)
			return out, err
		}
		out = append(out, s)
		p.ws()
		if p.eat(']') {
			return out, nil
		}
		if !p.eat(',') {
			return out, errors.New("expected ',' or ']'")
		}
	}
}

// str reads a JSON string into a new byte slice, allocated once at its
// final capacity: growing it would leave stale copies of a password
// behind in memory. On an error it returns nil, the partial string
// already cleared.
func (p *parser) str() ([]byte, error) {
	out, next, err := jsonscan.Bytes(p.b, p.off)
	if err != nil {
		return nil, err
	}
	p.off = next
	return out, nil
}
