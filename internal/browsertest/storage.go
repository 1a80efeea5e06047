//go:build unix

package browsertest

import (
	"fmt"

	"github.com/chromedp/cdproto/indexeddb"
	"github.com/chromedp/chromedp"
)

// IndexedDBRecord is one record the page keeps in IndexedDB.
type IndexedDBRecord struct {
	Database, Store string
	Key             string // as DevTools describes it
	Class           string // the value's class: Object, Uint8Array, CryptoKey, …
}

// IndexedDB lists every record every IndexedDB database of origin holds,
// read through DevTools (the page's own code plays no part).
func (p *Page) IndexedDB(origin string) []IndexedDBRecord {
	p.t.Helper()
	names, err := chromedp.Call(p.Ctx, indexeddb.RequestDatabaseNames, indexeddb.RequestDatabaseNamesParams{StorageKey: origin + "/"})
	if err != nil {
		p.t.Fatalf("listing IndexedDB databases of %s: %v", origin, err)
	}
	var out []IndexedDBRecord
	for _, db := range names.DatabaseNames {
		d, err := chromedp.Call(p.Ctx, indexeddb.RequestDatabase, indexeddb.RequestDatabaseParams{StorageKey: origin + "/", DatabaseName: db})
		if err != nil {
			p.t.Fatalf("reading IndexedDB database %s: %v", db, err)
		}
		if d.DatabaseWithObjectStores == nil {
			continue
		}
		for _, st := range d.DatabaseWithObjectStores.ObjectStores {
			for skip := int64(0); ; {
				res, err := chromedp.Call(p.Ctx, indexeddb.RequestData, indexeddb.RequestDataParams{
					StorageKey: origin + "/", DatabaseName: db, ObjectStoreName: st.Name, SkipCount: skip, PageSize: 100,
				})
				if err != nil {
					p.t.Fatalf("reading IndexedDB store %s/%s: %v", db, st.Name, err)
				}
				for _, e := range res.ObjectStoreDataEntries {
					r := IndexedDBRecord{Database: db, Store: st.Name}
					if e.Key != nil {
						r.Key = e.Key.Description
						if r.Key == "" {
							r.Key = string(e.Key.Value)
						}
					}
					if e.Value != nil {
						r.Class = e.Value.ClassName
						if r.Class == "" {
							r.Class = string(e.Value.Type)
						}
					}
					out = append(out, r)
				}
				skip += int64(len(res.ObjectStoreDataEntries))
				if !res.HasMore || len(res.ObjectStoreDataEntries) == 0 {
					break
				}
			}
		}
	}
	return out
}

// StoredData is IndexedDB without the records that hold only a WebCrypto
// key (a non-extractable CryptoKey reveals nothing and may be made before
// the user chooses to be remembered): what the page stored of the account.
func (p *Page) StoredData(origin string) []IndexedDBRecord {
	p.t.Helper()
	var out []IndexedDBRecord
	for _, r := range p.IndexedDB(origin) {
		if r.Class != "CryptoKey" {
			out = append(out, r)
		}
	}
	return out
}

func (r IndexedDBRecord) String() string {
	return fmt.Sprintf("%s/%s[%s] (%s)", r.Database, r.Store, r.Key, r.Class)
}
