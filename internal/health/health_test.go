package health

import (
	"slices"
	"testing"
)

func TestReuseGroupsSamePasswords(t *testing.T) {
	r, err := NewReuse[string]()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Wipe()
	r.Add([]byte("hunter2"), "a")
	r.Add([]byte("unique one"), "b")
	r.Add([]byte("shared pw"), "c")
	r.Add([]byte("hunter2"), "d")
	r.Add([]byte("shared pw"), "e")
	r.Add([]byte("hunter2"), "f")
	got := r.Groups()
	want := [][]string{{"a", "d", "f"}, {"c", "e"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("groups %q, want %q", got, want)
	}
}
