// Package wasmtest holds the checks that the vault's core runs in a
// browser: the packages a web client needs build for GOOS=js GOARCH=wasm
// without SQLite, without starting programs and without system calls of
// their own, and the core's known-answer tests pass there (under Node),
// so that key derivation, OPAQUE and sealing give the same bytes as on
// the desktop. It has no code of its own; see its tests, and
// docs/TESTING.md for how to run them.
package wasmtest
