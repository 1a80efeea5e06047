//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/keyhold/keyhold/internal/webcore"
)

// errJS is a rejection that came from JavaScript (keyholdHost's store or
// Worker): its message is the page's own.
var errJS = errors.New("the browser refused")

// await blocks the calling goroutine (never the event loop's) until the
// JavaScript promise p settles.
func await(p js.Value) (js.Value, error) { return awaitWith(p, nil) }

// awaitWith is await that also hands a rejection's reason to onErr.
func awaitWith(p js.Value, onErr func(js.Value)) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, a []js.Value) any {
		var v js.Value
		if len(a) > 0 {
			v = a[0]
		}
		ch <- result{v: v}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, a []js.Value) any {
		msg := "unknown error"
		if len(a) > 0 && onErr != nil {
			onErr(a[0])
		}
		if len(a) > 0 && a[0].Type() == js.TypeObject && a[0].Get("message").Type() == js.TypeString {
			msg = a[0].Get("message").String()
		}
		ch <- result{err: fmt.Errorf("%w: %s", errJS, msg)}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}

// promise runs fn on its own goroutine, through g, and returns a Promise
// of its result; errors reject with an Error carrying the contract's
// .code. A call that panics rejects with code "internal", asking for a
// reload, and so does every later call of the session (webcore.Guard):
// the panic may have left a lock held or the state half changed.
func promise(g *webcore.Guard, fn func() (any, error)) js.Value {
	var handler js.Func
	handler = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer handler.Release()
			v, err := g.Run(fn)
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(toJS(v))
		}()
		return nil
	})
	return js.Global().Get("Promise").New(handler)
}

// jsError is err as the page receives it: an Error whose .code is one of
// the contract's codes (chosen by errors.Is/As, never by text) and whose
// message is a sentence for the user.
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(webcore.Message(err))
	e.Set("code", webcore.Code(err))
	return e
}

// toJS converts a result: bytes become a Uint8Array, nil null, anything
// else goes through JSON (the results are plain JSON-like values).
func toJS(v any) js.Value {
	switch x := v.(type) {
	case nil:
		return js.Null()
	case js.Value:
		return x
	case []byte:
		a := js.Global().Get("Uint8Array").New(len(x))
		js.CopyBytesToJS(a, x)
		return a
	case interface{ AppendJSON([]byte) []byte }:
		// The item list: its rows are encoded already.
		return js.Global().Get("JSON").Call("parse", string(x.AppendJSON(nil)))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return jsError(err)
	}
	return js.Global().Get("JSON").Call("parse", string(b))
}

// arg decodes the one plain-object argument of a call through JSON into
// v (byte fields are read apart, with bytesOf).
func arg(args []js.Value, v any) error {
	if len(args) == 0 || args[0].IsUndefined() || args[0].IsNull() {
		return nil
	}
	// Typed arrays do not belong in JSON: they are read by bytesOf.
	replacer := js.FuncOf(func(_ js.Value, kv []js.Value) any {
		if len(kv) == 2 && kv[1].InstanceOf(js.Global().Get("Uint8Array")) {
			return js.Null()
		}
		return kv[1]
	})
	defer replacer.Release()
	s := js.Global().Get("JSON").Call("stringify", args[0], replacer)
	if err := json.Unmarshal([]byte(s.String()), v); err != nil {
		return fmt.Errorf("%w: %v", webcore.ErrInvalid, err)
	}
	return nil
}

// bytesOf copies a Uint8Array field of the argument; nil if absent.
func bytesOf(args []js.Value, name string) ([]byte, error) {
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		return nil, nil
	}
	f := args[0].Get(name)
	if f.IsUndefined() || f.IsNull() {
		return nil, nil
	}
	if !f.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("%w: %s must be a Uint8Array", webcore.ErrInvalid, name)
	}
	b := make([]byte, f.Length())
	js.CopyBytesToGo(b, f)
	return b, nil
}

// secretOf reads a string field (a password) as UTF-8 bytes the caller
// can clear, never as a Go string.
func secretOf(args []js.Value, name string) ([]byte, error) {
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		return nil, fmt.Errorf("%w: %s is missing", webcore.ErrInvalid, name)
	}
	f := args[0].Get(name)
	if f.Type() != js.TypeString {
		return nil, fmt.Errorf("%w: %s must be a string", webcore.ErrInvalid, name)
	}
	a := js.Global().Get("TextEncoder").New().Call("encode", f)
	b := make([]byte, a.Length())
	js.CopyBytesToGo(b, a)
	a.Call("fill", 0)
	return b, nil
}

// jsonRaw keeps a JSON value as its bytes.
type jsonRaw = json.RawMessage
