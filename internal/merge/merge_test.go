package merge

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// login is the base most cases start from, made at t0.
func login() *item.Item {
	return &item.Item{
		V: item.SchemaVersion, Type: item.Login, Title: "Mail",
		Fields: []item.Field{
			{Name: "username", Kind: item.Text, Value: "ann"},
			{Name: "password", Kind: item.Hidden, Value: "pw0"},
			{Name: "recovery", Kind: item.Hidden, Value: "rc0", Custom: true},
		},
		URLs:    []string{"https://a.example", "https://b.example"},
		Notes:   "n0",
		Tags:    []string{"work", "mail"},
		Created: at(0), Modified: at(0),
	}
}

// edit returns a copy of it changed by f and modified at sec.
func edit(it *item.Item, sec int, f func(*item.Item)) *item.Item {
	c := it.Clone()
	f(c)
	c.Modified = at(sec)
	return c
}

func trashAt(sec int) func(*item.Item) {
	return func(it *item.Item) { t := at(sec); it.Trashed = &t }
}

// both applies several edits.
func both(fs ...func(*item.Item)) func(*item.Item) {
	return func(it *item.Item) {
		for _, f := range fs {
			f(it)
		}
	}
}

func nothing(*item.Item) {}

func setTitle(s string) func(*item.Item)          { return func(it *item.Item) { it.Title = s } }
func setNotes(s string) func(*item.Item)          { return func(it *item.Item) { it.Notes = s } }
func setMatch(s string) func(*item.Item)          { return func(it *item.Item) { it.Match = s } }
func setURLs(s ...string) func(*item.Item)        { return func(it *item.Item) { it.URLs = s } }
func setTags(s ...string) func(*item.Item)        { return func(it *item.Item) { it.Tags = s } }
func setField(n, v string) func(*item.Item)       { return func(it *item.Item) { it.Set(n, v, item.Text) } }
func removeField(n string) func(*item.Item)       { return func(it *item.Item) { it.Remove(n) } }
func setFields(fs ...item.Field) func(*item.Item) { return func(it *item.Item) { it.Fields = fs } }

func field(name, value string) item.Field {
	return item.Field{Name: name, Kind: item.Text, Value: value}
}

type mergeCase struct {
	name          string
	base          *item.Item // nil: no ancestor
	local, remote *item.Item
	want          *item.Item // Modified is checked separately
	conflicts     []Conflict
}

func runCases(t *testing.T, cases []mergeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, cs := checkedMerge(t, tc.base, tc.local, tc.remote)
			if !sameItem(got, tc.want, false) {
				t.Errorf("merged\n got %s\nwant %s", describe(got), describe(tc.want))
			}
			if !slices.Equal(cs, tc.conflicts) {
				t.Errorf("conflicts\n got %v\nwant %v", cs, tc.conflicts)
			}
			later := tc.remote.Modified
			if tc.local.Modified.After(later) {
				later = tc.local.Modified
			}
			if !got.Modified.Equal(later) {
				t.Errorf("modified = %s, want the later head's %s", got.Modified.Sub(t0), later.Sub(t0))
			}
			checkIdentities(t, tc.base, tc.local, tc.remote)
		})
	}
}

