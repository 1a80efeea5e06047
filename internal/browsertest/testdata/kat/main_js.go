//go:build js && wasm

package main

import "syscall/js"

// In the browser, kat.js puts the vector files in globalThis.katInput
// (name → text) before starting the program; the program leaves the
// JSON document in globalThis.katResult (or the error in katError) and
// calls globalThis.katDone().
func main() {
	g := js.Global()
	in := g.Get("katInput")
	files := map[string][]byte{}
	for _, f := range Files {
		if v := in.Get(f); v.Type() == js.TypeString {
			files[f] = []byte(v.String())
		}
	}
	out, err := Compute(files)
	if err != nil {
		g.Set("katError", err.Error())
	} else {
		g.Set("katResult", string(out))
	}
	g.Call("katDone")
}
