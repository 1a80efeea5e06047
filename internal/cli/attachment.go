package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/vault"
)

// The attachment commands keep small files inside an item: they are
// sealed with it, synced with it and kept in its history like any field.

func (c *cmdEnv) attachmentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "attachment", Short: "Add, list, save or remove files kept inside an item"}
	var name string
	add := &cobra.Command{
		Use:   "add TITLE|ID FILE",
		Short: "Attach a file (\"-\" for stdin) to an item",
		Long: fmt.Sprintf(`Attach a file to an item, under its base name or --name. An item holds at
most %d attachments of %d KiB in all. Attaching under a name the item
already uses replaces that attachment; the old one stays in the history.`, item.MaxAttachments, item.MaxAttachmentBytes>>10),
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := name
			if n == "" {
				if args[1] == "-" {
					return usageError{errors.New("give --name NAME when attaching from stdin")}
				}
				n = filepath.Base(args[1])
			}
			data, err := c.readAttachment(args[1])
			if err != nil {
				return err
			}
			return c.changeItem(args[0], func(it *item.Item) (string, error) {
				i := slices.IndexFunc(it.Attachments, func(a item.Attachment) bool { return a.Name == n })
				if i >= 0 {
					it.Attachments[i].Data = data
					return fmt.Sprintf("replaced attachment %q (%s) of %q", n, byteSize(len(data)), it.Title), nil
				}
				it.Attachments = append(it.Attachments, item.Attachment{Name: n, Data: data})
				return fmt.Sprintf("attached %q (%s) to %q", n, byteSize(len(data)), it.Title), nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "the attachment's name (default: the file's base name)")

	list := &cobra.Command{
		Use:   "list TITLE|ID",
		Short: "List an item's attachments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, e, err := c.resolveRead(args[0], vault.Active)
			if err != nil {
				return err
			}
			if c.jsonOut {
				return c.printJSON(attachmentsJSON(e.Item))
			}
			for _, a := range e.Item.Attachments {
				fmt.Fprintf(c.stdout, "%s\t%d\n", a.Name, len(a.Data))
			}
			return nil
		},
	}

	var out string
	save := &cobra.Command{
		Use:   "save TITLE|ID NAME --out FILE",
		Short: "Write an attachment to a new file (or - for stdout)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required (- for stdout)")}
			}
			_, e, err := c.resolveRead(args[0], vault.Active)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(e.Item.Attachments, func(a item.Attachment) bool { return a.Name == args[1] })
			if i < 0 {
				return missingPart("%q has no attachment %q", e.Item.Title, args[1])
			}
			if err := c.writeOut(out, e.Item.Attachments[i].Data); err != nil {
				return err
			}
			if out != "-" {
				c.infof("saved %q to %s", args[1], out)
			}
			return nil
		},
	}
	save.Flags().StringVar(&out, "out", "", "file to write (must not exist; - for stdout)")

	rm := &cobra.Command{
		Use:   "rm TITLE|ID NAME",
		Short: "Remove an attachment (it stays in the item's history)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.changeItem(args[0], func(it *item.Item) (string, error) {
				n := len(it.Attachments)
				it.Attachments = slices.DeleteFunc(it.Attachments, func(a item.Attachment) bool { return a.Name == args[1] })
				if len(it.Attachments) == n {
					return "", missingPart("%q has no attachment %q", it.Title, args[1])
				}
				if len(it.Attachments) == 0 {
					it.Attachments = nil
				}
				return fmt.Sprintf("removed attachment %q from %q", args[1], it.Title), nil
			})
		},
	}
	cmd.AddCommand(add, list, save, rm)
	return cmd
}

// changeItem applies change to the current revision of an item and
// stores the result as a new revision; change returns what to report.
func (c *cmdEnv) changeItem(ref string, change func(*item.Item) (string, error)) error {
	return c.changeItemIn(ref, vault.Active, func(_ store, _ *vault.Entry, it *item.Item) (string, error) {
		return change(it)
	})
}

// changeItemIn is changeItem among the items f selects, with the store and
// the current entry at hand. It is the one write path of every edit: a
// new revision through Put, the old one kept in the history.
func (c *cmdEnv) changeItemIn(ref string, f vault.Filter, change func(store, *vault.Entry, *item.Item) (string, error)) error {
	st, e, err := c.resolve(ref, f)
	if err != nil {
		return err
	}
	it := e.Item.Clone()
	msg, err := change(st, e, it)
	if err != nil {
		return err
	}
	if msg == "" {
		return nil // nothing to write
	}
	it.Modified = vault.Now()
	if err := it.Validate(); err != nil {
		return usageError{err}
	}
	ne, err := st.Put(c.ctx, e.ID, e.Revision, it)
	if _, viaAgent := st.(*agent.Client); viaAgent && errors.Is(err, agent.ErrNoAgent) {
		// The agent locked the vault while the change was being made
		// (an edit in the editor can outlast its idle timeout): unlock
		// it here rather than lose the change. Put still refuses if the
		// item moved on meanwhile.
		c.infof("the vault was locked meanwhile; unlocking it to store the change")
		s, uerr := c.unlockLocal()
		if uerr != nil {
			return uerr
		}
		ls := localSession{s}
		c.closers = append(c.closers, ls.Close)
		ne, err = ls.Put(c.ctx, e.ID, e.Revision, it)
	}
	if err != nil {
		return err
	}
	if c.jsonOut {
		return c.printJSON(newItemJSON(ne))
	}
	c.infof("%s (revision %d)", msg, ne.Revision)
	return nil
}

func (c *cmdEnv) readAttachment(path string) ([]byte, error) {
	var r io.Reader = c.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, item.MaxAttachmentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > item.MaxAttachmentBytes {
		return nil, usageError{fmt.Errorf("%s is larger than the %d KiB an item's attachments may hold", path, item.MaxAttachmentBytes>>10)}
	}
	return b, nil
}

// byteSize formats a size for people.
func byteSize(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
