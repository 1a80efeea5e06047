package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/secretref"
)

// maxEnvFile and maxTemplate bound what run and inject read: these are
// hand-written files, and a mistaken path (a disk image) should fail
// rather than fill memory.
const (
	maxEnvFile  = 1 << 20
	maxTemplate = 16 << 20
)

func (c *cmdEnv) runCmd() *cobra.Command {
	var envFile string
	var noMasking bool
	cmd := &cobra.Command{
		Use:   "run [--env-file F] [--no-masking] -- CMD [ARGS...]",
		Short: "Run a command with secret references in its environment resolved",
		Long: `Run CMD with every environment variable whose value is a secret reference
(keyhold://ITEM/FIELD) replaced by that value. Variables come from the
environment and, with --env-file, from a file of NAME=VALUE lines (which
override the environment). Secrets reach CMD only through its environment,
never its arguments.

When CMD's stdout or stderr goes to a pipe or a file, every resolved value
in it is replaced by <concealed by keyhold>; --no-masking turns that off.
A stream that is a terminal is handed to CMD as it is, so interactive
programs keep working, and is not masked. Signals keyhold receives are
passed on to CMD; keyhold exits with CMD's exit status.

Examples:
  DB_PASSWORD=keyhold://Postgres/password keyhold run -- ./migrate
  keyhold run --env-file .env -- docker compose up`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := os.Environ()
			if envFile != "" {
				more, err := readEnvFile(envFile)
				if err != nil {
					return err
				}
				env = mergeEnv(env, more)
			}
			for i, a := range args[1:] {
				if secretref.IsRef(a) {
					c.warnf("argument %d of the command is a secret reference; run resolves environment variables only (secrets never go on argv): pass it as NAME=%s", i+1, a)
				}
			}
			rr := c.newRefResolver()
			var secrets [][]byte
			for i, kv := range env {
				name, val, _ := strings.Cut(kv, "=")
				if !secretref.IsRef(val) {
					continue
				}
				ref, err := parseRef(val)
				if err != nil {
					return fmt.Errorf("$%s: %w", name, err)
				}
				v, err := rr.value(ref)
				if err != nil {
					return err
				}
				env[i] = name + "=" + v
				secrets = append(secrets, []byte(v))
			}
			rr.close()
			return c.runChild(args, env, secrets, !noMasking)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&envFile, "env-file", "", "also read NAME=VALUE lines from this file (they override the environment)")
	cmd.Flags().BoolVar(&noMasking, "no-masking", false, "do not conceal resolved secrets in CMD's output")
	return cmd
}

// runChild starts the command, relays signals to it and waits. Its exit
// status becomes keyhold's (a death by signal N is 128+N, as in a shell).
func (c *cmdEnv) runChild(args, env []string, secrets [][]byte, mask bool) error {
	child := exec.Command(args[0], args[1:]...)
	child.Env = env
	child.Stdin = c.stdin
	var maskers []*secretref.Masker
	attach := func(w io.Writer) io.Writer {
		if f, ok := w.(*os.File); (ok && term.IsTerminal(int(f.Fd()))) || !mask || len(secrets) == 0 {
			return w
		}
		m := secretref.NewMasker(w, secrets)
		maskers = append(maskers, m)
		return m
	}
	child.Stdout = attach(c.stdout)
	child.Stderr = attach(c.stderr)

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, relayedSignals...)
	defer signal.Stop(sigs)
	if err := child.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s: command not found", args[0])
		}
		return fmt.Errorf("starting %s: %w", args[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = child.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err := child.Wait()
	close(done)
	for _, m := range maskers {
		m.Close()
	}
	for _, s := range secrets {
		clear(s)
	}
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return quietExit{code: exitStatus(ee)}
	}
	return err
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// readEnvFile reads NAME=VALUE lines: blank lines and lines starting with
// # are skipped, an "export " prefix is allowed, and a value wholly in
// double or single quotes loses them (nothing inside is unescaped).
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--env-file: %w", err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEnvFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxEnvFile {
		return nil, usageError{fmt.Errorf("%s is larger than %d KiB; is it an environment file?", path, maxEnvFile>>10)}
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxEnvFile+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, val, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !envName.MatchString(name) {
			return nil, usageError{fmt.Errorf("%s:%d: expected NAME=VALUE", filepath.Base(path), n)}
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		out = append(out, name+"="+val)
	}
	return out, sc.Err()
}

