//go:build unix && !darwin

package clip

import (
	"os/exec"

	"github.com/atotto/clipboard"
)

// available reports ErrNoClipboard unless one of the programs that
// github.com/atotto/clipboard drives is installed together with the session
// it needs (session): wl-copy and wl-paste under Wayland, xclip or xsel
// under X11, or Termux's tools on Android. Without this check xclip would
// only fail with "Can't open display" after we had committed to copying.
func available(session Session) error {
	if clipboard.Unsupported {
		return ErrNoClipboard
	}
	wayland := session.WaylandDisplay != "" && installed("wl-copy") && installed("wl-paste")
	x11 := session.X11Display != "" && (installed("xclip") || installed("xsel"))
	termux := installed("termux-clipboard-set") && installed("termux-clipboard-get")
	if !wayland && !x11 && !termux {
		return ErrNoClipboard
	}
	return nil
}

func installed(program string) bool {
	_, err := exec.LookPath(program)
	return err == nil
}