func TestValues(t *testing.T) { // rules 2 and 3
	b := login()
	runCases(t, []mergeCase{
		{name: "neither changed", base: b, local: edit(b, 5, nothing), remote: edit(b, 6, nothing),
			want: b},
		{name: "local changed the title", base: b, local: edit(b, 5, setTitle("L")), remote: edit(b, 9, nothing),
			want: edit(b, 0, setTitle("L"))},
		{name: "remote changed the title", base: b, local: edit(b, 9, nothing), remote: edit(b, 5, setTitle("R")),
			want: edit(b, 0, setTitle("R"))},
		{name: "both changed the title alike", base: b, local: edit(b, 5, setTitle("S")), remote: edit(b, 6, setTitle("S")),
			want: edit(b, 0, setTitle("S"))},
		{name: "both changed the title, local newer", base: b,
			local: edit(b, 7, setTitle("L")), remote: edit(b, 6, setTitle("R")),
			want: edit(b, 0, setTitle("L")), conflicts: []Conflict{{"title", Local}}},
		{name: "both changed the title, remote newer", base: b,
			local: edit(b, 6, setTitle("L")), remote: edit(b, 7, setTitle("R")),
			want: edit(b, 0, setTitle("R")), conflicts: []Conflict{{"title", Remote}}},
		{name: "both changed the title at the same time: remote wins", base: b,
			local: edit(b, 6, setTitle("L")), remote: edit(b, 6, setTitle("R")),
			want: edit(b, 0, setTitle("R")), conflicts: []Conflict{{"title", Remote}}},
		{name: "same instant in another zone is a tie", base: b,
			local: edit(b, 6, setTitle("L")), remote: func() *item.Item {
				r := edit(b, 6, setTitle("R"))
				r.Modified = r.Modified.In(time.FixedZone("X", 3600))
				return r
			}(),
			want: edit(b, 0, setTitle("R")), conflicts: []Conflict{{"title", Remote}}},
		{name: "notes cleared on one side", base: b, local: edit(b, 5, setNotes("")), remote: edit(b, 9, nothing),
			want: edit(b, 0, setNotes(""))},
		{name: "notes changed on both", base: b, local: edit(b, 8, setNotes("L")), remote: edit(b, 5, setNotes("R")),
			want: edit(b, 0, setNotes("L")), conflicts: []Conflict{{"notes", Local}}},
		{name: "favourite on one side", base: b,
			local: edit(b, 5, func(it *item.Item) { it.Favorite = true }), remote: edit(b, 9, setTitle("R")),
			want: edit(b, 0, both(setTitle("R"), func(it *item.Item) { it.Favorite = true }))},
		{name: "match setting on one side", base: b,
			local: edit(b, 5, setMatch(item.MatchHost)), remote: edit(b, 9, setTitle("R")),
			want: edit(b, 0, both(setTitle("R"), setMatch(item.MatchHost)))},
		{name: "match setting cleared on one side", base: edit(b, 0, setMatch(item.MatchHost)),
			local: edit(b, 5, setMatch(item.MatchHost)), remote: edit(b, 9, setMatch(item.MatchDefault)),
			want: edit(b, 0, setMatch(item.MatchDefault))},
		{name: "match setting changed on both", base: b,
			local: edit(b, 8, setMatch(item.MatchHost)), remote: edit(b, 5, setMatch(item.MatchDomain)),
			want: edit(b, 0, setMatch(item.MatchHost)), conflicts: []Conflict{{"match", Local}}},
		{name: "type changed on both", base: b,
			local:  edit(b, 5, func(it *item.Item) { it.Type = item.Note }),
			remote: edit(b, 4, func(it *item.Item) { it.Type = item.Card }),
			want:   edit(b, 0, func(it *item.Item) { it.Type = item.Note }), conflicts: []Conflict{{"type", Local}}},
		{name: "different parts on each side merge without conflict", base: b,
			local:  edit(b, 5, both(setTitle("L"), setField("password", "pwL"))),
			remote: edit(b, 6, both(setNotes("R"), setField("username", "bob"))),
			want:   edit(b, 0, both(setTitle("L"), setNotes("R"), setField("password", "pwL"), setField("username", "bob")))},
		{name: "conflicts come in part order", base: b,
			local: edit(b, 5, both(setTitle("L"), setNotes("L"), func(it *item.Item) { it.Type = item.Note },
				func(it *item.Item) { it.Favorite = true })),
			remote: edit(b, 6, both(setTitle("R"), setNotes("R"), func(it *item.Item) { it.Type = item.Card })),
			want: edit(b, 0, both(setTitle("R"), setNotes("R"), func(it *item.Item) { it.Type = item.Card },
				func(it *item.Item) { it.Favorite = true })),
			conflicts: []Conflict{{"type", Remote}, {"title", Remote}, {"notes", Remote}}},
	})
}