// mergeEnv returns env with the variables of more set, replacing those of
// the same name.
func mergeEnv(env, more []string) []string {
	idx := map[string]int{}
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		idx[name] = i
	}
	for _, kv := range more {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[name]; ok {
			env[i] = kv
		} else {
			idx[name] = len(env)
			env = append(env, kv)
		}
	}
	return env
}

func (c *cmdEnv) injectCmd() *cobra.Command {
	var in, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "inject -i TEMPLATE [-o FILE] [--force]",
		Short: "Write a file from a template, its secret references replaced by their values",
		Long: `Read TEMPLATE (- for stdin) and replace each secret reference in it,
written {{ keyhold://ITEM/FIELD }} or bare keyhold://ITEM/FIELD, by its
value. The result goes to stdout, or with -o to FILE, created with mode
0600 and only if it does not exist yet (exit 10), unless --force, which
replaces it.

Example:
  keyhold inject -i config.yml.tpl -o config.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "-" && c.passwordFile == "-" {
				return usageError{errors.New("-i - and --password-file - both read stdin; give one of them as a file")}
			}
			if out != "" && out != "-" && !force {
				if _, err := os.Lstat(out); err == nil {
					return exitError{fmt.Errorf("%s already exists; choose another name, or --force to replace it", out), ExitExists}
				}
			}
			tpl, err := c.readTemplate(in)
			if err != nil {
				return err
			}
			spans, err := secretref.Find(string(tpl))
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", in, err)}
			}
			rr := c.newRefResolver()
			var buf bytes.Buffer
			last := 0
			for _, sp := range spans {
				v, err := rr.value(sp.Ref)
				if err != nil {
					return err
				}
				buf.Write(tpl[last:sp.Start])
				buf.WriteString(v)
				last = sp.End
			}
			buf.Write(tpl[last:])
			rr.close()
			data := buf.Bytes()
			defer clear(data)
			switch {
			case out == "" || out == "-":
				_, err = c.stdout.Write(data)
			case force:
				err = atomicfile.Replace(out, data, 0o600)
			default:
				err = c.writeOut(out, data)
			}
			if err == nil && out != "" && out != "-" {
				c.infof("wrote %s (%d reference%s resolved)", out, len(spans), plural(len(spans)))
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&in, "in", "i", "", "the template (- for stdin)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to this new file, mode 0600 (default stdout)")
	cmd.Flags().BoolVar(&force, "force", false, "with -o: replace FILE if it exists")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (c *cmdEnv) readTemplate(path string) ([]byte, error) {
	var r io.Reader = c.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageError{fmt.Errorf("-i: %w", err)}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTemplate+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxTemplate {
		return nil, usageError{fmt.Errorf("%s is larger than %d MiB", path, maxTemplate>>20)}
	}
	return b, nil
}

func (c *cmdEnv) readCmd() *cobra.Command {
	var noNewline bool
	cmd := &cobra.Command{
		Use:   "read keyhold://ITEM/FIELD [--no-newline]",
		Short: "Print the value a secret reference names",
		Long: `Print the value of one secret reference on stdout, followed by a newline
unless --no-newline. "otp" as the field prints the current TOTP code.

Example:
  keyhold read keyhold://GitHub/password --no-newline | ssh-add -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseRef(args[0])
			if err != nil {
				return err
			}
			rr := c.newRefResolver()
			v, err := rr.value(ref)
			if err != nil {
				return err
			}
			rr.close()
			b := []byte(v)
			if !noNewline {
				b = append(b, '\n')
			}
			_, err = c.stdout.Write(b)
			clear(b)
			return err
		},
	}
	cmd.Flags().BoolVarP(&noNewline, "no-newline", "n", false, "print the value without a trailing newline")
	return cmd
}
