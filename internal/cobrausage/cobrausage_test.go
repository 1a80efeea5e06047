package cobrausage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// errServer stands for what a server or a mailer answered: its words read
// like cobra's, its type does not.
var errServer = errors.New(`server: invalid argument: accepts 1 recipient; unknown flag "x"; required flag(s) missing`)

// tree is a small program: "prog run [--a|--b] [--n N] ARG", "prog serve
// --need X" with --user and --pass together, and a "prog fail" whose
// command returns errServer. pre records the pre-run hooks that ran.
func tree(pre *[]string) *cobra.Command {
	root := &cobra.Command{Use: "prog", SilenceErrors: true, SilenceUsage: true}
	run := &cobra.Command{Use: "run ARG", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil },
		PreRun: func(*cobra.Command, []string) { *pre = append(*pre, "run") }}
	run.Flags().Bool("a", false, "")
	run.Flags().Bool("b", false, "")
	run.Flags().Int("n", 0, "")
	run.MarkFlagsMutuallyExclusive("a", "b")
	serve := &cobra.Command{Use: "serve", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return nil },
		PreRunE: func(_ *cobra.Command, _ []string) error {
			*pre = append(*pre, "serve")
			return nil
		}}
	serve.Flags().String("need", "", "")
	serve.Flags().String("user", "", "")
	serve.Flags().String("pass", "", "")
	serve.MarkFlagRequired("need")
	serve.MarkFlagsRequiredTogether("user", "pass")
	fail := &cobra.Command{Use: "fail", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return errServer }}
	group := &cobra.Command{Use: "group"}
	group.AddCommand(&cobra.Command{Use: "leaf", Run: func(*cobra.Command, []string) {}})
	root.AddCommand(run, serve, fail, group)
	return root
}

func TestExecute(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		usage bool   // want an *Error
		text  string // in the error
		pre   string // the pre-run hooks that ran
	}{
		{[]string{"run", "x"}, false, "", "run"},
		{[]string{"nope"}, true, `unknown command "nope" for "prog"`, ""},
		{[]string{"run"}, true, "accepts 1 arg(s), received 0", ""},
		{[]string{"run", "x", "y"}, true, "accepts 1 arg(s), received 2", ""},
		{[]string{"serve", "extra", "--need", "1"}, true, `unknown command "extra" for "prog serve"`, ""},
		{[]string{"run", "x", "--nope"}, true, "unknown flag: --nope", ""},
		{[]string{"run", "x", "-z"}, true, "unknown shorthand flag", ""},
		{[]string{"run", "x", "--n", "many"}, true, `invalid argument "many" for "--n"`, ""},
		{[]string{"run", "x", "--n"}, true, "flag needs an argument: --n", ""},
		{[]string{"run", "x", "--a", "--b"}, true, "if any flags in the group [a b] are set none of the others can be", "run"},
		{[]string{"serve"}, true, `required flag(s) "need" not set`, "serve"},
		{[]string{"serve", "--need", "1", "--user", "u"}, true, "if any flags in the group [user pass] are set they must all be set", "serve"},
		{[]string{"serve", "--need", "1", "--user", "u", "--pass", "p"}, false, "", "serve"},
		{[]string{"fail"}, false, errServer.Error(), ""},
		{[]string{"completion", "bash", "extra"}, true, `unknown command "extra" for "prog completion bash"`, ""},
		{[]string{"--help"}, false, "", ""},
		{[]string{"group"}, false, "", ""},
		{[]string{"group", "leaf"}, false, "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var pre []string
			root := tree(&pre)
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			err := Execute(context.Background(), root, tc.args)
			if Is(err) != tc.usage {
				t.Errorf("Is(%v) = %v, want %v", err, Is(err), tc.usage)
			}
			if tc.text == "" && err != nil {
				t.Errorf("error %v", err)
			}
			if tc.text != "" && (err == nil || !strings.Contains(err.Error(), tc.text)) {
				t.Errorf("error %v, want one saying %q", err, tc.text)
			}
			if got := strings.Join(pre, ","); got != tc.pre {
				t.Errorf("pre-run hooks %q, want %q", got, tc.pre)
			}
		})
	}
}

// A pre-run hook's own error comes before the flag checks, as in cobra.
func TestPreRunErrorFirst(t *testing.T) {
	root := &cobra.Command{Use: "prog", SilenceErrors: true, SilenceUsage: true}
	errPre := errors.New("pre-run failed")
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil },
		PreRunE: func(*cobra.Command, []string) error { return errPre }}
	cmd.Flags().String("need", "", "")
	cmd.MarkFlagRequired("need")
	root.AddCommand(cmd)
	root.SetOut(&bytes.Buffer{})
	if err := Execute(context.Background(), root, []string{"x"}); !errors.Is(err, errPre) || Is(err) {
		t.Errorf("error %v, want the pre-run's", err)
	}
}
