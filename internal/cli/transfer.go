package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
	"github.com/keyhold/keyhold/internal/transfer/kdbx"
	"github.com/keyhold/keyhold/internal/transfer/keyholdcsv"
	"github.com/keyhold/keyhold/internal/transfer/sources"
	"github.com/keyhold/keyhold/internal/vault"
)

func (c *cmdEnv) importCmd() *cobra.Command {
	var formatName, sourcePwFile, identityFile, keyFile string
	var dryRun, emptyPw bool
	cmd := &cobra.Command{
		Use:   "import --format FORMAT FILE",
		Short: "Import items from another password manager or a keyhold export",
		Long: `Import items. FILE may be "-" for stdin.

  --format kdbx            KeePass / KeePassXC database (KDBX 2, 3.1 or 4); the
                           password from --source-password-file or the terminal,
                           --empty-source-password for a password that is set
                           but empty, --key-file for a key file
  --format bitwarden-json  Bitwarden JSON export (plain, or password-protected)
  --format bitwarden-csv   Bitwarden CSV export
  --format 1pux            1Password export (1PUX)
  --format 1password-csv   1Password CSV export
  --format msecure-csv     mSecure CSV export
  --format lastpass-csv    LastPass CSV export
  --format chrome-csv      Chrome or Edge passwords CSV
  --format firefox-csv     Firefox logins CSV
  --format csv             header title,username,password,url,notes (any order; common
                           aliases and extra columns are mapped, extra columns become
                           custom fields, and every column's fate is reported)
  --format keyhold         an encrypted keyhold export: restores items exactly, with ids
                           and history; the passphrase comes from --source-password-file
                           or the terminal, or use --identity FILE for an age key

Every value that could not be given a place is reported, by entry and field
name (never by value); nothing is dropped silently. Items already in the
vault, and repeats within the file, are detected and skipped (the same
type, title, URLs, notes, field values and attachments; keyhold: the same
id), so importing a file twice adds nothing the second time. --dry-run shows what would happen and writes nothing. Import
is all or nothing. docs/IMPORT.md says how each source's fields map.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := append([]string{"csv", "keyhold"}, sources.Names()...)
			if emptyPw && sourcePwFile != "" {
				return usageError{errors.New("give either --source-password-file or --empty-source-password, not both")}
			}
			if emptyPw && formatName != "kdbx" {
				return usageError{errors.New("--empty-source-password is for KeePass databases (--format kdbx)")}
			}
			switch formatName {
			case "":
				return usageError{fmt.Errorf("--format is required (one of: %s)", strings.Join(names, ", "))}
			case "csv", "keyhold":
			default:
				if _, err := sources.Source(formatName); err != nil {
					return usageError{fmt.Errorf("unknown import format %q (one of: %s)", formatName, strings.Join(names, ", "))}
				}
			}
			if formatName == "csv" {
				// Streamed: a large CSV is never held whole in memory.
				return c.importCSVFile(args[0], dryRun)
			}
			creds := sourceCreds{pwFile: sourcePwFile, emptyPw: emptyPw, keyFile: keyFile}
			if read := sources.Streamed(formatName); read != nil {
				// Streamed too: memory follows the items, not the file.
				return c.importSourceStream(formatName, args[0], read, creds, dryRun)
			}
			data, err := c.readInput(args[0], importLimit(formatName))
			if err != nil {
				return err
			}
			defer clear(data)
			switch formatName {
			case "keyhold":
				return c.importKeyhold(data, sourcePwFile, identityFile, dryRun)
			}
			return c.importSource(formatName, func(opts transfer.ImportOptions) (*transfer.ImportResult, error) {
				read, err := sources.Source(formatName)
				if err != nil {
					return nil, usageError{err}
				}
				return read(data, opts)
			}, 0, creds, dryRun)
		},
	}
	f := cmd.Flags()
	f.StringVar(&formatName, "format", "", "the file's format (see above)")
	f.StringVar(&sourcePwFile, "source-password-file", "", "read the file's password or passphrase from this file")
	f.BoolVar(&emptyPw, "empty-source-password", false, "the KeePass database's password is set and empty (not the same as no password)")
	f.StringVar(&keyFile, "key-file", "", "KeePass key file (kdbx)")
	f.StringVar(&identityFile, "identity", "", "age identity file for an export encrypted to an age recipient")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be imported; write nothing")
	return cmd
}

// sourceCreds are what the user gave to open an encrypted source file.
type sourceCreds struct {
	pwFile  string
	emptyPw bool // the password is set and empty (KeePass)
	keyFile string
}

// importSourceStream imports a CSV export of another password manager,
// reading the file (or stdin for "-") as a stream: a file larger than the
// format's limit is refused while it is read. A first pass over a file
// counts its lines, in fixed memory, for the progress bar.
func (c *cmdEnv) importSourceStream(name, path string, read transfer.CSVStreamReader, creds sourceCreds, dryRun bool) error {
	var r io.Reader = c.stdin
	lines := 0
	limit := importLimit(name)
	tooLarge := exitError{fmt.Errorf("%s is larger than %d MiB, more than Keyhold imports in this format; nothing was imported", path, limit>>20), ExitDamaged}
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		// A file that says it is too large is refused before it is read;
		// one that grows, or a pipe, is stopped by the limit below.
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > int64(limit) {
			return tooLarge
		}
		if lines, err = countLines(f); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = f
	}
	lim := &limitReader{r: r, max: int64(limit)}
	return c.importSource(name, func(opts transfer.ImportOptions) (*transfer.ImportResult, error) {
		res, err := read(lim, opts)
		if lim.over {
			return nil, tooLarge
		}
		return res, err
	}, max(lines-1, 0), creds, dryRun)
}

// limitReader reads at most max bytes and notes when the input holds
// more.
type limitReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		// One byte more than the limit says the file is too large.
		var one [1]byte
		if k, _ := io.ReadFull(l.r, one[:]); k > 0 {
			l.over = true
			return 0, errInputTooLarge
		}
		return 0, io.EOF
	}
	if rest := l.max - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// errInputTooLarge stops a reader at a file over its format's limit.
var errInputTooLarge = errors.New("the file is larger than its format's limit")

// importSource imports from another password manager's file through
// read, which reads it with the options given. total is the number of
// entries the progress bar counts to when the reader cannot say before it
// ends (0: the reader says).
func (c *cmdEnv) importSource(name string, read func(transfer.ImportOptions) (*transfer.ImportResult, error), total int, creds sourceCreds, dryRun bool) error {
	var err error
	pwFile, keyFile := creds.pwFile, creds.keyFile
	opts := transfer.ImportOptions{Now: vault.Now(), EmptyPassword: creds.emptyPw}
	if pwFile != "" {
		if opts.Password, err = readSecretFile(pwFile); err != nil {
			return err
		}
	}
	defer func() { keys.Wipe(opts.Password) }()
	if keyFile != "" {
		if opts.KeyFile, err = os.ReadFile(keyFile); err != nil {
			return err
		}
		defer clear(opts.KeyFile)
	}
	var bar func(int)
	finish := func() {}
	opts.Progress = func(done, n int) {
		if n == 0 || total > 0 {
			n = total
		}
		if bar == nil && n > 0 {
			bar, finish = c.progress(n, "reading")
			if bar == nil {
				bar = func(int) {}
			}
		}
		if bar != nil {
			bar(done)
		}
	}
	res, err := read(opts)
	if errors.Is(err, transfer.ErrSourcePassword) && pwFile == "" && !creds.emptyPw {
		// The file is encrypted: ask for its password once, if there is
		// a terminal to ask on. KeePass tells an empty password from none,
		// so an empty answer is taken as an empty password only when the
		// user confirms it.
		pw, terr := readSecretTTY("Password of the " + name + " file: ")
		if terr == nil && len(pw) == 0 && name == "kdbx" {
			if ok, _ := confirmTTY("Open it with an empty password?"); ok {
				opts.EmptyPassword = true
			}
		}
		if terr == nil {
			opts.Password = pw
			res, err = read(opts)
		} else if errors.Is(terr, errNoInput) {
			err = fmt.Errorf("%w (give it with --source-password-file FILE)", err)
		}
	}
	finish()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return err
		}
		if errors.Is(err, transfer.ErrSourcePassword) {
			return exitError{fmt.Errorf("%w; nothing was imported", err), ExitAuth}
		}
		return exitError{fmt.Errorf("%w; nothing was imported", err), ExitDamaged}
	}
	// Items that bring their history go in through the vault's exact
	// import, which needs a session of this process: unlock once, here,
	// and use that session for the duplicate check too.
	var st store
	var local *vault.Session
	if slices.ContainsFunc(res.Items, func(im transfer.Imported) bool { return len(im.History) > 0 }) {
		if local, err = c.unlockLocal(); err != nil {
			return err
		}
		defer localSession{local}.Close()
		st = localSession{local}
	} else if st, err = c.open(); err != nil {
		return err
	}
	keep, dups, repeats, err := c.newItems(st, len(res.Items), func(i int) *item.Item { return res.Items[i].Item })
	if err != nil {
		return err
	}
	fresh := make([]transfer.Imported, 0, len(keep))
	for _, i := range keep {
		fresh = append(fresh, res.Items[i])
	}
	unmapped := nonNil(res.Unmapped)
	if dryRun {
		if c.jsonOut {
			would := make([]importItemJSON, 0, len(fresh))
			for _, im := range fresh {
				would = append(would, importItemJSON{Type: im.Item.Type, Title: im.Item.Title, Source: im.Source,
					History: len(im.History), Attachments: len(im.Item.Attachments)})
			}
			return c.printJSON(importDryRunJSON{DryRun: true, WouldAdd: would, Duplicates: dups,
				RepeatedInFile: repeats, SkippedEmpty: res.Skipped, Unmapped: unmapped})
		}
		for _, im := range fresh {
			fmt.Fprintf(c.stdout, "would add %s %q%s\n", im.Item.Type, im.Item.Title, importDetail(im))
		}
		for _, u := range unmapped {
			fmt.Fprintf(c.stdout, "not imported: %s\n", u)
		}
		c.infof("dry run: %d to add, %d already in the vault, %d repeated in the file, %d empty entries skipped, %d values not mappable; nothing was written",
			len(fresh), dups, repeats, res.Skipped, len(unmapped))
		return nil
	}
	for _, u := range unmapped {
		c.warnf("not imported: %s", u)
	}
	if err := c.addImported(st, local, fresh); err != nil {
		return err
	}
	if c.jsonOut {
		return c.printJSON(importJSON{Added: len(fresh), Duplicates: dups, RepeatedInFile: repeats,
			SkippedEmpty: res.Skipped, Unmapped: unmapped})
	}
	unmappedNote := "no values left unmapped"
	if len(unmapped) > 0 {
		unmappedNote = countNoun(len(unmapped), "value") + " could not be mapped: listed above"
	}
	c.infof("imported %s (%d already in the vault, %d repeated in the file, %d empty entries skipped, %s)",
		countNoun(len(fresh), "item"), dups, repeats, res.Skipped, unmappedNote)
	return nil
}

func importDetail(im transfer.Imported) string {
	var parts []string
	if im.Source != "" && im.Source != im.Item.Title {
		parts = append(parts, "from "+strconv.Quote(im.Source))
	}
	if n := len(im.History); n > 0 {
		parts = append(parts, countNoun(n, "past version"))
	}
	if n := len(im.Item.Attachments); n > 0 {
		parts = append(parts, countNoun(n, "attachment"))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// addImported adds imported items in one transaction: through local's
// exact import, which keeps their history, when the caller unlocked one
// (it does when some item has history), else through st.
func (c *cmdEnv) addImported(st store, local *vault.Session, its []transfer.Imported) error {
	if len(its) == 0 {
		return nil
	}
	if local == nil {
		plain := make([]*item.Item, len(its))
		for i, im := range its {
			plain[i] = im.Item
		}
		_, err := st.Add(c.ctx, plain...)
		return err
	}
	exact := make([]vault.Imported, len(its))
	for i, im := range its {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		e := vault.Imported{ID: vault.ItemID(id), Revision: uint64(len(im.History)) + 1, Item: im.Item}
		for j, h := range im.History {
			e.History = append(e.History, vault.Revision{Revision: uint64(j) + 1, Item: h})
		}
		exact[i] = e
	}
	_, _, err := local.ImportExact(c.ctx, exact)
	return err
}

// maxImport bounds what import reads into memory.
const maxImport = 1 << 30

// importLimit is the most a format's reader accepts: a larger file is
// refused while it is read, not after it is held whole in memory.
func importLimit(format string) int {
	switch {
	case format == "kdbx":
		return kdbx.MaxSize
	case strings.HasSuffix(format, "-csv"):
		return csvtable.MaxBytes
	}
	return maxImport
}

func (c *cmdEnv) readInput(path string, limit int) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		clear(b)
		return nil, exitError{fmt.Errorf("%s is larger than %d MiB, more than Keyhold imports in this format; nothing was imported", path, limit>>20), ExitDamaged}
	}
	return b, nil
}

func (c *cmdEnv) progress(total int, what string) (func(int), func()) {
	f, ok := c.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total < 2000 {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	return func(n int) { bar.Set(n) }, func() { bar.Finish() }
}

// dupKey identifies an item's content for finding duplicates: its type,
// title (ignoring case), URLs, notes, every field's name and value but
// the TOTP secret's (which sources spell differently: a base32 secret or
// an otpauth:// URI), and its attachments. Times, trash state, tags and
// field kinds are left out: importers set times from the clock, and a
// round trip through another format may file an item or mark a field
// differently. Two notes with one title but different text, or two
// logins that differ only in a PIN, are different items.
func dupKey(it *item.Item) string {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(string(it.Type))
	put(strings.ToLower(it.Title))
	put(it.Notes)
	for _, u := range it.URLs {
		put(u)
	}
	put("")
	var fields []string
	for _, f := range it.Fields {
		if f.Kind != item.TOTP && f.Value != "" {
			fields = append(fields, strings.ToLower(f.Name)+"\x00"+f.Value)
		}
	}
	sort.Strings(fields)
	for _, f := range fields {
		put(f)
	}
	put("")
	for _, a := range it.Attachments {
		put(a.Name)
		put(string(a.Data))
	}
	return string(h.Sum(nil))
}

// newItems picks, among n imported items, those to add: an item already
// in the vault is skipped (dups), and so is a repeat of an item earlier
// in the same file (repeats). It returns the indexes of the others.
func (c *cmdEnv) newItems(st store, n int, at func(int) *item.Item) (keep []int, dups, repeats int, err error) {
	existing, err := st.List(c.ctx, vault.All)
	if err != nil {
		return nil, 0, 0, err
	}
	inVault := make(map[string]bool, len(existing))
	for _, e := range existing {
		inVault[dupKey(e.Item)] = true
	}
	inFile := make(map[string]bool, n)
	for i := range n {
		k := dupKey(at(i))
		switch {
		case inVault[k]:
			dups++
		case inFile[k]:
			repeats++
		default:
			inFile[k] = true
			keep = append(keep, i)
		}
	}
	return keep, dups, repeats, nil
}

// importCSVFile imports a CSV file (or "-" for stdin), reading it as a
// stream: the parser holds one row at a time besides the items made.
func (c *cmdEnv) importCSVFile(path string, dryRun bool) error {
	var r io.Reader = c.stdin
	rows := 0
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		// A first pass counts lines for the progress bar, in fixed memory.
		if rows, err = countLines(f); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = f
	}
	return c.importCSV(r, rows, dryRun)
}

// countLines counts newlines, reading in fixed-size chunks.
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (c *cmdEnv) importCSV(r io.Reader, rows int, dryRun bool) error {
	prog, done := c.progress(rows, "reading")
	res, err := keyholdcsv.Read(r, keyholdcsv.Options{Now: vault.Now(), Progress: prog})
	done()
	if err != nil {
		return exitError{err, ExitDamaged}
	}
	for col, where := range res.Columns {
		if where == "" {
			c.warnf("column %q was not imported (empty in every row)", col)
		}
	}
	for _, w := range res.Warnings {
		c.warnf("%s", w)
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	keep, dups, repeats, err := c.newItems(st, len(res.Items), func(i int) *item.Item { return res.Items[i] })
	if err != nil {
		return err
	}
	dups += repeats
	fresh := make([]*item.Item, 0, len(keep))
	for _, i := range keep {
		fresh = append(fresh, res.Items[i])
	}
	if dryRun {
		for _, it := range fresh {
			fmt.Fprintf(c.stdout, "would add %s %q\n", it.Type, it.Title)
		}
		cols := make([]string, 0, len(res.Columns))
		for col := range res.Columns {
			cols = append(cols, col)
		}
		sort.Strings(cols)
		for _, col := range cols {
			if where := res.Columns[col]; where != "" {
				fmt.Fprintf(c.stdout, "column %q -> %s\n", col, where)
			}
		}
		c.infof("dry run: %d to add, %d already in the vault, %d empty rows skipped; nothing was written", len(fresh), dups, res.Skipped)
		return nil
	}
	if len(fresh) > 0 {
		if _, err := st.Add(c.ctx, fresh...); err != nil {
			return err
		}
	}
	if c.jsonOut {
		return c.printJSON(importCSVJSON{Added: len(fresh), Duplicates: dups, SkippedEmpty: res.Skipped, Warnings: nonNil(res.Warnings)})
	}
	c.infof("imported %s (%d already in the vault, %d empty rows skipped)", countNoun(len(fresh), "item"), dups, res.Skipped)
	return nil
}

func (c *cmdEnv) importKeyhold(data []byte, pwFile, identityFile string, dryRun bool) error {
	var ids []age.Identity
	if identityFile != "" {
		f, err := os.Open(identityFile)
		if err != nil {
			return err
		}
		ids, err = age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading the identity file %s: %w", identityFile, err)
		}
	} else {
		var pass []byte
		var err error
		if pwFile != "" {
			pass, err = readSecretFile(pwFile)
		} else {
			pass, err = readSecretTTY("Passphrase of the export file: ")
		}
		if err != nil {
			return err
		}
		id, err := transfer.PassphraseIdentity(pass)
		keys.Wipe(pass)
		if err != nil {
			return err
		}
		ids = []age.Identity{id}
	}
	exp, err := transfer.ReadExport(bytes.NewReader(data), ids...)
	if err != nil {
		if errors.Is(err, transfer.ErrWrongExportKey) {
			return exitError{err, ExitAuth}
		}
		return exitError{err, ExitDamaged}
	}
	its := make([]vault.Imported, 0, len(exp.Items))
	for _, ei := range exp.Items {
		u, err := uuid.Parse(ei.ID)
		if err != nil {
			return exitError{fmt.Errorf("export item id %q is not a UUID", ei.ID), ExitDamaged}
		}
		im := vault.Imported{ID: vault.ItemID(u), Revision: ei.Revision, Item: ei.Current}
		for _, h := range ei.History {
			im.History = append(im.History, vault.Revision{Revision: h.Revision, Item: h.Item})
		}
		its = append(its, im)
	}
	if dryRun {
		for _, im := range its {
			fmt.Fprintf(c.stdout, "would restore %s %q (%d past revisions)\n", im.Item.Type, im.Item.Title, len(im.History))
		}
		c.infof("dry run: %s in the export; nothing was written", countNoun(len(its), "item"))
		return nil
	}
	s, err := c.unlockLocal()
	if err != nil {
		return err
	}
	defer localSession{s}.Close()
	added, skipped, err := s.ImportExact(c.ctx, its)
	if err != nil {
		return err
	}
	if c.jsonOut {
		return c.printJSON(importKeyholdJSON{Added: added, Duplicates: len(skipped)})
	}
	c.infof("restored %s (%d already in the vault were skipped)", countNoun(added, "item"), len(skipped))
	return nil
}

func (c *cmdEnv) exportCmd() *cobra.Command {
	var fl exportFlags
	cmd := &cobra.Command{
		Use:   "export --format keyhold|kdbx|csv --out FILE",
		Short: "Export every item: encrypted (default) or, explicitly, as plain CSV",
		Long: `Export every item.

  --format keyhold (default)  one encrypted file (age) with every item, its
                              history and custom fields; re-imports exactly with
                              keyhold import --format keyhold. Encrypted to a
                              passphrase (--passphrase-file, or asked twice on the
                              terminal) or to age recipients (--recipient age1…).
  --format kdbx               a KeePass database (KDBX 4) for KeePassXC, KeePass and
                              the apps that read it: every item with its history,
                              custom fields, TOTP, tags (as groups) and
                              attachments; trashed items in the recycle bin.
                              Encrypted to the passphrase (--passphrase-file, or
                              asked twice) with Argon2id at 128 MiB and 16 passes
                              (about a second), not the weak setting KeePass
                              libraries default to.
  --format csv --unencrypted  plain CSV: every secret readable by anyone who gets
                              the file. Refused without --unencrypted; on a
                              terminal it asks once more (--yes does not).

--out FILE must not exist yet ("-" for stdout).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.export(fl) },
	}
	f := cmd.Flags()
	f.StringVar(&fl.format, "format", "keyhold", "keyhold (encrypted), kdbx (KeePass, encrypted) or csv (plain text, needs --unencrypted)")
	f.StringVar(&fl.out, "out", "", "output file (must not exist; - for stdout)")
	f.StringVar(&fl.pwFile, "passphrase-file", "", "read the export passphrase from this file")
	f.StringArrayVar(&fl.recipients, "recipient", nil, "encrypt to this age recipient (age1…); repeat for several")
	f.BoolVar(&fl.unencrypted, "unencrypted", false, "confirm a plain-text CSV export")
	f.BoolVar(&fl.yes, "yes", false, "with --unencrypted: do not ask again on the terminal")
	return cmd
}

