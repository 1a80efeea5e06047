package secretref

import (
	"bytes"
	"io"
	"slices"
)

// Concealed replaces a secret in masked output.
const Concealed = "<concealed by keyhold>"

// Masker copies output to W with every occurrence of a secret replaced by
// Concealed. A secret may arrive split across writes: bytes that could be
// the start of a secret are held back until the next write decides, and
// Close writes what is left. Where secrets overlap, the longest one that
// matches at a position wins. A Masker is for one stream and one
// goroutine.
type Masker struct {
	w       io.Writer
	secrets [][]byte // longest first
	held    []byte
	out     []byte
}

// NewMasker returns a Masker writing to w. Empty secrets are ignored.
func NewMasker(w io.Writer, secrets [][]byte) *Masker {
	m := &Masker{w: w}
	for _, s := range secrets {
		if len(s) > 0 {
			m.secrets = append(m.secrets, s)
		}
	}
	slices.SortFunc(m.secrets, func(a, b []byte) int { return len(b) - len(a) })
	return m
}

// Write masks p and writes what can be decided. It reports len(p) when
// everything was accepted, even if part of it is held back.
func (m *Masker) Write(p []byte) (int, error) {
	m.held = append(m.held, p...)
	if err := m.process(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the held-back bytes (masking any whole secret among them).
// It does not close W.
func (m *Masker) Close() error { return m.process(true) }

// process scans held; unless final, a tail that is a proper prefix of some
// secret stays held.
func (m *Masker) process(final bool) error {
	buf := m.held
	m.out = m.out[:0]
	i, emitted := 0, 0
scan:
	for i < len(buf) {
		rest := buf[i:]
		for _, s := range m.secrets {
			if rest[0] != s[0] {
				continue
			}
			if bytes.HasPrefix(rest, s) {
				m.out = append(m.out, buf[emitted:i]...)
				m.out = append(m.out, Concealed...)
				i += len(s)
				emitted = i
				continue scan
			}
			if !final && len(rest) < len(s) && bytes.HasPrefix(s, rest) {
				break scan // may be completed by the next write
			}
		}
		i++
	}
	m.out = append(m.out, buf[emitted:i]...)
	// Keep the undecided tail; wipe what was consumed (it may hold a
	// secret's first bytes).
	n := copy(buf, buf[i:])
	clear(buf[n:])
	m.held = buf[:n]
	var err error
	if len(m.out) > 0 {
		_, err = m.w.Write(m.out)
	}
	clear(m.out)
	return err
}
