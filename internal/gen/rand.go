package gen

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// sampler draws uniformly distributed integers from crypto/rand.
//
// It reads random bytes in blocks and uses rejection sampling: a draw that
// falls in the incomplete last "bucket" of the byte range is thrown away
// instead of being folded back with a modulo, which would make the first
// characters of an alphabet more likely than the others (with 94 symbols and
// one byte per draw, naive modulo gives 68 of them a 3/256 chance and the rest
// 2/256).
type sampler struct {
	r   io.Reader
	buf [64]byte
	pos int
}

func newSampler() *sampler {
	s := &sampler{r: rand.Reader}
	s.pos = len(s.buf)
	return s
}

func (s *sampler) byte() (byte, error) {
	if s.pos == len(s.buf) {
		if _, err := io.ReadFull(s.r, s.buf[:]); err != nil {
			return 0, fmt.Errorf("reading the system random number generator: %w", err)
		}
		s.pos = 0
	}
	b := s.buf[s.pos]
	s.buf[s.pos] = 0
	s.pos++
	return b, nil
}

// intn returns a uniform integer in [0, n) for 1 <= n <= 65536.
func (s *sampler) intn(n int) (int, error) {
	switch {
	case n <= 0 || n > 1<<16:
		return 0, errors.New("internal error: sampler range out of bounds")
	case n <= 1<<8:
		// Largest multiple of n that fits in a byte's range.
		limit := (1 << 8) - (1<<8)%n
		for {
			b, err := s.byte()
			if err != nil {
				return 0, err
			}
			if int(b) < limit {
				return int(b) % n, nil
			}
		}
	default:
		limit := (1 << 16) - (1<<16)%n
		for {
			hi, err := s.byte()
			if err != nil {
				return 0, err
			}
			lo, err := s.byte()
			if err != nil {
				return 0, err
			}
			if v := int(hi)<<8 | int(lo); v < limit {
				return v % n, nil
			}
		}
	}
}

// wipe clears the leftover random bytes. Consumed bytes are already zeroed
// by byte, since they determine the secret being generated.
func (s *sampler) wipe() {
	clear(s.buf[:])
	s.pos = len(s.buf)
}