// exportFlags are keyhold export's flags.
type exportFlags struct {
	format, out, pwFile string
	recipients          []string
	unencrypted, yes    bool
}

// exportKeys is what an export is encrypted with: age recipients for the
// keyhold format, a passphrase for kdbx, nothing for csv.
type exportKeys struct {
	recipients []age.Recipient
	kdbxPass   []byte
}

// export runs keyhold export: check the request, get the keys, read every
// item, encode them, write the file.
func (c *cmdEnv) export(fl exportFlags) error {
	if err := c.checkExport(fl); err != nil {
		return err
	}
	k, err := c.exportKeys(fl)
	if err != nil {
		return err
	}
	defer keys.Wipe(k.kdbxPass)
	st, err := c.open()
	if err != nil {
		return err
	}
	es, err := st.List(c.ctx, vault.All)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	written := len(es)
	if fl.format == "csv" {
		if written, err = exportCSV(&buf, es); err != nil {
			return err
		}
		c.warnf("%s is NOT encrypted: it holds every password in plain text; delete it securely when done", fl.out)
	} else if err := c.exportEncrypted(&buf, st, es, fl.format, k); err != nil {
		return err
	}
	if err := c.writeOut(fl.out, buf.Bytes()); err != nil {
		return err
	}
	clear(buf.Bytes())
	if fl.out != "-" {
		c.infof("exported %s to %s", countNoun(written, "item"), fl.out)
	}
	return nil
}

