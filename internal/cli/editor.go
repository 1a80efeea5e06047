package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vault"
)

// Editing an item in $VISUAL or $EDITOR. The item, secrets included, is
// written to a 0600 file in a fresh 0700 directory in RAM ($XDG_RUNTIME_DIR,
// else /dev/shm), so that it never reaches a disk; where there is no such
// directory the edit is refused unless --allow-disk-tempfile. Editors that
// keep copies of what they edit (swap, backup, undo, auto-save, history
// files) are started with those turned off where we know how; whatever
// they leave in the directory anyway goes with it. Afterwards, also on an
// error or a signal, every file in the directory is overwritten with zeros
// and removed, then the directory.

// maxEditBytes bounds the edited file that is read back: an item is far
// smaller (item.MaxNotes plus fields).
const maxEditBytes = 4 << 20

// editTempRoot picks the directory the edit file goes in: runtimeDir
// ($XDG_RUNTIME_DIR) if it is an absolute directory, else shm (/dev/shm)
// if it is a directory, else, only if allowDisk, tmp.
func editTempRoot(runtimeDir, shm string, allowDisk bool, tmp string) (string, error) {
	for _, d := range []string{runtimeDir, shm} {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	if allowDisk {
		return tmp, nil
	}
	return "", exitError{fmt.Errorf("%w: no directory in RAM for the file to edit ($XDG_RUNTIME_DIR is unset and there is no /dev/shm), and a file on disk may outlive its removal; "+
		"pass --allow-disk-tempfile to accept one in %s, or change the item with edit's flags", errUnavailable, tmp), ExitUnavailable}
}

// editorCommand returns the user's editor as argv: $VISUAL, else $EDITOR,
// else vi (notepad on Windows), split as a shell splits words.
func editorCommand(getenv func(string) string) ([]string, error) {
	s := getenv("VISUAL")
	if strings.TrimSpace(s) == "" {
		s = getenv("EDITOR")
	}
	if strings.TrimSpace(s) == "" {
		if runtime.GOOS == "windows" {
			return []string{"notepad"}, nil
		}
		return []string{"vi"}, nil
	}
	w, err := splitWords(s)
	if err != nil || len(w) == 0 {
		return nil, usageError{fmt.Errorf("cannot read the editor command %q: %v", s, err)}
	}
	return w, nil
}

// splitWords splits s into words as sh does for a simple command: blanks
// separate, single quotes keep everything, double quotes keep all but \" and
// \\, a backslash outside quotes keeps the next character.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("a single quote does not close")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("a double quote does not close")
			}
			in = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

// editorSafetyArgs returns the arguments that turn off an editor's copies
// of the file (swap, backup, undo, viminfo/shada, auto-save, lock and
// history files), and whether the editor is one we know. The program is
// recognised by the name it resolves to, so that vi as vim gets vim's
// arguments and vi as another program gets none it would refuse.
//
// pre goes right after the program's name, before any arguments the
// user's $EDITOR gives (so that vim's -c commands run before the user's,
// which may end with a :wq); post goes after them, before the file
// (emacs wants its initial options, -q among them, first, and its actions
// after).
func editorSafetyArgs(prog string) (pre, post []string, known bool) {
	name := filepath.Base(prog)
	if p, err := exec.LookPath(prog); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			name = filepath.Base(r)
		}
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".exe")
	base := filepath.Base(strings.ToLower(prog))
	switch {
	case strings.Contains(name, "vim"):
		// -n: no swap file; -i NONE: no viminfo (vim) or shada (nvim),
		// which would keep registers, that is yanked secrets. The same
		// options before the vimrc (--cmd) and after it (-c), so that
		// neither the defaults nor the user's vimrc turn them back on.
		set := "set nobackup nowritebackup noundofile noswapfile nomodeline"
		args := []string{"-n", "-i", "NONE", "--cmd", set, "-c", set}
		if strings.HasPrefix(name, "gvim") || strings.HasPrefix(name, "mvim") || strings.HasPrefix(base, "gvim") || strings.HasPrefix(base, "mvim") {
			// The GUI forks into the background unless -f, and the
			// file would be read back (and wiped) while still open.
			args = append([]string{"-f"}, args...)
		}
		return args, nil, true
	case name == "emacs" || strings.HasPrefix(name, "emacs-") || base == "emacs":
		// -q: no init file, whose packages may save undo history or
		// auto-save elsewhere; then no backup (file~), auto-save
		// (#file#) or lock file, set before the file is visited.
		return []string{"-q"}, []string{"--eval", "(setq make-backup-files nil backup-inhibited t auto-save-default nil create-lockfiles nil)"}, true
	case name == "nano" || base == "nano":
		// nano makes no backup unless asked (-B or "set backup" in a
		// nanorc), and its search history and position log are turned
		// on in nanorc files too: read none.
		return []string{"--ignorercfiles"}, nil, true
	case name == "notepad":
		return nil, nil, true
	}
	return nil, nil, false
}

