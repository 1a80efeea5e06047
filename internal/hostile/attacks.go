package hostile

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
)

// attack is one way of lying. rewrite changes an honest answer (and says
// whether it changed anything); serve answers without asking the server.
type attack struct {
	doc     string
	paths   []string // the paths it applies to; empty: every path
	pathArg bool     // it applies only to the path its first argument names
	args    int      // arguments it needs
	rewrite func(p *Proxy, x *exchange, args []string) bool
	serve   func(w http.ResponseWriter, r *http.Request, args []string)
}

// match reports whether the attack applies to r. An attack on the path
// its first argument names lets every other request through to the
// server, so that a device reaches the attacked request as it would.
func (a *attack) match(r *http.Request, args []string) bool {
	if a.pathArg {
		return len(args) > 0 && r.URL.Path == args[0]
	}
	return len(a.paths) == 0 || slices.Contains(a.paths, r.URL.Path)
}

const (
	pathChanges = "/v1/sync/changes"
	pathKeys    = "/v1/account/keys"
	pathParams  = "/v1/login/params"
	pathAccount = "/v1/account"
	pathDevices = "/v1/devices"
	pathLog     = "/v1/account/log"
	pathSyncSet = "/v1/account/sync-settings"
	pathTicket  = "/v1/mail/ticket"
	pathPush    = "/v1/sync/push"
)

// Escape is what the "escapes" attack adds to every string a server sends
// for display: it clears the screen, sets the window title, and makes an
// OSC 8 hyperlink, if it reaches a terminal unfiltered.
const Escape = "\x1b[2J\x1b]0;owned\x07\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\u202e"

// Envelope header offsets (SPEC §6) in the previous version; envAt moves
// them past the password epoch in the current one.
const (
	envAccount = 5
	envKDFID   = 25
	envTime    = 26
	envMemory  = 30
	envThreads = 34
	envSalt    = 35
	// envEpoch is the password epoch's offset, in the current version
	// only.
	envEpoch = 25
)

// envAt is the offset of the header field at off (a previous-version
// offset) in the envelope or header h: the current version inserts the
// 4-byte password epoch at offset 25.
func envAt(h []byte, off int) int {
	if off >= envKDFID && api.EnvelopeHeaderLen(h) == api.EnvelopeHeaderSize {
		return off + api.EnvelopeHeaderSize - api.EnvelopeHeaderSizeV1
	}
	return off
}

