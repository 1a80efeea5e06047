package cli

import (
	"bufio"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/keyhold/keyhold/internal/gen"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/vault"
)

// itemFlags are the flags add and edit share.
type itemFlags struct {
	username      string
	urls          []string
	addURLs       []string
	addTags       []string
	removeTags    []string
	passwordStdin bool
	generate      bool
	length        int
	words         int
	totpStdin     bool
	tags          []string
	fields        []string
	urlFields     []string
	secretFields  []string
	removeFields  []string
	notes         string
	favorite      bool
	noFavorite    bool
	match         string
	title         string
}

func (f *itemFlags) register(cmd *cobra.Command, edit bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.username, "username", "", "user name")
	fl.StringArrayVar(&f.urls, "url", nil, "URL (repeat for several)")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from a line of stdin (prompted without echo on a terminal)")
	fl.BoolVar(&f.generate, "generate", false, "generate a random password")
	fl.IntVar(&f.length, "length", gen.DefaultPasswordSpec.Length, "with --generate: password length")
	fl.IntVar(&f.words, "words", 0, "with --generate: make a passphrase of this many words instead")
	fl.BoolVar(&f.totpStdin, "totp-secret-stdin", false, "read a TOTP secret (base32 or otpauth:// URI) from a line of stdin")
	fl.StringArrayVar(&f.tags, "tag", nil, "tag (repeat for several)")
	fl.StringArrayVar(&f.fields, "field", nil, "set a text field: NAME=VALUE (standard, e.g. cardholder=..., or custom); never for secrets")
	fl.StringArrayVar(&f.urlFields, "url-field", nil, "set a custom URL field: NAME=URL")
	fl.StringArrayVar(&f.secretFields, "secret-field", nil, "set a hidden field NAME, reading its value from a line of stdin")
	fl.StringVar(&f.notes, "notes", "", "notes")
	fl.BoolVar(&f.favorite, "favorite", false, "mark as favourite")
	fl.StringVar(&f.match, "match", "", "where the browser extension fills this login: domain (any host of its URLs' domains), host (only their exact hosts) or default (the extension's option)")
	if edit {
		fl.StringVar(&f.title, "title", "", "new title")
		fl.StringArrayVar(&f.addURLs, "add-url", nil, "add a URL, keeping the others (--url replaces them all)")
		fl.StringArrayVar(&f.removeFields, "remove-field", nil, "remove a field by name")
		fl.StringArrayVar(&f.addTags, "add-tag", nil, "add a tag, keeping the others (--tag replaces them all)")
		fl.StringArrayVar(&f.removeTags, "remove-tag", nil, "remove a tag (case ignored)")
		fl.BoolVar(&f.noFavorite, "no-favorite", false, "unmark as favourite")
	}
	cmd.MarkFlagsMutuallyExclusive("password-stdin", "generate")
}

