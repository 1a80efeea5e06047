package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/vault"
)

// importer is what import needs beyond a store: exact restores. Only a
// local session offers it; import therefore unlocks in-process.
func (c *cmdEnv) importCmd() *cobra.Command {
	var formatName, sourcePwFile, identityFile string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import --format FORMAT FILE",
		Short: "Import items from a file (csv, keyhold)",
		Long: `Import items. FILE may be "-" for stdin.

  --format csv       header title,username,password,url,notes (any order; common
                     aliases and extra columns are mapped, extra columns become
                     custom fields, and every column's fate is reported)
  --format keyhold   an encrypted keyhold export: restores items exactly, with ids
                     and history; the passphrase comes from --source-password-file
                     or the terminal, or use --identity FILE for an age key

Items already in the vault are detected and skipped (CSV: same title,
username, URL and password; keyhold: same id). --dry-run shows what would
happen and writes nothing. Import is all or nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := c.readInput(args[0])
			if err != nil {
				return err
			}
			switch formatName {
			case "csv":
				return c.importCSV(data, dryRun)
			case "keyhold":
				return c.importKeyhold(data, sourcePwFile, identityFile, dryRun)
			case "":
				return usageError{errors.New("--format is required (csv or keyhold)")}
			}
			return usageError{fmt.Errorf("unknown import format %q (csv or keyhold)", formatName)}
		},
	}
	f := cmd.Flags()
	f.StringVar(&formatName, "format", "", "the file's format: csv or keyhold")
	f.StringVar(&sourcePwFile, "source-password-file", "", "read the file's passphrase from this file")
	f.StringVar(&identityFile, "identity", "", "age identity file for an export encrypted to an age recipient")
	f.BoolVar(&dryRun, "dry-run", false, "show what would be imported; write nothing")
	return cmd
}

// maxImport bounds what import reads into memory.
const maxImport = 1 << 30

func (c *cmdEnv) readInput(path string) ([]byte, error) {
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
	b, err := io.ReadAll(io.LimitReader(r, maxImport+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxImport {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxImport>>20)
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

func dupKey(it *item.Item) string {
	pw, _ := it.Get("password")
	u := ""
	if len(it.URLs) > 0 {
		u = it.URLs[0]
	}
	return strings.Join([]string{string(it.Type), strings.ToLower(it.Title), it.Username(), u, pw}, "\x00")
}

func (c *cmdEnv) importCSV(data []byte, dryRun bool) error {
	rows := bytes.Count(data, []byte{'\n'})
	prog, done := c.progress(rows, "reading")
	res, err := transfer.ReadCSV(bytes.NewReader(data), transfer.CSVOptions{Now: vault.Now(), Progress: prog})
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
	existing, err := st.List(c.ctx, vault.All)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(existing))
	for _, e := range existing {
		seen[dupKey(e.Item)] = true
	}
	var fresh []*item.Item
	dups := 0
	for _, it := range res.Items {
		k := dupKey(it)
		if seen[k] {
			dups++
			continue
		}
		seen[k] = true
		fresh = append(fresh, it)
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
		return c.printJSON(map[string]any{"added": len(fresh), "duplicates": dups, "skipped_empty": res.Skipped, "warnings": nonNil(res.Warnings)})
	}
	c.infof("imported %d items (%d already in the vault, %d empty rows skipped)", len(fresh), dups, res.Skipped)
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
		c.infof("dry run: %d items in the export; nothing was written", len(its))
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
		return c.printJSON(map[string]any{"added": added, "duplicates": len(skipped)})
	}
	c.infof("restored %d items (%d already in the vault were skipped)", added, len(skipped))
	return nil
}

func (c *cmdEnv) exportCmd() *cobra.Command {
	var formatName, out, pwFile string
	var recipients []string
	var unencrypted bool
	cmd := &cobra.Command{
		Use:   "export --format keyhold|csv --out FILE",
		Short: "Export every item: encrypted (default) or, explicitly, as plain CSV",
		Long: `Export every item.

  --format keyhold (default)  one encrypted file (age) with every item, its
                              history and custom fields; re-imports exactly with
                              keyhold import --format keyhold. Encrypted to a
                              passphrase (--passphrase-file, or asked twice on the
                              terminal) or to age recipients (--recipient age1…).
  --format csv --unencrypted  plain CSV: every secret readable by anyone who gets
                              the file. Refused without --unencrypted.

--out FILE must not exist yet ("-" for stdout).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required")}
			}
			// Refuse an existing file before asking for a passphrase.
			if _, err := os.Lstat(out); err == nil && out != "-" {
				return exitError{fmt.Errorf("%s already exists; choose another name or remove it first", out), ExitExists}
			}
			switch formatName {
			case "keyhold", "":
			case "csv":
				if !unencrypted {
					return usageError{errors.New("a CSV export is not encrypted: anyone who reads the file gets every password; add --unencrypted to confirm")}
				}
			default:
				return usageError{fmt.Errorf("unknown export format %q (keyhold or csv)", formatName)}
			}
			var rs []age.Recipient
			if formatName != "csv" {
				for _, s := range recipients {
					r, err := transfer.ParseRecipient(s)
					if err != nil {
						return usageError{err}
					}
					rs = append(rs, r)
				}
				if len(rs) == 0 {
					var pass []byte
					var err error
					if pwFile != "" {
						pass, err = readSecretFile(pwFile)
					} else {
						pass, err = c.newPassphrase()
					}
					if err != nil {
						return err
					}
					r, err := transfer.PassphraseRecipient(pass, 0)
					keys.Wipe(pass)
					if err != nil {
						return err
					}
					rs = []age.Recipient{r}
				}
			}
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
			if formatName == "csv" {
				var its []*item.Item
				for _, e := range es {
					if e.Item.Trashed == nil {
						its = append(its, e.Item)
					}
				}
				if err := transfer.WriteCSV(&buf, its); err != nil {
					return err
				}
				written = len(its)
				c.warnf("%s is NOT encrypted: it holds every password in plain text; delete it securely when done", out)
			} else {
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
				if err := transfer.WriteExport(&buf, exp, rs...); err != nil {
					return err
				}
			}
			if err := c.writeOut(out, buf.Bytes()); err != nil {
				return err
			}
			clear(buf.Bytes())
			if out != "-" {
				c.infof("exported %d items to %s", written, out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&formatName, "format", "keyhold", "keyhold (encrypted) or csv (plain text, needs --unencrypted)")
	f.StringVar(&out, "out", "", "output file (must not exist; - for stdout)")
	f.StringVar(&pwFile, "passphrase-file", "", "read the export passphrase from this file")
	f.StringArrayVar(&recipients, "recipient", nil, "encrypt to this age recipient (age1…); repeat for several")
	f.BoolVar(&unencrypted, "unencrypted", false, "confirm a plain-text CSV export")
	return cmd
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
