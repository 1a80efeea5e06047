package csvtable

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// Each counts blank rows as skipped, keeps the header's unknown columns
// as custom fields after the reader's own, reports progress every
// ProgressEvery rows and once at the end, and gives the reader's lines
// about the whole file after those about single rows.
func TestEachSink(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,url,colour\n")
	for i := range ProgressEvery + 1 {
		if i == 1 {
			b.WriteString(",,\n")
			continue
		}
		fmt.Fprintf(&b, "n%d,https://e%d.example,red\n", i, i)
	}
	var calls [][2]int
	opts := transfer.ImportOptions{Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	x := Export{Label: "Test", Format: "test-csv", Known: map[string][]string{"name": {"name"}, "url": {"url"}},
		Required: []string{"url"}, Hint: "a test export"}
	res, err := Each(strings.NewReader(b.String()), opts, x, func(tb *Table, row Row, u *build.Unmapped) *build.Entry {
		e := build.NewEntry(item.Login, now)
		e.It.Title = tb.Get(row, "name")
		e.AddURL(tb.Get(row, "url"))
		e.Set("nickname", "x", item.Text)
		u.Add("row line")
		return e
	}, func(u *build.Unmapped) { u.Add("file line") })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != ProgressEvery || res.Skipped != 1 {
		t.Fatalf("%d items, %d skipped; want %d and 1", len(res.Items), res.Skipped, ProgressEvery)
	}
	it := res.Items[0].Item
	if it.Title != "n0" || len(it.Fields) != 2 || it.Fields[0].Name != "nickname" || it.Fields[1].Name != "colour" || it.Fields[1].Value != "red" {
		t.Errorf("first item: %q %+v", it.Title, it.Fields)
	}
	if res.Items[1].Item.Title != "n2" || res.Items[1].Source != "n2" {
		t.Errorf("second item %q (source %q), want the row after the blank one", res.Items[1].Item.Title, res.Items[1].Source)
	}
	if want := []string{"row line", "file line"}; !reflect.DeepEqual(res.Unmapped, want) {
		t.Errorf("Unmapped = %q, want %q", res.Unmapped, want)
	}
	if want := [][2]int{{ProgressEvery, 0}, {ProgressEvery + 1, ProgressEvery + 1}}; !reflect.DeepEqual(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
}

// Records finishes each row's draft, keeps its reports in the order made,
// counts blank rows as skipped, and names the line of a draft that does
// not make a valid item.
func TestRecordsSink(t *testing.T) {
	const file = "title,secret\nA,s1\n,\nB,s2\n"
	read := func(kind item.Kind) (*transfer.ImportResult, error) {
		in := NewInput(strings.NewReader(file), 64<<10)
		return Records(in, in.Br, "test export", transfer.ImportOptions{}, func([]string) error { return nil },
			func(row Row, unmapped *[]string) *build.Draft {
				d := build.NewDraft(item.Login, row.Cells[0], row.Cells[0], time.Time{}, time.Time{}, time.Time{}, unmapped)
				d.AddField("secret", row.Cells[1], kind)
				d.Report("line %d", row.Line)
				return d
			})
	}
	res, err := read(item.Hidden)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 || res.Skipped != 1 || res.Items[1].Source != "B" || res.Items[1].Item.Title != "B" {
		t.Fatalf("%d items, %d skipped: %+v", len(res.Items), res.Skipped, res.Items)
	}
	if want := []string{`entry "A": line 2`, `entry "B": line 4`}; !reflect.DeepEqual(res.Unmapped, want) {
		t.Errorf("Unmapped = %q, want %q", res.Unmapped, want)
	}
	_, err = read(item.Kind("no such kind"))
	if !errors.Is(err, transfer.ErrSourceFormat) || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("an invalid item: %v, want ErrSourceFormat naming line 2", err)
	}
}