// checkExport refuses what export cannot do before asking for anything:
// no --out, an existing file, an unknown format, or a plain-text CSV
// export not confirmed.
func (c *cmdEnv) checkExport(fl exportFlags) error {
	if fl.out == "" {
		return usageError{errors.New("--out FILE is required")}
	}
	// Refuse an existing file before asking for a passphrase.
	if _, err := os.Lstat(fl.out); err == nil && fl.out != "-" {
		return exitError{fmt.Errorf("%s already exists; choose another name or remove it first", fl.out), ExitExists}
	}
	switch fl.format {
	case "keyhold", "", "kdbx":
		return nil
	case "csv":
		return confirmPlainExport(fl)
	}
	return usageError{fmt.Errorf("unknown export format %q (keyhold, kdbx or csv)", fl.format)}
}

// confirmPlainExport asks for --unencrypted and, on a terminal, once
// more; a script without one has confirmed with --unencrypted (and --yes
// skips the question).
func confirmPlainExport(fl exportFlags) error {
	if !fl.unencrypted {
		return usageError{errors.New("a CSV export is not encrypted: anyone who reads the file gets every password; add --unencrypted to confirm")}
	}
	if fl.yes {
		return nil
	}
	ok, err := confirmTTY(fmt.Sprintf("Write every password in plain text to %s?", fl.out))
	if err == nil && !ok {
		return exitError{errors.New("nothing was exported"), ExitUsage}
	}
	if err != nil && !errors.Is(err, errNoInput) {
		return err
	}
	return nil
}

