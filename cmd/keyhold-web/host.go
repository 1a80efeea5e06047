//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/keyhold/keyhold/internal/webcore"
)

// hostStore is keyholdHost.store: IndexedDB, every value encrypted by the
// page under a non-extractable WebCrypto key.
type hostStore struct{ s js.Value }

func (h hostStore) Get(_ context.Context, name string) ([]byte, error) {
	v, err := await(h.s.Call("get", name))
	if err != nil {
		return nil, err
	}
	if v.IsNull() || v.IsUndefined() {
		return nil, nil
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	v.Call("fill", 0) // the record in the clear: Go's copy is the one kept
	return b, nil
}

func (h hostStore) Put(_ context.Context, name string, b []byte) error {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	_, err := await(h.s.Call("put", name, a))
	a.Call("fill", 0) // stored (sealed by the page): the clear copy goes
	return err
}

func (h hostStore) Delete(_ context.Context, name string) error {
	_, err := await(h.s.Call("delete", name))
	return err
}

func (h hostStore) Clear(context.Context) error {
	_, err := await(h.s.Call("clear"))
	return err
}

func bytesToJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// hostArgon2 runs Argon2id through keyholdHost.argon2id: in a fresh Web
// Worker the page terminates afterwards, so the memory it took is given
// back (a WebAssembly instance's memory never shrinks).
func hostArgon2(host js.Value) func(pw, salt []byte, t, m uint32, p uint8) ([]byte, error) {
	return func(pw, salt []byte, t, m uint32, p uint8) ([]byte, error) {
		jpw := bytesToJS(pw)
		defer jpw.Call("fill", 0)
		req := js.Global().Get("Object").New()
		req.Set("password", jpw)
		req.Set("salt", bytesToJS(salt))
		req.Set("time", t)
		req.Set("memoryKiB", m)
		req.Set("threads", int(p))
		v, err := await(host.Call("argon2id", req))
		if err != nil {
			return nil, fmt.Errorf("the key derivation in the browser failed: %w", err)
		}
		if !v.InstanceOf(js.Global().Get("Uint8Array")) || v.Length() != 32 {
			return nil, fmt.Errorf("the key derivation in the browser returned no 32-byte key")
		}
		out := make([]byte, 32)
		js.CopyBytesToGo(out, v)
		v.Call("fill", 0)
		return out, nil
	}
}

// worker is the module's second role: in a Web Worker (go.argv[1] ==
// "worker"), it runs one Argon2id for the page and nothing else.
func worker() {
	obj := js.Global().Get("Object").New()
	g := new(webcore.Guard)
	obj.Set("argon2id", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return promise(g, func() (any, error) {
			pw, err := bytesOf(args, "password")
			if err != nil {
				return nil, err
			}
			defer clear(pw)
			salt, err := bytesOf(args, "salt")
			if err != nil {
				return nil, err
			}
			a := args[0]
			return webcore.WorkerArgon2(pw, salt, a.Get("time").Int(), a.Get("memoryKiB").Int(), a.Get("threads").Int())
		})
	}))
	js.Global().Set("keyholdWorker", obj)
}
