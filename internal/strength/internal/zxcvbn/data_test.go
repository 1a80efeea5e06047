package zxcvbn

import (
	"bytes"
	"compress/gzip"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/trustelem/zxcvbn/adjacency"
	"github.com/trustelem/zxcvbn/frequency"
)

// TestEmbeddedLists checks that the embedded word lists hold exactly
// trustelem's lists, in rank order: if this fails, run "go generate" here.
func TestEmbeddedLists(t *testing.T) {
	d := load()
	want := slices.Sorted(func(yield func(string) bool) {
		for name := range frequency.FrequencyLists {
			if !yield(name) {
				return
			}
		}
	})
	if !slices.Equal(d.names, want) {
		t.Fatalf("lists %q, want %q", d.names, want)
	}
	counts := make([]int, len(d.names))
	for _, e := range d.entries {
		counts[e.list]++
	}
	for li, name := range d.names {
		ranks := make(map[string]int) // trustelem's buildRankedDict
		for i, w := range frequency.FrequencyLists[name] {
			ranks[strings.ToLower(w)] = i + 1
		}
		if counts[li] != len(ranks) {
			t.Errorf("list %s: %d words, want %d", name, counts[li], len(ranks))
		}
		for w, want := range ranks {
			got := 0
			d.lookup(w, func(list, rank int) {
				if list == li {
					got = rank
				}
			})
			if got != want {
				t.Errorf("list %s: word %q has rank %d, want %d", name, w, got, want)
				break
			}
		}
	}
}

// TestAdjacencyGraphs checks the generated graphs against trustelem's.
func TestAdjacencyGraphs(t *testing.T) {
	for _, g := range spatialGraphs {
		want := adjacency.Graphs[g.name]
		if want == nil {
			t.Fatalf("trustelem has no graph %q", g.name)
		}
		if g.keys != len(want.Graph) || g.avgDegree != want.AverageDegree {
			t.Errorf("%s: %d keys, degree %v; want %d, %v", g.name, g.keys, g.avgDegree, len(want.Graph), want.AverageDegree)
		}
		keys := 0
		for c, adj := range g.adj {
			if adj == nil {
				continue
			}
			keys++
			if w := want.Graph[string(rune(c))]; !slices.Equal(adj, w) {
				t.Errorf("%s: %q has neighbours %q, want %q", g.name, rune(c), adj, w)
			}
		}
		if keys != len(want.Graph) {
			t.Errorf("%s: %d keys in adj, want %d", g.name, keys, len(want.Graph))
		}
	}
}

func TestDecodeDictsRejectsMalformed(t *testing.T) {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	for _, tc := range []struct{ name, data string }{
		{"not gzip", "= passwords 1\npassword\n"},
		{"truncated gzip", gz("= passwords 1\npassword\n")[:20]},
		{"short list", gz("= passwords 3\npassword\n123456\n")},
		{"bad header", gz("passwords 1\npassword\n")},
		{"bad count", gz("= passwords x\npassword\n")},
		{"negative count", gz("= passwords -1\n")},
		{"empty word", gz("= passwords 2\npassword\n\n")},
		{"upper case", gz("= passwords 1\nPassword\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeDicts(tc.data); err == nil {
				t.Errorf("decoded malformed data without an error")
			}
		})
	}
	d, err := decodeDicts(gz("= a 3\nfoo\nbar\nfoo\n= b 1\nfoo\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		word string
		want map[string]int
	}{
		{"foo", map[string]int{"a": 3, "b": 1}}, // a repeated word keeps its later rank
		{"bar", map[string]int{"a": 2}},
		{"baz", map[string]int{}},
		{"fo", map[string]int{}},
	} {
		got := map[string]int{}
		d.lookup(tc.word, func(list, rank int) { got[d.names[list]] = rank })
		if !maps.Equal(got, tc.want) {
			t.Errorf("%q: ranks %v, want %v", tc.word, got, tc.want)
		}
	}
	if d.maxRunes != 3 {
		t.Errorf("maxRunes %d, want 3", d.maxRunes)
	}
}

// BenchmarkLoad measures what the first PasswordStrength call in a process
// pays on top of the estimate itself: decoding the embedded word lists.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := decodeDicts(frequencyLists); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordStrength(b *testing.B) {
	load()
	for _, pw := range []string{"correct horse battery staple", "P@ssw0rd1987", strings.Repeat("x9!Lq", 20)} {
		b.Run(pw[:min(len(pw), 12)]+"…", func(b *testing.B) {
			for b.Loop() {
				PasswordStrength(pw, []string{"alice@example.org"})
			}
		})
	}
}
