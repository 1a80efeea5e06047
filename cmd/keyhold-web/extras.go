//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/webcore"
)

// jsExtras reaches the second module (keyhold-kit.wasm, globalThis.
// keyholdKit) through keyholdHost.kit(), which loads it the first time a
// screen needs it and resolves to it.
type jsExtras struct{ host js.Value }

func (x jsExtras) call(method string, arg js.Value) (js.Value, error) {
	mod, err := awaitCode(x.host.Call("kit"))
	if err != nil {
		return js.Value{}, err
	}
	return awaitCode(mod.Call(method, arg))
}

// awaitCode is await that keeps the .code of the other module's errors.
func awaitCode(p js.Value) (js.Value, error) {
	var code, msg string
	v, err := awaitWith(p, func(e js.Value) {
		if e.Type() == js.TypeObject && e.Get("code").Type() == js.TypeString {
			code, msg = e.Get("code").String(), e.Get("message").String()
		}
	})
	if err != nil && code != "" {
		return v, &webcore.CodeError{Code: code, Msg: msg}
	}
	return v, err
}

func object(kv ...any) js.Value {
	o := js.Global().Get("Object").New()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func (x jsExtras) ReadKitFile(file []byte) (string, error) {
	v, err := x.call("readKitFile", object("file", bytesToJS(file)))
	if err != nil {
		return "", err
	}
	return v.Get("code").String(), nil
}

func (x jsExtras) ReadQRFrame(gray []byte, width, height int) (string, bool, error) {
	v, err := x.call("readQRFrame", object("gray", bytesToJS(gray), "width", width, "height", height))
	if err != nil || v.IsNull() || v.IsUndefined() {
		return "", false, err
	}
	return v.Get("code").String(), true, nil
}

func (x jsExtras) KitPDF(s kittext.Sheet) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	v, err := x.call("kitPDF", js.Global().Get("JSON").Call("parse", string(b)))
	if err != nil {
		return nil, err
	}
	return bytesFromJS(v)
}

func (x jsExtras) Strength(pw []byte, userInputs ...string) (webcore.Strength, error) {
	ins := js.Global().Get("Array").New()
	for _, s := range userInputs {
		ins.Call("push", s)
	}
	jpw := bytesToJS(pw)
	defer jpw.Call("fill", 0)
	v, err := x.call("strength", object("password", jpw, "inputs", ins))
	if err != nil {
		return webcore.Strength{}, err
	}
	var s webcore.Strength
	err = fromJS(v, &s)
	return s, err
}

func (x jsExtras) Generate(r webcore.GenerateRequest) (webcore.Generated, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return webcore.Generated{}, err
	}
	v, err := x.call("generate", js.Global().Get("JSON").Call("parse", string(b)))
	if err != nil {
		return webcore.Generated{}, err
	}
	var g webcore.Generated
	err = fromJS(v, &g)
	return g, err
}

func fromJS(v js.Value, out any) error {
	s := js.Global().Get("JSON").Call("stringify", v).String()
	if err := json.Unmarshal([]byte(s), out); err != nil {
		return fmt.Errorf("the kit module answered something unreadable: %v", err)
	}
	return nil
}

func bytesFromJS(v js.Value) ([]byte, error) {
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, errors.New("the kit module answered no bytes")
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}