// wipeDir overwrites every regular file in dir with zeros, removes it,
// then removes dir.
func wipeDir(dir string) error {
	ents, _ := os.ReadDir(dir)
	var first error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.Type().IsRegular() {
			if err := zeroFile(p); err != nil && first == nil {
				first = err
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil && first == nil {
		first = err
	}
	return first
}

func zeroFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zero := make([]byte, 32<<10)
	for n := fi.Size(); n > 0; {
		k := min(n, int64(len(zero)))
		if _, err := f.Write(zero[:k]); err != nil {
			return err
		}
		n -= k
	}
	return f.Sync()
}

// editInEditor runs the edit of one item in the user's editor and returns
// the changed item, or nil when the edit was cancelled (the file emptied)
// or left the item as it was.
func (c *cmdEnv) editInEditor(e *vault.Entry, allowDisk bool) (*item.Item, error) {
	root, err := editTempRoot(os.Getenv("XDG_RUNTIME_DIR"), "/dev/shm", allowDisk, os.TempDir())
	if err != nil {
		return nil, err
	}
	argv, err := editorCommand(os.Getenv)
	if err != nil {
		return nil, err
	}
	pre, post, known := editorSafetyArgs(argv[0])
	if !known {
		c.warnf("keyhold does not know whether %s keeps copies of the file it edits (swap, backup, undo); "+
			"they would hold the item's secrets (vim, nvim, emacs and nano are started with them off)", argv[0])
	}
	dir, err := os.MkdirTemp(root, "keyhold-edit-")
	if err != nil {
		return nil, fmt.Errorf("making the directory for the edit file: %w", err)
	}
	defer wipeDir(dir)
	path := filepath.Join(dir, "item.txt")

	header := []string{
		fmt.Sprintf("Editing %q (%s, revision %d). Save and quit to store a new revision;", e.Item.Title, e.Item.Type, e.Revision),
		"leave it unchanged, or empty the file, to change nothing. Lines starting with # are ignored.",
		"KEY: VALUE per line; a field's kind in brackets: [hidden] [url] [totp] [text]; a value of",
		"several lines: \"KEY: |\" then its lines indented by two spaces. Format: keyhold help edit.",
	}
	orig := renderEditText(e.Item, nil)
	text := renderEditText(e.Item, header)
	for {
		out, err := c.runEditor(argv, pre, post, path, []byte(text))
		if err != nil {
			return nil, err
		}
		edited := string(out)
		keys.Wipe(out)
		it, perr := parseEditText(edited, e.Item)
		if errors.Is(perr, errEmptyEdit) {
			c.infof("the edited text is empty; nothing changed")
			return nil, nil
		}
		if perr == nil {
			if renderEditText(it, nil) == orig {
				c.infof("no changes; nothing written")
				return nil, nil
			}
			return it, nil
		}
		// On a terminal the user gets the text back with the mistake
		// named at the top; elsewhere, or if the text comes back as it
		// went, the edit ends here with the item unchanged.
		if edited == text || !isInteractive() {
			return nil, usageError{fmt.Errorf("the edited item cannot be read, so nothing changed: %w", perr)}
		}
		text = "# ERROR: " + perr.Error() + "\n# Correct it, or empty the file to change nothing.\n" + stripErrorHeader(edited)
	}
}

func stripErrorHeader(s string) string {
	for strings.HasPrefix(s, "# ERROR: ") || strings.HasPrefix(s, "# Correct it, or empty") {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	return s
}

// isInteractive reports whether there is a terminal to reopen the editor
// on.
func isInteractive() bool {
	t, err := openTTY()
	if err != nil {
		return false
	}
	t.Close()
	return true
}

// runEditor writes text to a new 0600 file at path, runs the editor on
// it and returns what the file holds afterwards. Ctrl-C goes to the
// editor, which handles it; SIGTERM and SIGHUP are passed on to it, and
// end the edit with nothing changed once it has exited (the caller's
// deferred wipe runs).
func (c *cmdEnv) runEditor(argv, pre, post []string, path string, text []byte) ([]byte, error) {
	if _, err := os.Stat(path); err == nil {
		zeroFile(path)
		os.Remove(path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writing the edit file: %w", err)
	}
	_, err = f.Write(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("writing the edit file: %w", err)
	}
	var args []string
	args = append(args, pre...)
	args = append(args, argv[1:]...)
	args = append(args, post...)
	args = append(args, path)
	cmd := exec.Command(argv[0], args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	if f, ok := c.stdin.(*os.File); ok {
		cmd.Stdin = f
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return nil, exitError{fmt.Errorf("%w: cannot start the editor %s (set $VISUAL or $EDITOR): %v", errUnavailable, argv[0], err), ExitUnavailable}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var killed os.Signal
	var werr error
wait:
	for {
		select {
		case s := <-sigs:
			if s == os.Interrupt {
				continue // the editor has it too, and decides
			}
			killed = s
			cmd.Process.Signal(s)
		case werr = <-done:
			break wait
		}
	}
	if killed != nil {
		n := 1
		if sn, ok := killed.(syscall.Signal); ok {
			n = int(sn)
		}
		c.infof("interrupted (%v): nothing changed", killed)
		return nil, quietExit{128 + n}
	}
	if werr != nil {
		return nil, fmt.Errorf("the editor %s failed (%v); nothing changed", argv[0], werr)
	}
	g, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the editor left no file to read (%v); nothing changed", err)
	}
	defer g.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(g, maxEditBytes+1)); err != nil {
		return nil, err
	}
	if b.Len() > maxEditBytes {
		return nil, usageError{errors.New("the edited file is far larger than an item can be; nothing changed")}
	}
	return b.Bytes(), nil
}
