package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

func editSample() *item.Item {
	it := item.New(item.Login, "GitHub", time.Unix(1700000000, 0))
	it.Set("username", "alice", item.Text)
	it.Set("password", "  spaces at both ends\t", item.Hidden)
	it.Set("recovery", "1111-2222\n\n3333-4444", item.Hidden)
	it.Set("url", "a custom field named like a key", item.Text)
	it.Set("odd: name [x]", "|", item.Text)
	it.Set("site", "https://example.com/login", item.URL)
	it.Set("empty", "", item.Text)
	it.Set("quoted", `"starts with a quote`, item.Text)
	it.Set("trailing newline", "line\n", item.Text)
	it.Set("match", "a custom field named like the match setting", item.Text)
	it.URLs = []string{"https://github.com", "https://gist.github.com"}
	it.Tags = []string{"work", "two words"}
	it.Notes = "first line\n  indented line\nlast"
	it.Favorite = true
	it.Match = item.MatchHost
	it.Attachments = []item.Attachment{{Name: "key.pub", Data: []byte("ssh-ed25519 AAAA")}}
	return it
}

// Every item reads back from its text exactly as it was: an unchanged
// edit is no change, and no value is altered by the form.
func TestEditTextRoundTrip(t *testing.T) {
	it := editSample()
	text := renderEditText(it, []string{"a header"})
	got, err := parseEditText(text, it)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	if a, b := renderEditText(got, nil), renderEditText(it, nil); a != b {
		t.Fatalf("round trip differs:\n%s\n---\n%s", a, b)
	}
	for _, f := range it.Fields {
		v, _ := got.Get(f.Name)
		if f.Name != "url" && v != f.Value {
			t.Errorf("field %q: got %q, want %q", f.Name, v, f.Value)
		}
	}
	if got.Fields[3].Name != "url" || got.Fields[3].Value != "a custom field named like a key" {
		t.Errorf("a field named url became %+v", got.Fields[3])
	}
	if v, _ := got.Get("match"); v != "a custom field named like the match setting" || got.Match != item.MatchHost {
		t.Errorf("match setting %q and field %q, want %q and the field kept", got.Match, v, item.MatchHost)
	}
	if got.Notes != it.Notes || !got.Favorite || len(got.Attachments) != 1 || strings.Join(got.URLs, " ") != strings.Join(it.URLs, " ") {
		t.Errorf("item parts changed: %+v", got)
	}
}

func TestEditTextEdits(t *testing.T) {
	it := item.New(item.Login, "Mail", time.Unix(1700000000, 0))
	it.Set("username", "alice", item.Text)
	it.Set("site", "https://example.com/login", item.URL)
	text := renderEditText(it, nil)
	// A standard field without its kind takes the type's kind (password
	// is hidden); a new field without one is text; a deleted line
	// deletes the field.
	text = strings.Replace(text, "username: alice\n", "username: bob\npassword: s3cret\nhint: blue\n", 1)
	text = strings.Replace(text, "site [url]: https://example.com/login\n", "", 1)
	got, err := parseEditText(text, it)
	if err != nil {
		t.Fatal(err)
	}
	want := []item.Field{{Name: "username", Kind: item.Text, Value: "bob"}, {Name: "password", Kind: item.Hidden, Value: "s3cret"},
		{Name: "hint", Kind: item.Text, Value: "blue", Custom: true}}
	if len(got.Fields) != len(want) {
		t.Fatalf("fields %+v, want %+v", got.Fields, want)
	}
	for i := range want {
		if got.Fields[i] != want[i] {
			t.Errorf("field %d: %+v, want %+v", i, got.Fields[i], want[i])
		}
	}
}

func TestEditTextErrors(t *testing.T) {
	it := editSample()
	base := renderEditText(it, nil)
	for name, text := range map[string]string{
		"no colon":        base + "just words\n",
		"unknown kind":    base + "x [secret]: y\n",
		"bad url":         base + "url: ://\n",
		"type change":     strings.Replace(base, "type: login", "type: card", 1),
		"open quote":      base + "x: \"abc\n",
		"no title":        strings.Replace(base, "title: GitHub\n", "", 1),
		"two titles":      base + "title: Other\n",
		"stray indent":    base + "  indented\n",
		"empty block":     base + "x: |\n",
		"favorite maybe":  strings.Replace(base, "favorite: yes", "favorite: maybe", 1),
		"match exact":     strings.Replace(base, "match: host", "match: exact", 1),
		"two matches":     base + "match: domain\n",
		"bad totp":        base + "totp: not base32!\n",
		"unclosed name":   base + "\"abc: d\n",
		"empty kind name": base + "x []: y\n",
	} {
		_, err := parseEditText(text, it)
		var pe *editParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a parse error", name, err)
		}
	}
	for _, text := range []string{"", "\n\n", "# only\n# comments\n"} {
		if _, err := parseEditText(text, it); !errors.Is(err, errEmptyEdit) {
			t.Errorf("%q: got %v, want errEmptyEdit", text, err)
		}
	}
}

