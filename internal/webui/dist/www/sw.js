// Keyhold web vault: service worker.
//
// It caches the app's static files only, so that a remembered browser
// opens (and unlocks from IndexedDB) offline. It never touches /v1/ (the
// API: its requests go to the network untouched, never into a cache), and
// it never sees vault data: the page does not post any to it.
'use strict';

const CACHE = 'keyhold-static-2';

function isAPI(url) { return url.pathname === '/v1' || url.pathname.startsWith('/v1/'); }

// isStatic: the app shell (the page itself, network first) and the
// hashed assets under /a/ (cache first: a name there changes with its
// bytes). Nothing else is cached: a file at another path could change
// under the same name, and a cached copy would be kept forever.
function isStatic(url) {
  if (url.origin !== self.location.origin || isAPI(url)) return false;
  return url.pathname === '/' || /^\/a\/[A-Za-z0-9._-]+$/.test(url.pathname);
}

function cacheable(resp) { return resp && resp.ok && resp.type === 'basic'; }

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.add('/')).catch(() => undefined).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (!isStatic(url)) return;
  if (req.mode === 'navigate' || url.pathname === '/') {
    // The page: network first (it names the current assets), the cached
    // copy when offline.
    ev.respondWith((async () => {
      try {
        const resp = await fetch(req);
        if (cacheable(resp) && url.search === '') {
          const c = await caches.open(CACHE);
          await c.put('/', resp.clone());
        }
        return resp;
      } catch (err) {
        const hit = await caches.match('/');
        if (hit) return hit;
        throw err;
      }
    })());
    return;
  }
  // Hashed assets never change: cache first.
  ev.respondWith((async () => {
    const hit = await caches.match(req);
    if (hit) return hit;
    const resp = await fetch(req);
    if (cacheable(resp)) {
      const c = await caches.open(CACHE);
      await c.put(req, resp.clone());
    }
    return resp;
  })());
});

// The page posts the paths of the assets it uses; those are fetched now
// (so the next visit works offline) and older hashed files are dropped.
self.addEventListener('message', (ev) => {
  const d = ev.data || {};
  if (d.type !== 'precache' || !Array.isArray(d.paths)) return;
  const paths = d.paths.filter((p) => typeof p === 'string' && isStatic(new URL(p, self.location.origin)));
  ev.waitUntil((async () => {
    const c = await caches.open(CACHE);
    for (const p of paths) {
      if (await c.match(p)) continue;
      try {
        const resp = await fetch(p);
        if (cacheable(resp)) await c.put(p, resp);
      } catch { /* offline now: it is cached on its next use */ }
    }
    const keep = new Set(paths.map((p) => new URL(p, self.location.origin).pathname));
    for (const r of await c.keys()) {
      const u = new URL(r.url);
      if (u.pathname.startsWith('/a/') && !keep.has(u.pathname)) await c.delete(r);
    }
  })());
});