func TestSets(t *testing.T) { // rule 4
	b := login()
	a, bb := "https://a.example", "https://b.example"
	c, d := "https://c.example", "https://d.example"
	many := func(prefix string, n int) []string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%s%d", prefix, i))
		}
		return s
	}
	base60 := edit(b, 0, both(setURLs(many("u", 60)...), setTags(many("t", 60)...)))
	plus := func(list []string, more ...string) []string { return append(slices.Clone(list), more...) }
	runCases(t, []mergeCase{
		{name: "additions on both sides", base: b,
			local: edit(b, 5, setURLs(a, bb, c)), remote: edit(b, 6, setURLs(a, bb, d)),
			want: edit(b, 0, setURLs(a, bb, c, d))},
		{name: "removal on one side, addition on the other", base: b,
			local: edit(b, 5, setURLs(bb)), remote: edit(b, 6, setURLs(a, bb, d)),
			want: edit(b, 0, setURLs(bb, d))},
		{name: "the same addition on both sides", base: b,
			local: edit(b, 5, setURLs(a, bb, c)), remote: edit(b, 6, setURLs(c, a, bb)),
			want: edit(b, 0, setURLs(a, bb, c))},
		{name: "removals on both sides", base: b,
			local: edit(b, 5, setURLs(bb)), remote: edit(b, 6, setURLs(a)),
			want: edit(b, 0, setURLs())},
		{name: "a reorder on one side is kept", base: b,
			local: edit(b, 5, setURLs(bb, a)), remote: edit(b, 6, setTitle("R")),
			want: edit(b, 0, both(setURLs(bb, a), setTitle("R")))},
		{name: "a reorder against an addition gives base order", base: b,
			local: edit(b, 5, setURLs(bb, a)), remote: edit(b, 6, setURLs(a, bb, c)),
			want: edit(b, 0, setURLs(a, bb, c))},
		{name: "order is base, local additions, remote additions", base: b,
			local: edit(b, 5, setURLs(d, bb, c)), remote: edit(b, 6, setURLs("https://e.example", a, bb)),
			want: edit(b, 0, setURLs(bb, d, c, "https://e.example"))},
		{name: "duplicates collapse in a set merge", base: b,
			local: edit(b, 5, setURLs(a, a, bb, c)), remote: edit(b, 6, setURLs(a, d, d)),
			want: edit(b, 0, setURLs(a, c, d))},
		{name: "tags merge as a set", base: b,
			local: edit(b, 5, setTags("mail", "home")), remote: edit(b, 6, setTags("work", "mail", "2fa")),
			want: edit(b, 0, setTags("mail", "home", "2fa"))},
		{name: "too many URLs: the newer list, with a conflict", base: base60,
			local:     edit(base60, 7, setURLs(plus(base60.URLs, "l1", "l2", "l3")...)),
			remote:    edit(base60, 6, setURLs(plus(base60.URLs, "r1", "r2")...)),
			want:      edit(base60, 0, setURLs(plus(base60.URLs, "l1", "l2", "l3")...)),
			conflicts: []Conflict{{"urls", Local}}},
		{name: "too many tags: the newer list, with a conflict", base: base60,
			local:     edit(base60, 6, setTags(plus(base60.Tags, "l1", "l2", "l3")...)),
			remote:    edit(base60, 6, setTags(plus(base60.Tags, "r1", "r2")...)),
			want:      edit(base60, 0, setTags(plus(base60.Tags, "r1", "r2")...)),
			conflicts: []Conflict{{"tags", Remote}}},
		{name: "exactly at the limit fits", base: base60,
			local:  edit(base60, 7, setURLs(plus(base60.URLs, "l1", "l2")...)),
			remote: edit(base60, 6, setURLs(plus(base60.URLs[1:], "r1", "r2", "r3")...)),
			want:   edit(base60, 0, setURLs(plus(base60.URLs[1:], "l1", "l2", "r1", "r2", "r3")...))},
	})
}