// exportKeys reads the recipients or asks for the passphrase the export
// is encrypted to.
func (c *cmdEnv) exportKeys(fl exportFlags) (exportKeys, error) {
	var k exportKeys
	switch fl.format {
	case "csv":
		return k, nil
	case "kdbx":
		if len(fl.recipients) > 0 {
			return k, usageError{errors.New("a KeePass file is encrypted to a passphrase, not to age recipients")}
		}
		var err error
		k.kdbxPass, err = c.exportPassphrase(fl.pwFile)
		return k, err
	}
	for _, s := range fl.recipients {
		r, err := transfer.ParseRecipient(s)
		if err != nil {
			return k, usageError{err}
		}
		k.recipients = append(k.recipients, r)
	}
	if len(k.recipients) > 0 {
		return k, nil
	}
	pass, err := c.exportPassphrase(fl.pwFile)
	if err != nil {
		return k, err
	}
	r, err := transfer.PassphraseRecipient(pass, 0)
	keys.Wipe(pass)
	if err != nil {
		return k, err
	}
	k.recipients = []age.Recipient{r}
	return k, nil
}

// exportCSV writes the items not in the trash as plain CSV and says how
// many.
func exportCSV(buf *bytes.Buffer, es []*vault.Entry) (int, error) {
	var its []*item.Item
	for _, e := range es {
		if e.Item.Trashed == nil {
			its = append(its, e.Item)
		}
	}
	return len(its), keyholdcsv.Write(buf, its)
}

