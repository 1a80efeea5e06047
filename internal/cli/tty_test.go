package cli

import (
	"os"
	"slices"
	"sync"
	"testing"
)

// TestInterruptRestoresTerminalFirst checks that Ctrl-C during a password
// prompt turns the terminal's echo back on before the command dies, so the
// user's shell is not left silent.
func TestInterruptRestoresTerminalFirst(t *testing.T) {
	sig := make(chan os.Signal, 1)
	var mu sync.Mutex
	var got []string
	died := make(chan struct{})
	stop := onInterrupt(sig,
		func() { mu.Lock(); got = append(got, "restore"); mu.Unlock() },
		func() { mu.Lock(); got = append(got, "die"); mu.Unlock(); close(died) })
	sig <- os.Interrupt
	<-died
	stop()
	if want := []string{"restore", "die"}; !slices.Equal(got, want) {
		t.Fatalf("on interrupt: %v, want %v", got, want)
	}
}

// TestNoRestoreAfterPrompt checks that once the prompt is over, an
// interrupt no longer touches the terminal or ends the command here.
func TestNoRestoreAfterPrompt(t *testing.T) {
	sig := make(chan os.Signal, 1)
	called := false
	stop := onInterrupt(sig, func() { called = true }, func() { called = true })
	stop()
	sig <- os.Interrupt
	if called {
		t.Fatal("an interrupt after the prompt restored the terminal or ended the command")
	}
}
