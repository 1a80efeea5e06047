//go:build js && wasm

// Command keyhold-web is the web vault's WebAssembly module. It only
// converts values between JavaScript and package webcore, where the web
// vault's behaviour lives (docs/WEB.md has the contract): each call of
// globalThis.keyhold runs on its own goroutine and returns a Promise.
//
// Started with go.argv[1] == "worker" (in a Web Worker), it exposes
// globalThis.keyholdWorker.argon2id instead, for one key derivation.
package main

import (
	"context"
	"os"
	"syscall/js"

	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/webcore"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		worker()
		select {}
	}
	host := js.Global().Get("keyholdHost")
	c := webcore.New(webcore.Options{
		Store: hostStore{host.Get("store")},
		Event: func(name string, detail any) {
			host.Call("event", name, toJS(detail))
		},
		Argon2: hostArgon2(host),
		Vaults: webcore.MemVaults(nil),
		Extras: jsExtras{host},
		Mark: func(step string) {
			// A performance mark for bench/web (the same name replaces
			// the last one).
			perf := js.Global().Get("performance")
			perf.Call("clearMarks", "keyhold:"+step)
			perf.Call("mark", "keyhold:"+step)
		},
	})
	js.Global().Set("keyhold", api(c))
	host.Call("ready")
	select {}
}

// idArg is the argument of the calls that name one item.
type idArg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func api(c *webcore.Core) js.Value {
	// call wraps one method: fn gets the call's arguments and runs on its
	// own goroutine; one panic makes every later call refuse (g).
	g := new(webcore.Guard)
	call := func(fn func(ctx context.Context, args []js.Value) (any, error)) js.Func {
		return js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(g, func() (any, error) { return fn(context.Background(), args) })
		})
	}
	var manifest string
	m := map[string]js.Func{
		"version": call(func(context.Context, []js.Value) (any, error) {
			return map[string]string{"version": buildinfo.Read().Version, "manifest": manifest}, nil
		}),
		"start": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a struct {
				Assets struct {
					Manifest string `json:"manifest"`
				} `json:"assets"`
				Origin string `json:"origin"`
			}
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			manifest = a.Assets.Manifest
			return c.Start(ctx, a.Origin)
		}),
		"status": call(func(context.Context, []js.Value) (any, error) { return c.Status(), nil }),
		"readKit": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a struct {
				Code string `json:"code"`
			}
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			file, err := bytesOf(args, "file")
			if err != nil {
				return nil, err
			}
			defer clear(file)
			return c.ReadKit(ctx, a.Code, file)
		}),
		"readQRFrame": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a struct {
				Width  int `json:"width"`
				Height int `json:"height"`
			}
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			gray, err := bytesOf(args, "gray")
			if err != nil {
				return nil, err
			}
			info, found, err := c.ReadQRFrame(ctx, gray, a.Width, a.Height)
			if err != nil || !found {
				return nil, err
			}
			return info, nil
		}),
		"forgetKit": call(func(context.Context, []js.Value) (any, error) { c.ForgetKit(); return struct{}{}, nil }),
		"signIn": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a struct {
				Remember   bool   `json:"remember"`
				DeviceName string `json:"deviceName"`
			}
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			pw, err := secretOf(args, "password")
			if err != nil {
				return nil, err
			}
			defer clear(pw)
			return c.SignIn(ctx, pw, a.Remember, a.DeviceName)
		}),
		"unlock": call(func(ctx context.Context, args []js.Value) (any, error) {
			pw, err := secretOf(args, "password")
			if err != nil {
				return nil, err
			}
			defer clear(pw)
			return c.Unlock(ctx, pw)
		}),
		"lock": call(func(ctx context.Context, _ []js.Value) (any, error) { return struct{}{}, c.Lock(ctx) }),
		"signOut": call(func(ctx context.Context, _ []js.Value) (any, error) {
			return struct{}{}, c.SignOut(ctx)
		}),
		"list": call(func(_ context.Context, args []js.Value) (any, error) {
			var q webcore.ListQuery
			if err := arg(args, &q); err != nil {
				return nil, err
			}
			return c.List(q)
		}),
		"types": call(func(context.Context, []js.Value) (any, error) { return webcore.Types(), nil }),
		"tags":  call(func(context.Context, []js.Value) (any, error) { return c.Tags() }),
		"get": call(func(_ context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Get(a.ID)
		}),
		"save": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a struct {
				ID   string  `json:"id"`
				Rev  uint64  `json:"rev"`
				Item jsonRaw `json:"item"`
			}
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Save(ctx, a.ID, a.Rev, a.Item)
		}),
		"trash": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Trash(ctx, a.ID)
		}),
		"restore": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Restore(ctx, a.ID)
		}),
		"history": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.History(ctx, a.ID)
		}),
		"field": call(func(_ context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			v, err := c.Field(a.ID, a.Name)
			return map[string]string{"value": v}, err
		}),
		"totp": call(func(_ context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.TOTP(a.ID)
		}),
		"attachment": call(func(_ context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Attachment(a.ID, a.Name)
		}),
		"attach": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			data, err := bytesOf(args, "data")
			if err != nil {
				return nil, err
			}
			return c.Attach(ctx, a.ID, a.Name, data)
		}),
		"detach": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			return c.Detach(ctx, a.ID, a.Name)
		}),
		"generate": call(func(_ context.Context, args []js.Value) (any, error) {
			var r webcore.GenerateRequest
			if err := arg(args, &r); err != nil {
				return nil, err
			}
			return c.Generate(r)
		}),
		"strength": call(func(_ context.Context, args []js.Value) (any, error) {
			v, err := secretOf(args, "value")
			if err != nil {
				return nil, err
			}
			defer clear(v)
			return c.Estimate(v)
		}),
		"health":  call(func(context.Context, []js.Value) (any, error) { return c.Health() }),
		"account": call(func(ctx context.Context, _ []js.Value) (any, error) { return c.Account(ctx) }),
		"revokeDevice": call(func(ctx context.Context, args []js.Value) (any, error) {
			var a idArg
			if err := arg(args, &a); err != nil {
				return nil, err
			}
			var pw []byte
			if len(args) > 0 && args[0].Type() == js.TypeObject && args[0].Get("password").Type() == js.TypeString {
				var err error
				if pw, err = secretOf(args, "password"); err != nil {
					return nil, err
				}
				defer clear(pw)
			}
			return struct{}{}, c.RevokeDevice(ctx, a.ID, pw)
		}),
		"audit":  call(func(ctx context.Context, _ []js.Value) (any, error) { return c.Audit(ctx) }),
		"kitPDF": call(func(context.Context, []js.Value) (any, error) { return c.KitPDF() }),
		"changePassword": call(func(ctx context.Context, args []js.Value) (any, error) {
			cur, err := secretOf(args, "current")
			if err != nil {
				return nil, err
			}
			defer clear(cur)
			next, err := secretOf(args, "next")
			if err != nil {
				return nil, err
			}
			defer clear(next)
			return struct{}{}, c.ChangePassword(ctx, cur, next)
		}),
		"syncNow": call(func(ctx context.Context, _ []js.Value) (any, error) {
			rep, err := c.SyncNow(ctx)
			if err != nil {
				return nil, err
			}
			return webcore.ReportOf(rep), nil
		}),
	}
	obj := js.Global().Get("Object").New()
	for name, f := range m {
		obj.Set(name, f)
	}
	return obj
}