// exportEncrypted writes every item with its history, encrypted: as a
// KeePass database (kdbx) or as Keyhold's own export.
func (c *cmdEnv) exportEncrypted(buf *bytes.Buffer, st store, es []*vault.Entry, format string, k exportKeys) error {
	v, err := c.openVault()
	if err != nil {
		return err
	}
	acct := v.AccountID().String()
	v.Close()
	exp := &transfer.Export{Version: 1, Exported: time.Now().UTC(), AccountID: acct}
	for _, e := range es {
		hs, err := st.History(c.ctx, e.ID)
		if err != nil {
			return err
		}
		ei := transfer.ExportItem{ID: e.ID.String(), Revision: e.Revision, Current: e.Item}
		for _, h := range hs {
			ei.History = append(ei.History, transfer.ExportRevision{Revision: h.Revision, Item: h.Item})
		}
		exp.Items = append(exp.Items, ei)
	}
	if format == "kdbx" {
		return kdbx.Write(buf, exp.Items, k.kdbxPass, kdbx.WriteOptions{})
	}
	return transfer.WriteExport(buf, exp, k.recipients...)
}

// minExportPassphrase is the shortest export passphrase accepted, in
// characters: whoever gets the file can guess it offline for ever.
const minExportPassphrase = 10

// exportPassphrase reads the passphrase an export is encrypted to: from
// pwFile, else asked twice on the terminal.
func (c *cmdEnv) exportPassphrase(pwFile string) ([]byte, error) {
	var pass []byte
	var err error
	if pwFile != "" {
		pass, err = readSecretFile(pwFile)
	} else {
		pass, err = c.newPassphrase()
	}
	if err != nil {
		return nil, err
	}
	if utf8.RuneCount(pass) < minExportPassphrase {
		keys.Wipe(pass)
		return nil, usageError{fmt.Errorf("an export passphrase needs at least %d characters: anyone who gets the file can try guesses offline for as long as they like (keyhold generate --words 6 makes a good one)", minExportPassphrase)}
	}
	return pass, nil
}

func (c *cmdEnv) newPassphrase() ([]byte, error) {
	p, err := readSecretTTY("Passphrase for the export: ")
	if err != nil {
		return nil, err
	}
	again, err := readSecretTTY("Repeat the passphrase: ")
	if err != nil {
		keys.Wipe(p)
		return nil, err
	}
	same := bytes.Equal(p, again)
	keys.Wipe(again)
	if !same {
		keys.Wipe(p)
		return nil, usageError{errors.New("the two passphrases differ")}
	}
	return p, nil
}