var attacks = map[string]*attack{
	// --- the change feed: items moved, swapped, replayed, dropped,
	// duplicated, reordered, relabelled and injected ---
	"move": {doc: "puts one item's box under another item", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			i, j, ok := twoItems(c)
			if ok {
				c.Changes[i].Box = bytes.Clone(c.Changes[j].Box)
			}
			return ok
		})},
	"swap": {doc: "swaps the boxes of two items", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			i, j, ok := twoItems(c)
			if ok {
				c.Changes[i].Box, c.Changes[j].Box = c.Changes[j].Box, c.Changes[i].Box
			}
			return ok
		})},
	"replay": {doc: "serves an item's previous revision again in place of its new one", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			for i, ch := range c.Changes {
				old, ok := p.boxes[ch.ItemID][ch.Rev-1]
				if ok && ch.Rev > 1 && lastRevInPage(c, i) {
					c.Changes[i].Rev, c.Changes[i].Box = ch.Rev-1, bytes.Clone(old)
					return true
				}
			}
			return false
		})},
	"drop": {doc: "withholds the newest change", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			if len(c.Changes) == 0 {
				return false
			}
			c.Changes = c.Changes[:len(c.Changes)-1]
			return true
		})},
	"duplicate": {doc: "sends the newest change twice", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			if len(c.Changes) == 0 {
				return false
			}
			d := c.Changes[len(c.Changes)-1]
			c.Head++
			d.Seq = c.Head
			c.Changes = append(c.Changes, d)
			return true
		})},
	"reorder": {doc: "sends the changes of a page in reverse order", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			if len(c.Changes) < 2 {
				return false
			}
			slices.Reverse(c.Changes)
			return true
		})},
	"relabel": {doc: "swaps the boxes of two revisions of one item, keeping their revision numbers", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			for i := range c.Changes {
				for j := i + 1; j < len(c.Changes); j++ {
					if c.Changes[i].ItemID == c.Changes[j].ItemID && c.Changes[i].Rev != c.Changes[j].Rev {
						c.Changes[i].Box, c.Changes[j].Box = c.Changes[j].Box, c.Changes[i].Box
						return true
					}
				}
			}
			return false
		})},
	"inject": {doc: "adds an item of its own making", paths: []string{pathChanges},
		rewrite: feed(func(p *Proxy, c *api.ChangesResponse) bool {
			box := make([]byte, 200)
			copy(box, "KHIT\x01")
			rand.Read(box[5:])
			c.Head++
			c.Changes = append(c.Changes, api.Change{ItemID: uuid.Must(uuid.NewV7()).String(), Seq: c.Head, Rev: 1, Box: box})
			return true
		})},
	"truncate": {doc: "cuts the change feed's answer in half", paths: []string{pathChanges},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			if x.status != http.StatusOK || len(x.resp) < 2 {
				return false
			}
			x.resp = x.resp[:len(x.resp)/2]
			return true
		}},
	"cursor-back": {doc: "answers with a head below the cursor the device asked from", paths: []string{pathChanges},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			since, _ := strconv.ParseUint(x.req.URL.Query().Get("since"), 10, 64)
			var c api.ChangesResponse
			if since == 0 || x.status != http.StatusOK || json.Unmarshal(x.resp, &c) != nil {
				return false
			}
			c.Head, c.Changes, c.More, c.Manifest, c.ManifestSeq = since-1, []api.Change{}, false, nil, 0
			return setJSON(x, &c)
		}},
	"rollback": {doc: "serves the state recorded by Snapshot: the whole database put back", paths: []string{pathChanges, pathKeys},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			s := p.snapshot
			if s == nil || x.status != http.StatusOK {
				return false
			}
			if x.req.URL.Path == pathKeys {
				return setJSON(x, &s.keys)
			}
			since, _ := strconv.ParseUint(x.req.URL.Query().Get("since"), 10, 64)
			out := s.changes
			out.Changes = nil
			for _, ch := range s.changes.Changes {
				if ch.Seq > since {
					out.Changes = append(out.Changes, ch)
				}
			}
			return setJSON(x, &out)
		}},

	// --- the answer to a push ---
	"push-forge": {doc: "claims the pushed items were stored at another revision", paths: []string{pathPush},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			var r api.PushResponse
			if x.status != http.StatusOK || json.Unmarshal(x.resp, &r) != nil || len(r.Accepted) == 0 {
				return false
			}
			r.Accepted[0].Rev++
			return setJSON(x, &r)
		}},
	"push-lost": {doc: "refuses a pushed item, claiming the server holds an older revision than the device's base", paths: []string{pathPush},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			var req api.PushRequest
			var r api.PushResponse
			if x.status != http.StatusOK || json.Unmarshal(x.body, &req) != nil || json.Unmarshal(x.resp, &r) != nil {
				return false
			}
			for _, it := range req.Items {
				if it.BaseRev > 0 {
					r.Accepted = slices.DeleteFunc(r.Accepted, func(a api.Accepted) bool { return a.ItemID == it.ItemID })
					r.Rejected = append(r.Rejected, api.Rejected{ItemID: it.ItemID, CurrentRev: it.BaseRev - 1})
					return setJSON(x, &r)
				}
			}
			return false
		}},
	"push-swallow": {doc: "answers a push as stored without passing it on: the server never holds what the device pushed", paths: []string{pathPush},
		serve: func(w http.ResponseWriter, r *http.Request, _ []string) {
			var req api.PushRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			resp := api.PushResponse{Head: req.Cursor, Accepted: []api.Accepted{}, Rejected: []api.Rejected{}, ManifestStored: req.Manifest != nil}
			for _, it := range req.Items {
				resp.Head += uint64(len(it.Revs))
				if n := len(it.Revs); n > 0 {
					resp.Accepted = append(resp.Accepted, api.Accepted{ItemID: it.ItemID, Rev: it.Revs[n-1].Rev, Seq: resp.Head})
				}
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(&resp)
		}},

	// --- login parameters (the envelope header a new device derives from) ---
	"params-kdf-downgrade": {doc: "lowers the key derivation cost to the minimum", paths: []string{pathParams},
		rewrite: params(func(h []byte) {
			binary.BigEndian.PutUint32(h[envAt(h, envTime):], 1)
			binary.BigEndian.PutUint32(h[envAt(h, envMemory):], 1024)
			h[envAt(h, envThreads)] = 1
		})},
	"params-kdf-absurd": {doc: "asks for 4 TiB of memory and 2^32-1 passes", paths: []string{pathParams},
		rewrite: params(func(h []byte) {
			binary.BigEndian.PutUint32(h[envAt(h, envTime):], 1<<32-1)
			binary.BigEndian.PutUint32(h[envAt(h, envMemory):], 1<<32-1)
		})},
	"params-salt": {doc: "changes the salt", paths: []string{pathParams},
		rewrite: params(func(h []byte) { h[envAt(h, envSalt)] ^= 0x01 })},
	"params-algorithm": {doc: "names another key derivation function", paths: []string{pathParams},
		rewrite: params(func(h []byte) { h[envAt(h, envKDFID)] = 2 })},

	// --- envelopes and key checks ---
	"envelope-null": {doc: "sends no envelope", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool { k.Envelope = nil; return true })},
	"envelope-flip": {doc: "flips a byte of the envelope's sealed box", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			if len(k.Envelope) < 100 {
				return false
			}
			k.Envelope[len(k.Envelope)-20] ^= 0x40
			return true
		})},
	"envelope-foreign": {doc: "serves another account's envelope (one seen earlier through the proxy)", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			f := p.foreign(k)
			if f == nil {
				return false
			}
			k.Envelope = bytes.Clone(f.Envelope)
			return true
		})},
	"envelope-kdf-downgrade": {doc: "lowers the envelope's key derivation cost to the minimum", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			if len(k.Envelope) < api.EnvelopeHeaderSize {
				return false
			}
			binary.BigEndian.PutUint32(k.Envelope[envAt(k.Envelope, envTime):], 1)
			binary.BigEndian.PutUint32(k.Envelope[envAt(k.Envelope, envMemory):], 1024)
			return true
		})},
	"envelope-kdf-absurd": {doc: "asks for 4 TiB of memory in the envelope", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			if len(k.Envelope) < api.EnvelopeHeaderSize {
				return false
			}
			binary.BigEndian.PutUint32(k.Envelope[envAt(k.Envelope, envMemory):], 1<<32-1)
			return true
		})},
	"envelope-epoch": {doc: "sets the envelope's password epoch to N (a forged change: the box no longer opens)", paths: []string{pathKeys}, args: 1,
		rewrite: func(p *Proxy, x *exchange, args []string) bool {
			n, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return false
			}
			return keysRewrite(func(p *Proxy, k *api.Keys) bool {
				if api.EnvelopeHeaderLen(k.Envelope) != api.EnvelopeHeaderSize || len(k.Envelope) < api.EnvelopeHeaderSize {
					return false
				}
				binary.BigEndian.PutUint32(k.Envelope[envEpoch:], uint32(n))
				return true
			})(p, x, args)
		}},
	"keycheck-null": {doc: "sends no key check", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool { k.KeyCheck = nil; return true })},
	"keycheck-flip": {doc: "flips a byte of the key check's sealed box", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			if len(k.KeyCheck) < 40 {
				return false
			}
			k.KeyCheck[len(k.KeyCheck)-20] ^= 0x40
			return true
		})},
	"keycheck-foreign": {doc: "serves another account's key check", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			f := p.foreign(k)
			if f == nil {
				return false
			}
			k.KeyCheck = bytes.Clone(f.KeyCheck)
			return true
		})},
	"keys-old": {doc: "serves the first keys answer of this account the proxy saw: the envelope from before a password change or rotation", paths: []string{pathKeys},
		rewrite: keysRewrite(func(p *Proxy, k *api.Keys) bool {
			for _, old := range p.keys {
				if sameAccount(old.Envelope, k.Envelope) {
					if bytes.Equal(old.Envelope, k.Envelope) {
						return false
					}
					*k = old
					return true
				}
			}
			return false
		})},

	// --- what the server says about the account ---
	"plan": {doc: "rewrites the plan: premium, no device limit, paid for a century", paths: []string{pathAccount},
		rewrite: jsonRewrite(func(m map[string]any) bool {
			m["plan"] = map[string]any{"name": "premium", "effective": "premium", "paid_until": "2126-01-01", "payment_date": "2026-01-01"}
			return true
		})},
	"sync-settings": {doc: "points the account's sync settings at another server and a folder", paths: []string{pathAccount, pathSyncSet},
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			evil := map[string]any{"method": "folder", "settings": map[string]any{"url": "https://evil.example", "path": "/tmp/evil"}}
			if x.req.URL.Path == pathSyncSet {
				b, _ := json.Marshal(evil)
				x.status, x.resp = http.StatusOK, b
				return true
			}
			return jsonRewrite(func(m map[string]any) bool { m["sync_settings"] = evil; return true })(p, x, nil)
		}},
	"escapes": {doc: "adds terminal escape sequences to every string a server sends for display",
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			switch x.req.URL.Path {
			case pathAccount, pathDevices, pathLog, pathSyncSet, pathTicket:
			default:
				if x.status < 400 {
					return false
				}
			}
			var v any
			if json.Unmarshal(x.resp, &v) != nil {
				return false
			}
			if !escapeStrings(v, "") {
				return false
			}
			b, _ := json.Marshal(v)
			x.resp = b
			return true
		}},
	"error": {doc: "answers every request with an error whose message holds escape sequences",
		rewrite: func(p *Proxy, x *exchange, _ []string) bool {
			b, _ := json.Marshal(api.Error{Error: api.ErrorBody{Code: api.CodeBadRequest, Message: "refused" + Escape}})
			x.status, x.resp = http.StatusBadRequest, b
			x.header.Set("Content-Type", "application/json")
			return true
		}},

	"ticket-mailer": {doc: "names another mailer (URL) in the mail ticket's answer", paths: []string{pathTicket}, args: 1,
		rewrite: func(p *Proxy, x *exchange, args []string) bool {
			return jsonRewrite(func(m map[string]any) bool { m["mailer_url"] = args[0]; return true })(p, x, nil)
		}},
	"endless-feed": {doc: "claims a head of 2^40 and sends pages of junk items, each with more to come, without end", paths: []string{pathChanges},
		serve: func(w http.ResponseWriter, r *http.Request, _ []string) {
			since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
			box := make([]byte, 64<<10)
			copy(box, "KHIT\x01")
			rand.Read(box[5:])
			page := api.ChangesResponse{Head: 1 << 40, More: true, KeyVersion: 1, Changes: make([]api.Change, 0, 500)}
			for i := range uint64(500) {
				page.Changes = append(page.Changes, api.Change{ItemID: uuid.Must(uuid.NewV7()).String(), Seq: since + 1 + i, Rev: 1, Box: box})
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(&page)
		}},

	// --- answers without end, or far too large ---
	"endless": {doc: "answers PATH with a JSON string that never ends", args: 1, pathArg: true,
		serve: func(w http.ResponseWriter, r *http.Request, args []string) {
			if r.URL.Path != args[0] {
				http.Error(w, "not attacked", http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			junk := []byte(strings.Repeat("A", 64<<10))
			w.Write([]byte(`{"changes":[],"header":"`))
			// Stop at 4 GiB: long after any bounded client gave up, and an
			// unbounded one has long been seen to grow.
			for n := 0; n < 1<<16; n++ {
				if _, err := w.Write(junk); err != nil {
					return
				}
			}
		}},
	"oversized": {doc: "answers PATH with a well-formed JSON answer holding MiB mebibytes of base64", args: 2, pathArg: true,
		serve: func(w http.ResponseWriter, r *http.Request, args []string) {
			mib, err := strconv.Atoi(args[1])
			if r.URL.Path != args[0] || err != nil {
				http.Error(w, "not attacked", http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("QUFB", 16<<10))
			if r.URL.Path == pathChanges {
				fmt.Fprintf(w, `{"head":1,"more":false,"key_version":1,"changes":[{"item_id":%q,"seq":1,"rev":1,"box":"`, uuid.Must(uuid.NewV7()).String())
			} else {
				w.Write([]byte(`{"envelope":"AAAA","keycheck":"AAAA","key_version":1,"header":"`))
			}
			for n := 0; n < mib*16; n++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			if r.URL.Path == pathChanges {
				w.Write([]byte(`"}]}`))
			} else {
				w.Write([]byte(`"}`))
			}
		}},
}

// feed wraps a rewrite of a change feed page.
func feed(f func(p *Proxy, c *api.ChangesResponse) bool) func(*Proxy, *exchange, []string) bool {
	return func(p *Proxy, x *exchange, _ []string) bool {
		if x.status != http.StatusOK {
			return false
		}
		var c api.ChangesResponse
		if json.Unmarshal(x.resp, &c) != nil || !f(p, &c) {
			return false
		}
		return setJSON(x, &c)
	}
}

// twoItems finds two changes of different items.
func twoItems(c *api.ChangesResponse) (int, int, bool) {
	for i := range c.Changes {
		for j := i + 1; j < len(c.Changes); j++ {
			if c.Changes[i].ItemID != c.Changes[j].ItemID && c.Changes[i].Box != nil && c.Changes[j].Box != nil {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// lastRevInPage says whether change i is its item's newest in the page.
func lastRevInPage(c *api.ChangesResponse, i int) bool {
	for j := range c.Changes {
		if c.Changes[j].ItemID == c.Changes[i].ItemID && c.Changes[j].Rev > c.Changes[i].Rev {
			return false
		}
	}
	return true
}

func params(f func(h []byte)) func(*Proxy, *exchange, []string) bool {
	return func(p *Proxy, x *exchange, _ []string) bool {
		var r api.LoginParamsResponse
		if x.status != http.StatusOK || json.Unmarshal(x.resp, &r) != nil || len(r.Header) != api.EnvelopeHeaderSize {
			return false
		}
		f(r.Header)
		return setJSON(x, &r)
	}
}

func keysRewrite(f func(p *Proxy, k *api.Keys) bool) func(*Proxy, *exchange, []string) bool {
	return func(p *Proxy, x *exchange, _ []string) bool {
		var k api.Keys
		if x.status != http.StatusOK || json.Unmarshal(x.resp, &k) != nil || !f(p, &k) {
			return false
		}
		return setJSON(x, &k)
	}
}

func jsonRewrite(f func(m map[string]any) bool) func(*Proxy, *exchange, []string) bool {
	return func(p *Proxy, x *exchange, _ []string) bool {
		var m map[string]any
		if x.status != http.StatusOK || json.Unmarshal(x.resp, &m) != nil || !f(m) {
			return false
		}
		return setJSON(x, m)
	}
}

func setJSON(x *exchange, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	x.resp = b
	return true
}

// sameAccount compares the account ids of two envelopes.
func sameAccount(a, b []byte) bool {
	return len(a) >= envAccount+16 && len(b) >= envAccount+16 && bytes.Equal(a[envAccount:envAccount+16], b[envAccount:envAccount+16])
}

// foreign returns a keys answer of another account than k's.
func (p *Proxy) foreign(k *api.Keys) *api.Keys {
	for i := range p.keys {
		if !sameAccount(p.keys[i].Envelope, k.Envelope) {
			return &p.keys[i]
		}
	}
	return nil
}

// displayed are the members whose strings a device shows a user.
var displayed = map[string]bool{"name": true, "effective": true, "label": true, "trial_ends": true, "paid_until": true,
	"payment_date": true, "email": true, "platform": true, "kind": true, "detail": true, "source": true, "message": true,
	"mailer_url": true, "method": true, "url": true, "path": true}

// escapeStrings appends Escape to every displayed string in v.
func escapeStrings(v any, key string) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if s, ok := e.(string); ok && displayed[k] {
				t[k] = s + Escape
				changed = true
				continue
			}
			changed = escapeStrings(e, k) || changed
		}
	case []any:
		for _, e := range t {
			changed = escapeStrings(e, key) || changed
		}
	}
	return changed
}