func FuzzEditText(f *testing.F) {
	it := editSample()
	f.Add(renderEditText(it, []string{"header"}))
	f.Add("title: x\nnotes: |\n  a\n\n  b\n")
	f.Add("\"q\\\"n\" [hidden]: \"v\\x00\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := parseEditText(text, it)
		if err != nil {
			return
		}
		// What parses renders and reads back to the same item.
		again, err := parseEditText(renderEditText(got, nil), it)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if a, b := renderEditText(again, nil), renderEditText(got, nil); a != b {
			t.Fatalf("unstable:\n%s\n---\n%s", a, b)
		}
	})
}

func TestEditTempRoot(t *testing.T) {
	run, shm, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	missing := filepath.Join(run, "missing")
	if d, err := editTempRoot(run, shm, false, tmp); err != nil || d != run {
		t.Errorf("runtime dir: %q %v", d, err)
	}
	if d, err := editTempRoot("", shm, false, tmp); err != nil || d != shm {
		t.Errorf("shm: %q %v", d, err)
	}
	if d, err := editTempRoot("relative", missing, false, tmp); err == nil || exitCode(err) != ExitUnavailable {
		t.Errorf("no RAM dir: %q %v, want exit %d", d, err, ExitUnavailable)
	}
	if d, err := editTempRoot("", missing, true, tmp); err != nil || d != tmp {
		t.Errorf("disk allowed: %q %v", d, err)
	}
}

func TestWipeDir(t *testing.T) {
	d := filepath.Join(t.TempDir(), "e")
	os.Mkdir(d, 0o700)
	os.WriteFile(filepath.Join(d, "item.txt"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(d, ".item.txt.swp"), []byte("secret"), 0o600)
	if err := wipeDir(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string]string{
		`vim`:                    "vim",
		`code --wait`:            "code|--wait",
		`"/opt/my editor/ed" -x`: "/opt/my editor/ed|-x",
		`'/a b/c' d\ e "x\"y"`:   "/a b/c|d e|x\"y",
		`  emacs   -nw  `:        "emacs|-nw",
	} {
		got, err := splitWords(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`"open`, `'open`} {
		if _, err := splitWords(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestEditorSafetyArgs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"vim", "gvim", "nvim", "emacs", "nano", "ed.sh"} {
		os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755)
	}
	// vi as a link to vim is vim.
	os.Symlink(filepath.Join(dir, "vim"), filepath.Join(dir, "vi"))
	os.Symlink(filepath.Join(dir, "ed.sh"), filepath.Join(dir, "other"))
	for prog, want := range map[string]string{
		"vim":   "-n -i NONE --cmd",
		"vi":    "-n -i NONE --cmd",
		"gvim":  "-f -n -i NONE",
		"nvim":  "-n -i NONE",
		"emacs": "-q --eval",
		"nano":  "--ignorercfiles",
	} {
		pre, post, known := editorSafetyArgs(filepath.Join(dir, prog))
		args := append(pre, post...)
		if !known || !strings.HasPrefix(strings.Join(args, " "), want) {
			t.Errorf("%s: %q %v, want %q...", prog, args, known, want)
		}
	}
	if pre, post, known := editorSafetyArgs(filepath.Join(dir, "other")); known || pre != nil || post != nil {
		t.Errorf("an unknown editor got %q %q %v", pre, post, known)
	}
}

// A value the checks would refuse, kept as it was (an import's), does not
// stop an edit of something else; a changed one is checked.
func TestEditTextKeepsOddValues(t *testing.T) {
	it := item.New(item.Login, "Old", time.Unix(1700000000, 0))
	it.Set("totp", "not base32 at all", item.TOTP)
	it.Set("site", "::odd", item.URL)
	it.URLs = []string{"::also odd"}
	text := renderEditText(it, nil)
	got, err := parseEditText(strings.Replace(text, "title: Old", "title: New", 1), it)
	if err != nil || got.Title != "New" {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := parseEditText(strings.Replace(text, "not base32 at all", "still not base32", 1), it); err == nil {
		t.Fatal("a changed invalid TOTP secret was accepted")
	}
}

// The match setting is written even when unset, and each value the
// editor accepts sets it; deleting the line keeps the stored setting.
func TestEditTextMatch(t *testing.T) {
	it := item.New(item.Login, "Bank", time.Unix(1700000000, 0))
	it.URLs = []string{"https://bank.example"}
	text := renderEditText(it, nil)
	if !strings.Contains(text, "\nmatch: default\n") {
		t.Fatalf("no match line for an unset setting:\n%s", text)
	}
	for val, want := range map[string]string{"host": item.MatchHost, "Domain": item.MatchDomain, "default": item.MatchDefault, "": item.MatchDefault} {
		got, err := parseEditText(strings.Replace(text, "match: default", "match: "+val, 1), it)
		if err != nil || got.Match != want {
			t.Errorf("match: %s gives %q, %v; want %q", val, got.Match, err, want)
		}
	}
	it.Match = item.MatchHost
	text = renderEditText(it, nil)
	got, err := parseEditText(strings.Replace(text, "match: host\n", "", 1), it)
	if err != nil || got.Match != item.MatchHost {
		t.Errorf("deleted match line: %q, %v; want the stored host", got.Match, err)
	}
}
