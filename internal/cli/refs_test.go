package cli

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/secretref"
	"github.com/keyhold/keyhold/internal/vault"
)

func entry(id, title, user, url string) *vault.Entry {
	it := item.New(item.Login, title, time.Now())
	it.Set("username", user, item.Text)
	it.Set("password", "pw-of-"+title+"-"+user, item.Hidden)
	if url != "" {
		it.URLs = []string{url}
	}
	return &vault.Entry{ID: vault.ItemID(uuid.MustParse(id)), Revision: 1, Item: it}
}

// TestPickRef: a reference names an item by its exact title or its id,
// never by another case or a title prefix, and refuses a shared title.
func TestPickRef(t *testing.T) {
	cands := []*vault.Entry{
		entry("01a21159-0000-7000-8000-000000000001", "GitHub", "alice", "https://github.com"),
		entry("01a21159-0000-7000-8000-000000000002", "Shared", "a", "https://a.example"),
		entry("01a21159-0000-7000-8000-000000000003", "Shared", "b", ""),
		entry("02b00000-0000-7000-8000-000000000004", "01a21159", "titled like an id", ""),
	}
	for _, tc := range []struct {
		item    string
		want    string // username of the item found
		wantErr error
	}{
		{item: "GitHub", want: "alice"},
		{item: "01a21159-0000-7000-8000-000000000001", want: "alice"},
		{item: "01a21159-0000-7000-8000-000000000003", want: "b"},
		{item: "02b00000", want: "titled like an id"},
		{item: "01a21159", want: "titled like an id"}, // an exact title beats an id prefix
		{item: "github", wantErr: vault.ErrNotFound},
		{item: "Git", wantErr: vault.ErrNotFound},
		{item: "Shared", wantErr: vault.ErrAmbiguous},
		{item: "01a21159-0000", wantErr: vault.ErrAmbiguous}, // a prefix of three ids
	} {
		e, err := pickRef(secretref.Ref{Item: tc.item, Field: "password"}, cands)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%q: %v, want %v", tc.item, err, tc.wantErr)
			}
			continue
		}
		if err != nil || e.Item.Username() != tc.want {
			t.Errorf("%q: %v, %v; want the item of %q", tc.item, e, err, tc.want)
		}
	}

	_, err := pickRef(secretref.Ref{Item: "Shared", Field: "api key"}, cands)
	msg := err.Error()
	for _, want := range []string{`2 items are titled "Shared"`, `"Shared", user a, https://a.example, id 01a21159`,
		"keyhold://01a21159-0000-7000-8000-000000000003/api%20key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the ambiguity message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "pw-of") {
		t.Errorf("the message shows a password: %s", msg)
	}
	_, err = pickRef(secretref.Ref{Item: "github", Field: "password"}, cands)
	if !strings.Contains(err.Error(), "did you mean keyhold://GitHub/password") {
		t.Errorf("no suggestion for a title in another case: %v", err)
	}
}

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/app.env"
	writeFile(t, path, "# comment\r\n\r\nexport A=keyhold://X/y\r\nB = \"quoted value\"\nC='single'\nD=\nE=a=b\n")
	got, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "A=keyhold://X/y|B=quoted value|C=single|D=|E=a=b"
	if strings.Join(got, "|") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "|"), want)
	}
	writeFile(t, path, "OK=1\n1BAD=2\n")
	if _, err := readEnvFile(path); err == nil || exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "app.env:2") {
		t.Errorf("a bad name: %v", err)
	}
	env := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"})
	if strings.Join(env, " ") != "A=1 B=3 C=4" {
		t.Errorf("mergeEnv: %v", env)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