func TestFields(t *testing.T) { // rule 5
	b := login()
	user, pw, rc := b.Fields[0], b.Fields[1], b.Fields[2]
	pin := item.Field{Name: "pin", Kind: item.Hidden, Value: "1234", Custom: true}
	code := item.Field{Name: "code", Kind: item.Text, Value: "77", Custom: true}
	pwL := item.Field{Name: "password", Kind: item.Hidden, Value: "pwL"}
	pwR := item.Field{Name: "password", Kind: item.Hidden, Value: "pwR"}
	runCases(t, []mergeCase{
		{name: "added on each side", base: b,
			local: edit(b, 5, setFields(user, pw, pin, rc)), remote: edit(b, 6, setFields(code, user, pw, rc)),
			want: edit(b, 0, setFields(user, pw, rc, pin, code))},
		{name: "removed on one side, untouched on the other", base: b,
			local: edit(b, 5, removeField("recovery")), remote: edit(b, 6, setField("password", "pwR")),
			want: edit(b, 0, setFields(user, pwR))},
		{name: "removed on both sides", base: b,
			local: edit(b, 5, removeField("recovery")), remote: edit(b, 6, both(removeField("recovery"), setTitle("R"))),
			want: edit(b, 0, both(removeField("recovery"), setTitle("R")))},
		{name: "removed on one side, changed on the other, remover newer", base: b,
			local: edit(b, 9, removeField("password")), remote: edit(b, 6, setField("password", "pwR")),
			want: edit(b, 0, setFields(user, pwR, rc)), conflicts: []Conflict{{"field:password", Remote}}},
		{name: "changed on one side, removed on the other, remover newer", base: b,
			local: edit(b, 5, setField("password", "pwL")), remote: edit(b, 6, removeField("password")),
			want: edit(b, 0, setFields(user, pwL, rc)), conflicts: []Conflict{{"field:password", Local}}},
		{name: "changed on both sides, remote newer", base: b,
			local: edit(b, 5, setField("password", "pwL")), remote: edit(b, 6, setField("password", "pwR")),
			want: edit(b, 0, setFields(user, pwR, rc)), conflicts: []Conflict{{"field:password", Remote}}},
		{name: "added on both sides alike", base: b,
			local: edit(b, 5, setFields(user, pw, rc, pin)), remote: edit(b, 6, setFields(pin, user, pw, rc)),
			want: edit(b, 0, setFields(user, pw, rc, pin))},
		{name: "added on both sides differently", base: b,
			local:  edit(b, 7, setFields(user, pw, rc, pin)),
			remote: edit(b, 6, setFields(user, pw, rc, item.Field{Name: "PIN", Kind: item.Text, Value: "9"})),
			want:   edit(b, 0, setFields(user, pw, rc, pin)), conflicts: []Conflict{{"field:pin", Local}}},
		{name: "kind, value and custom flag travel together", base: b,
			local: edit(b, 7, func(it *item.Item) { it.Fields[2].Kind = item.Text }),
			remote: edit(b, 6, func(it *item.Item) {
				it.Fields[2].Value = "rcR"
				it.Fields[2].Custom = false
			}),
			want:      edit(b, 0, func(it *item.Item) { it.Fields[2].Kind = item.Text }),
			conflicts: []Conflict{{"field:recovery", Local}}},
		{name: "names match without regard to case", base: b,
			local:  edit(b, 5, setField("PASSWORD", "pwL")), // Set keeps the spelling
			remote: edit(b, 6, func(it *item.Item) { it.Fields[0].Name = "Username" }),
			want:   edit(b, 0, setFields(item.Field{Name: "Username", Kind: item.Text, Value: "ann"}, pwL, rc))},
		{name: "a change of spelling is a change", base: b,
			local:  edit(b, 5, func(it *item.Item) { it.Fields[1].Name = "Password" }),
			remote: edit(b, 6, setField("password", "pwR")),
			want:   edit(b, 0, setFields(user, pwR, rc)), conflicts: []Conflict{{"field:password", Remote}}},
		{name: "fields keep base order whichever side changed them", base: b,
			local:  edit(b, 5, setFields(rc, pw, item.Field{Name: "username", Kind: item.Text, Value: "bob"})),
			remote: edit(b, 6, setFields(user, pwR, rc, pin)),
			want:   edit(b, 0, setFields(item.Field{Name: "username", Kind: item.Text, Value: "bob"}, pwR, rc, pin))},
		{name: "a reorder on one side is kept", base: b,
			local: edit(b, 5, setFields(rc, user, pw)), remote: edit(b, 6, setTitle("R")),
			want: edit(b, 0, both(setFields(rc, user, pw), setTitle("R")))},
		{name: "names repeated in one item pair by occurrence", base: edit(b, 0, setFields(field("q", "1"), field("Q", "2"))),
			local:  edit(b, 5, setFields(field("q", "1"), field("Q", "2L"))),
			remote: edit(b, 6, setFields(field("q", "1R"), field("Q", "2"), field("q", "3"))),
			want:   edit(b, 0, setFields(field("q", "1R"), field("Q", "2L"), field("q", "3")))},
	})
}