// apply changes it according to the flags. Stdin secrets are read in flag
// order: password, TOTP secret, then each --secret-field.
func (c *cmdEnv) applyItemFlags(cmd *cobra.Command, f *itemFlags, it *item.Item) (generated bool, err error) {
	ch := cmd.Flags().Changed
	if f.title != "" {
		it.Title = f.title
	}
	if ch("username") {
		it.Set("username", f.username, item.Text)
	}
	if ch("url") {
		it.URLs = nil
	}
	for _, u := range append(append([]string{}, f.urls...), f.addURLs...) {
		if err := checkURL(u); err != nil {
			return false, usageError{err}
		}
		it.URLs = append(it.URLs, u)
	}
	if f.passwordStdin {
		pw, err := c.stdinSecret("password")
		if err != nil {
			return false, err
		}
		it.Set("password", string(pw), item.Hidden)
		keys.Wipe(pw)
	}
	if f.generate {
		var pw []byte
		var err error
		if f.words > 0 {
			spec := gen.DefaultPassphraseSpec
			spec.Words = f.words
			pw, err = gen.Passphrase(spec)
		} else {
			spec := gen.DefaultPasswordSpec
			spec.Length = f.length
			pw, err = gen.Password(spec)
		}
		if err != nil {
			return false, usageError{err}
		}
		it.Set("password", string(pw), item.Hidden)
		keys.Wipe(pw)
		generated = true
	}
	if f.totpStdin {
		s, err := c.stdinSecret("TOTP secret")
		if err != nil {
			return false, err
		}
		v, err := normalizeTOTP(string(s))
		keys.Wipe(s)
		if err != nil {
			return false, usageError{err}
		}
		it.Set("totp", v, item.TOTP)
	}
	if ch("tag") {
		it.Tags = nil
		for _, t := range f.tags {
			if t = strings.TrimSpace(t); t != "" {
				it.Tags = append(it.Tags, t)
			}
		}
	}
	for _, t := range f.addTags {
		t = strings.TrimSpace(t)
		if t != "" && !slices.ContainsFunc(it.Tags, func(o string) bool { return strings.EqualFold(o, t) }) {
			it.Tags = append(it.Tags, t)
		}
	}
	for _, t := range f.removeTags {
		t = strings.TrimSpace(t)
		n := len(it.Tags)
		it.Tags = slices.DeleteFunc(it.Tags, func(o string) bool { return strings.EqualFold(o, t) })
		if len(it.Tags) == n {
			return false, missingPart("%q has no tag %q to remove", it.Title, t)
		}
	}
	for _, kv := range f.fields {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return false, usageError{fmt.Errorf("--field takes NAME=VALUE, got %q", name)}
		}
		if isSecretName(name) {
			return false, usageError{fmt.Errorf("--field %s would put a secret on the command line; use --secret-field %s and give the value on stdin", name, name)}
		}
		it.Set(strings.TrimSpace(name), val, item.Text)
	}
	for _, kv := range f.urlFields {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return false, usageError{fmt.Errorf("--url-field takes NAME=URL, got %q", name)}
		}
		if err := checkURL(val); err != nil {
			return false, usageError{err}
		}
		it.Set(strings.TrimSpace(name), val, item.URL)
	}
	for _, name := range f.secretFields {
		v, err := c.stdinSecret(name)
		if err != nil {
			return false, err
		}
		it.Set(name, string(v), item.Hidden)
		keys.Wipe(v)
	}
	for _, name := range f.removeFields {
		if !it.Remove(name) && !(strings.EqualFold(name, "otp") && it.Remove("totp")) {
			return false, missingPart("%q has no field %q to remove", it.Title, name)
		}
	}
	if ch("notes") {
		it.Notes = f.notes
	}
	if f.favorite {
		it.Favorite = true
	}
	if f.noFavorite {
		it.Favorite = false
	}
	if ch("match") {
		m, err := item.ParseMatch(f.match)
		if err != nil {
			return false, usageError{err}
		}
		it.Match = m
	}
	return generated, nil
}

// isSecretName reports field names whose values are secrets by nature, so
// that --field refuses them.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"password", "secret", "pin", "cvv", "number", "totp", "iban", "account_number", "passport", "license"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme == "" && p.Host == "" && p.Path == "") {
		return fmt.Errorf("%q is not a URL", u)
	}
	return nil
}

// normalizeTOTP accepts an otpauth:// URI or a bare base32 secret (spaces
// and lower case allowed) and returns what is stored.
func normalizeTOTP(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "otpauth://") {
		k, err := otp.NewKeyFromURL(s)
		if err != nil || k.Secret() == "" {
			return "", errors.New("the TOTP URI is not a valid otpauth:// URI with a secret")
		}
		return s, nil
	}
	sec := strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "-", ""))
	sec = strings.TrimRight(sec, "=")
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec); err != nil || len(sec) < 16 {
		return "", errors.New("the TOTP secret is not valid base32 of at least 80 bits")
	}
	return sec, nil
}

