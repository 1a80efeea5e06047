// A stand-in for cmd/keyhold-web in the build's tests: the smallest
// js/wasm program.
package main

func main() {}