func TestAttachments(t *testing.T) { // rule 9
	att := func(name, data string) item.Attachment { return item.Attachment{Name: name, Data: []byte(data)} }
	setAtt := func(as ...item.Attachment) func(*item.Item) {
		return func(it *item.Item) { it.Attachments = as }
	}
	key, scan := att("key.pem", "k0"), att("scan.png", "s0")
	b := edit(login(), 0, setAtt(key, scan))
	runCases(t, []mergeCase{
		{name: "added on each side", base: b,
			local: edit(b, 5, setAtt(key, scan, att("a.txt", "a"))), remote: edit(b, 6, setAtt(att("b.txt", "b"), key, scan)),
			want: edit(b, 0, setAtt(key, scan, att("a.txt", "a"), att("b.txt", "b")))},
		{name: "changed on both sides, remote newer", base: b,
			local: edit(b, 5, setAtt(att("key.pem", "kL"), scan)), remote: edit(b, 6, setAtt(att("key.pem", "kR"), scan)),
			want: edit(b, 0, setAtt(att("key.pem", "kR"), scan)), conflicts: []Conflict{{"attachment:key.pem", Remote}}},
		{name: "removed on one side, untouched on the other", base: b,
			local: edit(b, 5, setAtt(scan)), remote: edit(b, 6, both(setAtt(key, att("scan.png", "s1")), setTitle("R"))),
			want: edit(b, 0, both(setAtt(att("scan.png", "s1")), setTitle("R")))},
		{name: "removed on one side, changed on the other", base: b,
			local: edit(b, 9, setAtt(scan)), remote: edit(b, 6, setAtt(att("key.pem", "kR"), scan)),
			want: edit(b, 0, setAtt(att("key.pem", "kR"), scan)), conflicts: []Conflict{{"attachment:key.pem", Remote}}},
		{name: "untouched on one side: the other's list whole", base: b,
			local: edit(b, 5, setAtt(scan, key)), remote: edit(b, 6, setTitle("R")),
			want: edit(b, 0, both(setAtt(scan, key), setTitle("R")))},
	})
	// An attachment change is a content change: it restores a trashed item.
	trashed := edit(b, 6, trashAt(6))
	changed := edit(b, 5, setAtt(key, att("scan.png", "s2")))
	got, _ := checkedMerge(t, b, changed, trashed)
	if got.Trashed != nil {
		t.Error("an attachment edit racing a delete did not restore the item")
	}
}

func TestTooManyFields(t *testing.T) { // rule 5, last paragraph
	b := login()
	b.Fields = nil
	for i := range item.MaxFields - 2 {
		b.Fields = append(b.Fields, field(fmt.Sprintf("f%d", i), "x"))
	}
	l := edit(b, 5, both(setField("l1", "1"), setField("l2", "2"), setField("f0", "changed")))
	r := edit(b, 6, both(setField("r1", "1"), setField("f1", "changed")))
	got, cs := checkedMerge(t, b, l, r)
	if !slices.Equal(got.Fields, r.Fields) || !slices.Equal(cs, []Conflict{{"fields", Remote}}) {
		t.Fatalf("want remote's fields whole and one conflict, got %d fields, %v", len(got.Fields), cs)
	}
	// Two additions in all still fit.
	l = edit(b, 5, both(setField("l1", "1"), setField("f0", "changed")))
	got, cs = checkedMerge(t, b, l, r)
	if len(got.Fields) != item.MaxFields || len(cs) != 0 {
		t.Fatalf("want every field and no conflict, got %d fields, %v", len(got.Fields), cs)
	}
}

