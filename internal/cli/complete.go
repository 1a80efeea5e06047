package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/vault"
)

// Shell completion (keyhold completion bash|zsh|fish|powershell) completes
// item titles, item types and field names. Titles come from the agent
// alone, as the summaries list shows them: with the vault locked there
// are none, since a completion must never ask for a password; and no
// value of any field is ever offered.

type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// registerCompletions attaches the completion functions to root's
// commands.
func (c *cmdEnv) registerCompletions(root *cobra.Command) {
	find := func(path ...string) *cobra.Command {
		cmd, _, err := root.Find(path)
		if err != nil || cmd == root {
			return nil
		}
		return cmd
	}
	for _, p := range [][]string{{"show"}, {"copy"}, {"otp"}, {"history"}, {"edit"}, {"rm"},
		{"attachment", "add"}, {"attachment", "list"}, {"attachment", "save"}, {"attachment", "rm"}} {
		if cmd := find(p...); cmd != nil {
			cmd.ValidArgsFunction = c.completeTitles(vault.Active)
		}
	}
	if cmd := find("restore"); cmd != nil {
		cmd.ValidArgsFunction = c.completeTitles(vault.Trash)
	}
	if cmd := find("add"); cmd != nil {
		cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeTypes(toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	for _, name := range []string{"list", "search"} {
		if cmd := find(name); cmd != nil {
			cmd.RegisterFlagCompletionFunc("type", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return completeTypes(toComplete), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	for _, name := range []string{"show", "copy", "history"} {
		if cmd := find(name); cmd != nil {
			cmd.RegisterFlagCompletionFunc("field", completeFields)
		}
	}
	if cmd := find("edit"); cmd != nil {
		cmd.RegisterFlagCompletionFunc("remove-field", completeFields)
	}
}

// completeTitles offers the titles of the items f selects, from the agent
// only.
func (c *cmdEnv) completeTitles(f vault.Filter) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		cl := c.agentClient()
		if cl == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		es, err := cl.Search(c.ctx, "", f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		l := strings.ToLower(toComplete)
		var out []string
		seen := map[string]bool{}
		for _, e := range es {
			t := e.Item.Title
			if !seen[t] && strings.HasPrefix(strings.ToLower(t), l) {
				seen[t] = true
				out = append(out, t)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func completeTypes(toComplete string) []string {
	var out []string
	for _, t := range item.Types {
		if strings.HasPrefix(string(t), strings.ToLower(toComplete)) {
			out = append(out, string(t))
		}
	}
	return out
}

// completeFields offers the standard field names of every type, and the
// names every item has (title, notes, url, otp).
func completeFields(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	names := []string{"title", "notes", "url", "otp"}
	seen := map[string]bool{}
	for _, t := range item.Types {
		for _, f := range item.StandardFields[t] {
			names = append(names, f.Name)
		}
	}
	var out []string
	for _, n := range names {
		if !seen[n] && strings.HasPrefix(n, strings.ToLower(toComplete)) {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
