//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// kat DIR prints the known-answer outputs of the vector files in DIR.
func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kat VECTOR-DIR")
		os.Exit(2)
	}
	files := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(os.Args[1], f))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		files[f] = b
	}
	out, err := Compute(files)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