func TestTrash(t *testing.T) { // rule 6
	b := login()
	trashedBase := edit(b, 0, trashAt(0))
	runCases(t, []mergeCase{
		{name: "trashed on one side, untouched on the other", base: b,
			local: edit(b, 5, trashAt(5)), remote: edit(b, 6, nothing),
			want: edit(b, 0, trashAt(5))},
		{name: "trashed remotely, untouched locally", base: b,
			local: edit(b, 9, nothing), remote: edit(b, 5, trashAt(5)),
			want: edit(b, 0, trashAt(5))},
		{name: "trashed on one side, edited on the other: restored", base: b,
			local: edit(b, 9, trashAt(9)), remote: edit(b, 6, setField("password", "pwR")),
			want:      edit(b, 0, setField("password", "pwR")),
			conflicts: []Conflict{{"trashed", Remote}}},
		{name: "edited locally, trashed remotely: restored", base: b,
			local: edit(b, 5, setURLs("https://a.example")), remote: edit(b, 6, trashAt(6)),
			want:      edit(b, 0, setURLs("https://a.example")),
			conflicts: []Conflict{{"trashed", Local}}},
		{name: "a favourite toggle is an edit", base: b,
			local: edit(b, 5, func(it *item.Item) { it.Favorite = true }), remote: edit(b, 6, trashAt(6)),
			want:      edit(b, 0, func(it *item.Item) { it.Favorite = true }),
			conflicts: []Conflict{{"trashed", Local}}},
		{name: "a touch that changed nothing is no edit", base: b,
			local: edit(b, 9, nothing), remote: edit(b, 6, trashAt(6)),
			want: edit(b, 0, trashAt(6))},
		{name: "trashed and edited on one side, edited on the other", base: b,
			local: edit(b, 5, both(trashAt(5), setTitle("L"))), remote: edit(b, 6, setNotes("R")),
			want:      edit(b, 0, both(setTitle("L"), setNotes("R"))),
			conflicts: []Conflict{{"trashed", Remote}}},
		{name: "trashed and edited on one side, untouched on the other", base: b,
			local: edit(b, 5, both(trashAt(5), setTitle("L"))), remote: edit(b, 6, nothing),
			want: edit(b, 0, both(trashAt(5), setTitle("L")))},
		{name: "trashed on both sides: the earlier time", base: b,
			local: edit(b, 8, trashAt(8)), remote: edit(b, 6, both(trashAt(6), setTitle("R"))),
			want: edit(b, 0, both(trashAt(6), setTitle("R")))},
		{name: "restored on one side", base: trashedBase,
			local: edit(trashedBase, 5, func(it *item.Item) { it.Trashed = nil }), remote: edit(trashedBase, 6, nothing),
			want: b},
		{name: "a trashed item edited stays trashed", base: trashedBase,
			local: edit(trashedBase, 5, setTitle("L")), remote: edit(trashedBase, 6, nothing),
			want: edit(trashedBase, 0, setTitle("L"))},
		{name: "restored on one side, trashed again later on the other", base: trashedBase,
			local:  edit(trashedBase, 5, func(it *item.Item) { it.Trashed = nil }),
			remote: edit(trashedBase, 6, trashAt(6)),
			want:   edit(b, 0, trashAt(6)), conflicts: []Conflict{{"trashed", Remote}}},
		{name: "restored and edited on one side, trashed again on the other", base: trashedBase,
			local:  edit(trashedBase, 5, both(func(it *item.Item) { it.Trashed = nil }, setTitle("L"))),
			remote: edit(trashedBase, 6, trashAt(6)),
			want:   edit(b, 0, setTitle("L")), conflicts: []Conflict{{"trashed", Local}}},
	})
}

