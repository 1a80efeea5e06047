package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
)

// JSONProblem says what is wrong with a JSON file without quoting it.
func JSONProblem(err error, what string) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end"):
		return fmt.Sprintf("the file ends early; it is truncated (export it again) or not a %s", what)
	case errors.As(err, &se):
		return fmt.Sprintf("the file is not valid JSON (error at byte %d); it is damaged or not a %s", se.Offset, what)
	case errors.As(err, &te):
		return fmt.Sprintf("the value of %q has the wrong type; this is not a %s", te.Field, what)
	case errors.Is(err, io.EOF):
		return fmt.Sprintf("the file is empty; expected a %s", what)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("the file ends early; it is truncated (export it again) or not a %s", what)
	}
	return fmt.Sprintf("the file is not a %s", what)
}

// JoinLines joins the non-empty parts, one a line.
func JoinLines(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n")
}

// HostOf returns a URL's host name, accepting URLs written without a
// scheme ("example.com/login").
func HostOf(s string) string {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	// Hostname unescapes %xx, which can yield invalid UTF-8 or control
	// characters; such a host makes no title.
	h := u.Hostname()
	if len(h) > item.MaxTitle || strings.TrimSpace(h) == "" || !utf8.ValidString(h) ||
		strings.ContainsFunc(h, unicode.IsControl) {
		return ""
	}
	return h
}

// Clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Dedupe removes repeated tags, keeping the first of each.
func Dedupe(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(tags))
	out := tags[:0]
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// Detach copies every string of an imported item out of the row it was
// read from. encoding/csv cuts a record's cells from one string, so a
// title kept by reference would keep the whole line, ignored cells and
// all, for as long as the import runs.
func Detach(im transfer.Imported) transfer.Imported {
	it := im.Item
	it.Title = strings.Clone(it.Title)
	it.Notes = strings.Clone(it.Notes)
	for i := range it.Fields {
		it.Fields[i].Name = strings.Clone(it.Fields[i].Name)
		it.Fields[i].Value = strings.Clone(it.Fields[i].Value)
	}
	for i := range it.URLs {
		it.URLs[i] = strings.Clone(it.URLs[i])
	}
	for i := range it.Tags {
		it.Tags[i] = strings.Clone(it.Tags[i])
	}
	im.Source = strings.Clone(im.Source)
	return im
}
