// Command kdftime times keyhold's key derivation (keys.Derive, the same code
// that unlocks a vault) for given Argon2id parameters and prints the median
// in milliseconds. The whole-process benchmarks (bench/keyhold.sh) pair it
// with `keyhold show` without the agent, so "unlock+show minus the KDF" is a
// difference of two runs taken side by side rather than a guess.
//
//	kdftime -t 3 -m 256 -p 4 [-n 1]
//
// It derives from a fixed throw-away password and a fresh random Secret Key:
// no real secret is read or printed.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/keyhold/keyhold/internal/keys"
)

func main() {
	t := flag.Uint("t", uint(keys.DefaultTime), "Argon2id passes")
	m := flag.Uint("m", uint(keys.MinDefaultMiB), "Argon2id memory in MiB")
	p := flag.Uint("p", uint(keys.DefaultThreads), "Argon2id lanes")
	n := flag.Int("n", 1, "derivations to time (the median is printed)")
	flag.Parse()
	params := keys.KDFParams{Time: uint32(*t), MemoryKiB: uint32(*m) * 1024, Threads: uint8(*p)}
	if err := params.Check(); err != nil || *n < 1 {
		fmt.Fprintf(os.Stderr, "kdftime: bad parameters (%v); see kdftime -h\n", err)
		os.Exit(2)
	}
	sk, err := keys.NewSecretKey()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kdftime: %v\n", err)
		os.Exit(1)
	}
	salt := make([]byte, 16)
	ms := make([]float64, 0, *n)
	for range *n {
		start := time.Now()
		d, err := keys.Derive([]byte("kdftime benchmark password"), sk, keys.AccountID{}, salt, params)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kdftime: %v\n", err)
			os.Exit(1)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		d.Wipe()
	}
	slices.Sort(ms)
	med := ms[len(ms)/2]
	if len(ms)%2 == 0 {
		med = (ms[len(ms)/2-1] + ms[len(ms)/2]) / 2
	}
	fmt.Printf("%.1f\n", med)
}