func TestNoAncestor(t *testing.T) { // rule 7
	l := login()
	l.Created, l.Modified = at(10), at(20)
	r := &item.Item{
		V: item.SchemaVersion, Type: item.Login, Title: "Mail (phone)",
		Fields: []item.Field{{Name: "username", Kind: item.Text, Value: "ann"},
			{Name: "password", Kind: item.Hidden, Value: "other"}, {Name: "pin", Kind: item.Hidden, Value: "1"}},
		URLs: []string{"https://b.example", "https://c.example"}, Tags: []string{"phone"},
		Created: at(5), Modified: at(15),
	}
	runCases(t, []mergeCase{
		{name: "differing parts conflict, one-sided ones are kept", local: l, remote: r,
			want: &item.Item{
				V: item.SchemaVersion, Type: item.Login, Title: "Mail",
				Fields: []item.Field{l.Fields[0], l.Fields[1], l.Fields[2], r.Fields[2]},
				URLs:   []string{"https://a.example", "https://b.example", "https://c.example"},
				Notes:  "n0", Tags: []string{"work", "mail", "phone"},
				Created: at(5),
			},
			conflicts: []Conflict{{"title", Local}, {"field:password", Local}}},
		{name: "a trashed head against another is restored", local: l, remote: edit(l, 30, trashAt(30)),
			want: l, conflicts: []Conflict{{"trashed", Local}}},
		{name: "both trashed: the earlier time", local: edit(l, 31, trashAt(31)), remote: edit(l, 30, trashAt(30)),
			want: edit(l, 0, trashAt(30))},
		{name: "same heads", local: l, remote: edit(l, 40, nothing), want: l},
	})
}

func TestBookkeeping(t *testing.T) { // rule 8
	b := login()
	b.Created = at(-100)
	created := func(sec int) func(*item.Item) { return func(it *item.Item) { it.Created = at(sec) } }
	runCases(t, []mergeCase{
		{name: "created stays the base's", base: b,
			local: edit(b, 5, setTitle("L")), remote: edit(b, 6, setNotes("R")),
			want: edit(b, 0, both(setTitle("L"), setNotes("R")))},
		{name: "created changed on one side", base: b,
			local: edit(b, 5, created(-200)), remote: edit(b, 6, nothing),
			want: edit(b, 0, created(-200))},
		{name: "created changed on both: the earlier, no conflict", base: b,
			local: edit(b, 9, created(-150)), remote: edit(b, 6, created(-200)),
			want: edit(b, 0, created(-200))},
	})
}

func TestFold(t *testing.T) {
	names := []string{"pin", "PIN", "Pin", "K", "k", "\u212a", "s", "S", "\u017f", "straße", "STRASSE",
		"Σ", "σ", "ς", "ǅ", "ǆ", "Ǆ", "\xff", "\xfe", "\ufffd", "", "pi", "İ", "i", "ı", "I"}
	for _, x := range names {
		for _, y := range names {
			if got, want := fold(x) == fold(y), strings.EqualFold(x, y); got != want {
				t.Errorf("fold(%q) == fold(%q) is %v, strings.EqualFold says %v", x, y, got, want)
			}
		}
	}
}

// TestIdentities checks rule 9d on hand-made heads that change every part.
func TestIdentities(t *testing.T) {
	b := login()
	heads := []*item.Item{
		b,
		edit(b, 5, both(setTitle("L"), setField("pin", "1"), removeField("password"), setURLs("x"), trashAt(5))),
		edit(b, 0, both(func(it *item.Item) { it.Type = item.Card }, setTags(), setNotes(""))),
	}
	for _, x := range heads {
		checkIdentities(t, b, x, x)
		checkIdentities(t, nil, x, x)
		checkIdentities(t, b, b, x)
		checkIdentities(t, b, x, b)
	}
}
