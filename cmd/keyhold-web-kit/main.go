//go:build js && wasm

// Command keyhold-web-kit is the web vault's second WebAssembly module,
// which the page loads only when a screen needs it (docs/WEB.md): it sets
// globalThis.keyholdKit, whose calls return Promises, and then calls
// keyholdHost.kitReady(). It reads a recovery kit from a file or a
// camera frame, renders the kit PDF, estimates strength and generates
// passwords (package webextras); it holds no keys and no vault.
package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/webcore"
	"github.com/keyhold/keyhold/internal/webcore/webextras"
)

func main() {
	x := webextras.Local{}
	methods := map[string]func(a js.Value) (any, error){
		"readKitFile": func(a js.Value) (any, error) {
			file, err := bytesArg(a, "file")
			if err != nil {
				return nil, err
			}
			defer clear(file)
			code, err := x.ReadKitFile(file)
			if err != nil {
				return nil, err
			}
			return map[string]string{"code": code}, nil
		},
		"readQRFrame": func(a js.Value) (any, error) {
			gray, err := bytesArg(a, "gray")
			if err != nil {
				return nil, err
			}
			code, found, err := x.ReadQRFrame(gray, a.Get("width").Int(), a.Get("height").Int())
			if err != nil || !found {
				return nil, err
			}
			return map[string]string{"code": code}, nil
		},
		"kitPDF": func(a js.Value) (any, error) {
			var s kittext.Sheet
			if err := jsonArg(a, &s); err != nil {
				return nil, err
			}
			return x.KitPDF(s)
		},
		"strength": func(a js.Value) (any, error) {
			pw, err := bytesArg(a, "password")
			if err != nil {
				return nil, err
			}
			defer clear(pw)
			var ins []string
			if v := a.Get("inputs"); v.Type() == js.TypeObject {
				for i := range v.Length() {
					ins = append(ins, v.Index(i).String())
				}
			}
			return x.Strength(pw, ins...)
		},
		"generate": func(a js.Value) (any, error) {
			var r webcore.GenerateRequest
			if err := jsonArg(a, &r); err != nil {
				return nil, err
			}
			return x.Generate(r)
		},
	}
	obj := js.Global().Get("Object").New()
	for name, fn := range methods {
		obj.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			a := js.Undefined()
			if len(args) > 0 {
				a = args[0]
			}
			return promise(func() (any, error) { return fn(a) })
		}))
	}
	js.Global().Set("keyholdKit", obj)
	if h := js.Global().Get("keyholdHost"); h.Type() == js.TypeObject && h.Get("kitReady").Type() == js.TypeFunction {
		h.Call("kitReady")
	}
	select {}
}

func bytesArg(a js.Value, name string) ([]byte, error) {
	if a.Type() != js.TypeObject || !a.Get(name).InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("%w: %s must be a Uint8Array", webcore.ErrInvalid, name)
	}
	v := a.Get(name)
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func jsonArg(a js.Value, out any) error {
	if a.Type() != js.TypeObject {
		return fmt.Errorf("%w: an object is expected", webcore.ErrInvalid)
	}
	if err := json.Unmarshal([]byte(js.Global().Get("JSON").Call("stringify", a).String()), out); err != nil {
		return fmt.Errorf("%w: %v", webcore.ErrInvalid, err)
	}
	return nil
}

// promise runs fn on its own goroutine and returns a Promise of its
// result; errors reject with an Error carrying the contract's .code.
func promise(fn func() (any, error)) js.Value {
	var handler js.Func
	handler = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer handler.Release()
			var v any
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("unexpected failure: %v", r)
					}
				}()
				v, err = fn()
			}()
			if err != nil {
				e := js.Global().Get("Error").New(webcore.Message(err))
				e.Set("code", webcore.Code(err))
				reject.Invoke(e)
				return
			}
			switch x := v.(type) {
			case nil:
				resolve.Invoke(js.Null())
			case []byte:
				a := js.Global().Get("Uint8Array").New(len(x))
				js.CopyBytesToJS(a, x)
				resolve.Invoke(a)
			default:
				b, err := json.Marshal(v)
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(js.Global().Get("JSON").Call("parse", string(b)))
			}
		}()
		return nil
	})
	return js.Global().Get("Promise").New(handler)
}