func (c *cmdEnv) addCmd() *cobra.Command {
	var f itemFlags
	cmd := &cobra.Command{
		Use:   "add TYPE TITLE",
		Short: "Add an item (login, note, card, identity, bank)",
		Long: `Add an item. TYPE is one of login, note, card, identity, bank.

Secrets never go on the command line: --password-stdin, --totp-secret-stdin
and --secret-field NAME read one line of stdin each, in that order (on a
terminal they are prompted for without echo).

Examples:
  keyhold add login GitHub --username alice --url https://github.com --generate
  printf '%s\n' "$PW" | keyhold add login Mail --username me --password-stdin
  keyhold add card Visa --field cardholder="A. Smith" --field expiry=12/29 --secret-field number --secret-field cvv`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := item.ParseType(args[0])
			if err != nil {
				return usageError{err}
			}
			it := item.New(t, args[1], vault.Now())
			if t == item.Login && !f.passwordStdin && !f.generate && c.stdinIsTerminal() {
				// On a terminal a login gets its password asked for:
				// typed, or generated on Enter.
				pw, err := readSecretTTY("Password for " + quoteArg(args[1]) + " (Enter to generate one): ")
				if err != nil {
					return err
				}
				if len(pw) > 0 {
					it.Set("password", string(pw), item.Hidden)
					keys.Wipe(pw)
				} else {
					f.generate = true
				}
			}
			generated, err := c.applyItemFlags(cmd, &f, it)
			if err != nil {
				return err
			}
			if err := it.Validate(); err != nil {
				return usageError{err}
			}
			st, err := c.open()
			if err != nil {
				return err
			}
			c.warnSameTitle(st, it.Title)
			es, err := st.Add(c.ctx, it)
			if err != nil {
				return err
			}
			if c.jsonOut {
				return c.printJSON(newItemJSON(es[0]))
			}
			fmt.Fprintln(c.stdout, es[0].ID)
			c.infof("added %s %q", t, it.Title)
			if generated {
				c.infof("hint: the generated password is stored; `keyhold copy %s` copies it", quoteArg(it.Title))
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

// warnSameTitle warns when another item already has this title: the new
// one is added all the same, but the title alone will no longer name
// either, so the warning names the other by its id.
func (c *cmdEnv) warnSameTitle(st store, title string) {
	e, err := st.Resolve(c.ctx, strings.TrimSpace(title), vault.Active)
	var ae *vault.AmbiguousError
	switch {
	case err == nil && strings.EqualFold(e.Item.Title, strings.TrimSpace(title)):
		c.warnf("another item is titled %q (%s, id %s); from now on name each by its id", e.Item.Title, e.Item.Type, e.ID)
	case errors.As(err, &ae):
		c.warnf("%d items are titled %q already (ids %s); from now on name each by its id", len(ae.IDs), title, strings.Join(ae.IDs, ", "))
	}
}

// stdinIsTerminal reports whether the command's stdin is a terminal: a
// person at a keyboard rather than a script.
func (c *cmdEnv) stdinIsTerminal() bool {
	f, ok := c.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t'\"$`\\") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

func (c *cmdEnv) editCmd() *cobra.Command {
	var f itemFlags
	var allowDisk bool
	cmd := &cobra.Command{
		Use:   "edit TITLE|ID [flags]",
		Short: "Change an item (with no flags: in $VISUAL or $EDITOR); the old revision is kept in its history",
		Long: `Change an item; the old revision is kept in its history.

With flags, each flag changes one thing (see below). With none, the item
opens in your editor ($VISUAL, else $EDITOR, else vi) as text, secrets
included:

  title: GitHub
  type: login
  username: alice
  password [hidden]: Tr0ub4dor&3
  recovery codes [hidden]: |
    1111-2222
    3333-4444
  url: https://github.com
  tag: work
  favorite: no
  match: default
  notes:

One KEY: VALUE per line. title, type, url, tag, favorite, match and notes
are the item's own (match is where the browser extension fills the login:
domain, host or default); every other key is a field, its kind in
brackets unless it is text ([hidden], [url], [totp]; a standard field such
as a login's password takes its kind without one). Repeat url and tag for
several. A value of several lines is "KEY: |" followed by its lines, each
indented by two spaces; a value with blanks at its ends or control
characters is a Go-quoted string ("..."). Lines starting with # are
ignored. Delete a line to delete that field, URL or tag. The type cannot
be changed.

Save and quit to store a new revision; an unchanged or emptied file
changes nothing. Text that cannot be read reopens the editor on a terminal
with the mistake named at the top, and otherwise fails (exit 2) with the
item unchanged.

The file is made 0600 in a new directory in RAM ($XDG_RUNTIME_DIR, else
/dev/shm); vim, nvim, emacs and nano are started with their swap, backup,
undo and history files off; afterwards every file in the directory is
overwritten with zeros and removed, also after an error or a signal.
Where there is no such directory (macOS, Windows) the edit is refused
(exit 9) unless --allow-disk-tempfile.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !itemFlagsChanged(cmd) {
				return c.changeItemIn(args[0], vault.Active, func(_ store, e *vault.Entry, it *item.Item) (string, error) {
					ne, err := c.editInEditor(e, allowDisk)
					if err != nil || ne == nil {
						return "", err
					}
					*it = *ne
					return fmt.Sprintf("updated %q", it.Title), nil
				})
			}
			if allowDisk {
				return usageError{errors.New("--allow-disk-tempfile is for editing in $EDITOR, with no other flags")}
			}
			return c.changeItem(args[0], func(it *item.Item) (string, error) {
				if _, err := c.applyItemFlags(cmd, &f, it); err != nil {
					return "", err
				}
				return fmt.Sprintf("updated %q", it.Title), nil
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&allowDisk, "allow-disk-tempfile", false, "with no other flags: allow the file to edit in the temporary directory, on disk, when there is no directory in RAM")
	return cmd
}

// itemFlagsChanged reports whether any of edit's own flags but
// --allow-disk-tempfile was given.
func itemFlagsChanged(cmd *cobra.Command) bool {
	changed := false
	local := cmd.LocalNonPersistentFlags()
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name != "allow-disk-tempfile" && local.Lookup(fl.Name) != nil {
			changed = true
		}
	})
	return changed
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (c *cmdEnv) showCmd() *cobra.Command {
	var field string
	var reveal, clipIt, qr bool
	var after time.Duration
	cmd := &cobra.Command{
		Use:   "show TITLE|ID",
		Short: "Show an item (hidden fields masked unless --reveal)",
		Long: `Show an item. Hidden fields (passwords, card numbers, TOTP secrets) are
masked unless --reveal. --field NAME prints that one value alone, revealed,
for scripts: keyhold show GitHub --field password (--field otp: the
current TOTP code). -c/--clip copies the field, by default the item's main
secret, to the clipboard instead of printing anything.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, e, err := c.resolveRead(args[0], vault.Active)
			if err != nil {
				return err
			}
			if clipIt || qr {
				f := field
				if f == "" {
					if f, err = mainSecret(e.Item); err != nil {
						return err
					}
				}
				v, err := fieldValue(e, f, time.Now())
				if err != nil {
					return err
				}
				if qr {
					q := kit.TerminalQR(v)
					if q == "" {
						return usageError{fmt.Errorf("the %s of %q is too long for a QR code", f, e.Item.Title)}
					}
					fmt.Fprint(c.stdout, q)
					c.infof("the QR code holds the %s of %q", f, e.Item.Title)
					return nil
				}
				if err := c.copyValue(v, after); err != nil {
					return err
				}
				c.infof("copied %s of %q to the clipboard; it is cleared in %s", f, e.Item.Title, after)
				return nil
			}
			if field != "" {
				v, err := fieldValue(e, field, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, v)
				return nil
			}
			if c.jsonOut {
				return c.printJSON(newItemJSON(e))
			}
			c.printItem(e.Item, reveal)
			fmt.Fprintf(c.stdout, "  %-12s %s (revision %d)\n", "id:", e.ID, e.Revision)
			return nil
		},
	}
	cmd.Flags().StringVar(&field, "field", "", "print only this field's value (e.g. password, username, url, notes, totp; otp: the current code)")
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show hidden values")
	cmd.Flags().BoolVarP(&clipIt, "clip", "c", false, "copy the field (default: the main secret) to the clipboard instead of printing")
	cmd.Flags().DurationVar(&after, "clear-after", 45*time.Second, "with --clip: clear the clipboard after this long")
	cmd.Flags().BoolVar(&qr, "qr", false, "print the field (default: the main secret) as a QR code for the terminal, to scan with a phone")
	cmd.MarkFlagsMutuallyExclusive("clip", "qr")
	return cmd
}

func (c *cmdEnv) printItem(it *item.Item, reveal bool) {
	w := c.stdout
	fmt.Fprintf(w, "%s\n", it.Title)
	fav := ""
	if it.Favorite {
		fav = " ★"
	}
	fmt.Fprintf(w, "  %-12s %s%s\n", "type:", it.Type, fav)
	for _, f := range it.Fields {
		v := f.Value
		if (f.Kind == item.Hidden || f.Kind == item.TOTP) && !reveal {
			v = "•••••••• (--reveal or --field " + f.Name + ")"
		}
		fmt.Fprintf(w, "  %-12s %s\n", f.Name+":", v)
	}
	for _, u := range it.URLs {
		fmt.Fprintf(w, "  %-12s %s\n", "url:", u)
	}
	if len(it.Tags) > 0 {
		fmt.Fprintf(w, "  %-12s %s\n", "tags:", strings.Join(it.Tags, ", "))
	}
	switch it.Match {
	case item.MatchHost:
		fmt.Fprintf(w, "  %-12s %s\n", "match:", "host (the browser fills only on the exact hosts of its URLs)")
	case item.MatchDomain:
		fmt.Fprintf(w, "  %-12s %s\n", "match:", "domain (the browser fills on any host of its URLs' domains)")
	}
	if it.Notes != "" {
		fmt.Fprintf(w, "  %-12s %s\n", "notes:", strings.ReplaceAll(it.Notes, "\n", "\n               "))
	}
	for _, a := range it.Attachments {
		fmt.Fprintf(w, "  %-12s %s (%s; keyhold attachment save)\n", "attachment:", a.Name, byteSize(len(a.Data)))
	}
	fmt.Fprintf(w, "  %-12s %s\n", "created:", it.Created.Local().Format(time.DateTime))
	fmt.Fprintf(w, "  %-12s %s\n", "modified:", it.Modified.Local().Format(time.DateTime))
	if it.Trashed != nil {
		fmt.Fprintf(w, "  %-12s %s\n", "trashed:", it.Trashed.Local().Format(time.DateTime))
	}
}

func (c *cmdEnv) printList(es []*vault.Entry) error {
	if c.jsonOut {
		out := make([]itemSummaryJSON, len(es))
		for i, e := range es {
			out[i] = newItemSummaryJSON(e)
		}
		return c.printJSON(out)
	}
	return writeColumns(c.stdout, len(es), 4, func(i, j int) string {
		switch e := es[i]; j {
		case 0:
			return e.Item.Title
		case 1:
			return string(e.Item.Type)
		case 2:
			return e.Item.Username()
		}
		return es[i].ID.String()
	})
}

// writeColumns writes rows as text/tabwriter does with padding 2 and
// spaces (every column but the last padded to its widest cell plus two),
// but with one pass, one buffer and no formatting: for 10,000 items
// tabwriter took about 10 ms. Rows whose cells contain a character that
// tabwriter treats specially (tab, newline, vertical tab, form feed, its
// escape byte 0xff) go through tabwriter itself, so the output is the
// same either way (TestWriteColumnsAsTabwriter). There are rows rows of
// ncol cells; cell(i, j) is row i's cell j (called more than once).
func writeColumns(w io.Writer, rows, ncol int, cell func(i, j int) string) error {
	widths := make([]int, ncol-1)
	for i := range rows {
		for j := range ncol {
			c := cell(i, j)
			for k := 0; k < len(c); k++ {
				switch c[k] {
				case '\t', '\n', '\v', '\f', tabwriter.Escape:
					return writeTabwriter(w, rows, ncol, cell)
				}
			}
			if j < ncol-1 {
				widths[j] = max(widths[j], utf8.RuneCountInString(c)+2)
			}
		}
	}
	pad := 0
	for _, wd := range widths {
		pad = max(pad, wd)
	}
	spaces := strings.Repeat(" ", pad)
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range rows {
		for j := range ncol {
			c := cell(i, j)
			bw.WriteString(c)
			if j < ncol-1 {
				bw.WriteString(spaces[:widths[j]-utf8.RuneCountInString(c)])
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// writeTabwriter is writeColumns by text/tabwriter, for the rows it does
// not handle itself.
func writeTabwriter(w io.Writer, rows, ncol int, cell func(i, j int) string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	for i := range rows {
		for j := range ncol {
			io.WriteString(tw, cell(i, j))
			if j < ncol-1 {
				io.WriteString(tw, "\t")
			}
		}
		io.WriteString(tw, "\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// listFilter is list's and search's --type and --tag.
type listFilter struct {
	typ string
	tag string
}

func (lf *listFilter) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&lf.tag, "tag", "", "only items with this tag (case ignored)")
	cmd.Flags().StringVar(&lf.typ, "type", "", "only items of this type (login, note, card, identity, bank)")
}

// apply keeps the entries that pass the filter.
func (lf *listFilter) apply(es []*vault.Entry) ([]*vault.Entry, error) {
	var t item.Type
	if lf.typ != "" {
		var err error
		if t, err = item.ParseType(lf.typ); err != nil {
			return nil, usageError{err}
		}
	}
	if t == "" && lf.tag == "" {
		return es, nil
	}
	var keep []*vault.Entry
	for _, e := range es {
		if t != "" && e.Item.Type != t {
			continue
		}
		if lf.tag != "" && !slices.ContainsFunc(e.Item.Tags, func(x string) bool { return strings.EqualFold(x, lf.tag) }) {
			continue
		}
		keep = append(keep, e)
	}
	return keep, nil
}

func (c *cmdEnv) listCmd() *cobra.Command {
	var trash bool
	var lf listFilter
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List items (title, type, username, id)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Almost all that a listing allocates (the summaries) stays
			// live until it is printed, so a collection halfway frees
			// next to nothing, and cost 4 ms of `list`'s 16 with 10k
			// items. Collect later instead.
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			st, err := c.open()
			if err != nil {
				return err
			}
			f := vault.Active
			if trash {
				f = vault.Trash
			}
			es, err := st.Search(c.ctx, "", f)
			if err != nil {
				return err
			}
			if es, err = lf.apply(es); err != nil {
				return err
			}
			return c.printList(es)
		},
	}
	cmd.Flags().BoolVar(&trash, "trash", false, "list the items in the trash")
	lf.register(cmd)
	return cmd
}

// noMatchError is a search that found nothing: exit 4, like a name that
// names no item.
type noMatchError struct{ query string }

func (e noMatchError) Error() string { return fmt.Sprintf("no item matches %q", e.query) }
func (e noMatchError) Unwrap() error { return vault.ErrNotFound }

func (c *cmdEnv) searchCmd() *cobra.Command {
	var lf listFilter
	cmd := &cobra.Command{
		Use:     "search TEXT",
		Aliases: []string{"find"},
		Short:   "Find items whose title, username, URLs, tags, notes or text fields contain every word of TEXT",
		Long: `Find items whose title, type, username, URLs, tags, notes or text fields
contain every word of TEXT (case ignored); hidden values are never
searched. --type and --tag narrow the result. No match: a message on
stderr and exit 4.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.open()
			if err != nil {
				return err
			}
			q := strings.Join(args, " ")
			es, err := st.Search(c.ctx, q, vault.Active)
			if err != nil {
				return err
			}
			if es, err = lf.apply(es); err != nil {
				return err
			}
			if len(es) == 0 {
				if c.jsonOut {
					c.printList(es)
				}
				return noMatchError{q}
			}
			return c.printList(es)
		},
	}
	lf.register(cmd)
	return cmd
}

func (c *cmdEnv) rmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm TITLE|ID",
		Short: "Move an item to the trash (keyhold restore brings it back)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, e, err := c.resolve(args[0], vault.Active)
			if err != nil {
				return err
			}
			if e, err = st.Trash(c.ctx, e.ID.String()); err != nil {
				return err
			}
			c.infof("moved %q to the trash (keyhold restore %s brings it back)", e.Item.Title, e.ID)
			return nil
		},
	}
}

func (c *cmdEnv) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore TITLE|ID",
		Short: "Take an item out of the trash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, e, err := c.resolve(args[0], vault.Trash)
			if err != nil {
				return err
			}
			if e, err = st.Restore(c.ctx, e.ID.String()); err != nil {
				return err
			}
			c.infof("restored %q", e.Item.Title)
			return nil
		},
	}
}

func (c *cmdEnv) historyCmd() *cobra.Command {
	var reveal bool
	var field string
	var restore uint64
	cmd := &cobra.Command{
		Use:   "history TITLE|ID",
		Short: "Show an item's past revisions, a field's past values, or restore a revision",
		Long: `Show an item's revisions, oldest first, with the names of the fields that
changed (never their values).

--field NAME lists that field's values through the revisions, each with
its revision number and time; hidden values are masked unless --reveal.

--restore REV makes revision REV current again, as a new revision: the
history keeps every revision, the current one included.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("restore") {
				if field != "" || reveal {
					return usageError{errors.New("--restore takes no --field or --reveal")}
				}
				return c.restoreRevision(args[0], restore)
			}
			st, e, err := c.resolveRead(args[0], vault.All)
			if err != nil {
				return err
			}
			revs, err := st.History(c.ctx, e.ID)
			if err != nil {
				return err
			}
			revs = append(revs, vault.Revision{Revision: e.Revision, Item: e.Item})
			if field != "" {
				return c.printFieldHistory(e, revs, fieldAlias(field), reveal)
			}
			if c.jsonOut {
				out := make([]itemJSON, len(revs))
				for i, r := range revs {
					out[i] = newItemJSON(&vault.Entry{ID: e.ID, Revision: r.Revision, Item: r.Item})
				}
				return c.printJSON(out)
			}
			for i, r := range revs {
				label := ""
				if i == len(revs)-1 {
					label = " (current)"
				}
				changed := ""
				if i > 0 {
					changed = "  changed: " + strings.Join(diffFields(revs[i-1].Item, r.Item), ", ")
				}
				fmt.Fprintf(c.stdout, "revision %d%s  %s  %s%s\n", r.Revision, label, r.Item.Modified.Local().Format(time.DateTime), r.Item.Title, changed)
				if reveal {
					c.printItem(r.Item, true)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "print hidden values: every revision in full, or with --field the field's values")
	cmd.Flags().StringVar(&field, "field", "", "list this field's past values with their revisions (masked unless --reveal)")
	cmd.Flags().Uint64Var(&restore, "restore", 0, "make revision REV current again, as a new revision")
	return cmd
}

// fieldAlias maps the names other password managers use for a field to
// ours: otp (gopass, op, bw) is the TOTP secret.
func fieldAlias(name string) string {
	if strings.EqualFold(name, "otp") {
		return "totp"
	}
	return name
}

// printFieldHistory lists the revisions in which a field took a new value
// (or disappeared), oldest first, the current value last.
func (c *cmdEnv) printFieldHistory(e *vault.Entry, revs []vault.Revision, field string, reveal bool) error {
	type change struct {
		rev     uint64
		when    time.Time
		value   string
		present bool
		hidden  bool
	}
	var out []change
	seen := false
	for _, r := range revs {
		v, ok := r.Item.Get(field)
		hidden := false
		for _, f := range r.Item.Fields {
			if strings.EqualFold(f.Name, field) {
				hidden = f.Kind == item.Hidden || f.Kind == item.TOTP
				break
			}
		}
		if !ok && !seen {
			continue
		}
		if n := len(out); n > 0 && out[n-1].present == ok && out[n-1].value == v {
			continue
		}
		seen = true
		out = append(out, change{r.Revision, r.Item.Modified, v, ok, hidden})
	}
	if len(out) == 0 {
		return missingPart("%q has never had a field %q", e.Item.Title, field)
	}
	if c.jsonOut {
		js := make([]fieldChangeJSON, len(out))
		for i, ch := range out {
			js[i] = fieldChangeJSON{Revision: ch.rev, Modified: ch.when.Format(time.RFC3339Nano), Present: ch.present}
			if ch.present {
				js[i].Value = &out[i].value
			}
		}
		return c.printJSON(js)
	}
	for i, ch := range out {
		v := ch.value
		switch {
		case !ch.present:
			v = "(removed)"
		case ch.hidden && !reveal:
			v = "••••••••"
		}
		label := ""
		if i == len(out)-1 && ch.rev == e.Revision {
			label = " (current)"
		} else if i == len(out)-1 && ch.present {
			label = " (current value)"
		}
		fmt.Fprintf(c.stdout, "revision %d%s  %s  %s\n", ch.rev, label, ch.when.Local().Format(time.DateTime), strings.ReplaceAll(v, "\n", "\\n"))
	}
	if !reveal {
		for _, ch := range out {
			if ch.hidden && ch.present {
				c.infof("hidden values are masked; --reveal shows them")
				break
			}
		}
	}
	return nil
}

// restoreRevision makes an old revision current as a new revision, by the
// path every edit takes (Put), so the history, the manifest and sync all
// see an ordinary change. The item's place in or out of the trash stays
// as it is now.
func (c *cmdEnv) restoreRevision(ref string, rev uint64) error {
	return c.changeItemIn(ref, vault.All, func(st store, e *vault.Entry, it *item.Item) (string, error) {
		if rev == e.Revision {
			return "", usageError{fmt.Errorf("revision %d is the current revision of %q", rev, e.Item.Title)}
		}
		revs, err := st.History(c.ctx, e.ID)
		if err != nil {
			return "", err
		}
		for _, r := range revs {
			if r.Revision != rev {
				continue
			}
			old := r.Item.Clone()
			old.Created = it.Created
			old.Trashed = it.Trashed
			*it = *old
			return fmt.Sprintf("restored %q to revision %d", it.Title, rev), nil
		}
		return "", missingPart("%q has no revision %d (`keyhold history %s` lists them)", e.Item.Title, rev, quoteArg(e.Item.Title))
	})
}

// diffFields names what changed between two revisions (never values).
func diffFields(a, b *item.Item) []string {
	var out []string
	if a.Title != b.Title {
		out = append(out, "title")
	}
	names := map[string]bool{}
	for _, f := range a.Fields {
		names[f.Name] = true
	}
	for _, f := range b.Fields {
		names[f.Name] = true
	}
	for _, f := range append(append([]item.Field{}, a.Fields...), b.Fields...) {
		if !names[f.Name] {
			continue
		}
		names[f.Name] = false
		va, _ := a.Get(f.Name)
		vb, _ := b.Get(f.Name)
		if va != vb {
			out = append(out, f.Name)
		}
	}
	if strings.Join(a.URLs, "\n") != strings.Join(b.URLs, "\n") {
		out = append(out, "urls")
	}
	if a.Notes != b.Notes {
		out = append(out, "notes")
	}
	if strings.Join(a.Tags, "\n") != strings.Join(b.Tags, "\n") {
		out = append(out, "tags")
	}
	if (a.Trashed == nil) != (b.Trashed == nil) {
		if b.Trashed != nil {
			out = append(out, "trashed")
		} else {
			out = append(out, "restored")
		}
	}
	if a.Favorite != b.Favorite {
		out = append(out, "favorite")
	}
	if a.Match != b.Match {
		out = append(out, "match")
	}
	if len(out) == 0 {
		out = append(out, "nothing")
	}
	return out
}
