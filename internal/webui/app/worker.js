// Keyhold web vault: one Argon2id derivation.
//
// The page starts a fresh worker for each derivation and terminates it
// afterwards, so that the memory Argon2 used is returned to the system.
// The worker runs the same keyhold.wasm as the page with
// go.argv = ["keyhold-web", "worker"]; Go then exposes
// globalThis.keyholdWorker.argon2id instead of the vault. Only the
// Argon2id step runs here; the rest of the key schedule stays in the
// page's Go code.
'use strict';

function waitFor(get, ms) {
  return new Promise((resolve, reject) => {
    const until = Date.now() + ms;
    const poll = () => {
      const v = get();
      if (v) { resolve(v); return; }
      if (Date.now() > until) { reject(new Error('The key derivation code did not start.')); return; }
      setTimeout(poll, 5);
    };
    poll();
  });
}

// loadGo checks wasm_exec.js against its integrity value (importScripts
// has no integrity option) and then loads the same immutable URL.
async function loadGo(a) {
  if (a.integrity) {
    const r = await fetch(a.path, { integrity: a.integrity });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    await r.arrayBuffer();
  }
  importScripts(a.path);
}

async function instance(m, go) {
  if (m.module instanceof WebAssembly.Module) return WebAssembly.instantiate(m.module, go.importObject);
  const a = m.assets['keyhold.wasm'];
  const resp = await fetch(a.path, a.integrity ? { integrity: a.integrity } : {});
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const { instance: inst } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
  return inst;
}

self.onmessage = async (ev) => {
  const m = ev.data || {};
  const password = m.password instanceof Uint8Array ? m.password : new Uint8Array(0);
  try {
    if (!self.Go) await loadGo(m.assets['wasm_exec.js']);
    const go = new self.Go();
    go.argv = ['keyhold-web', 'worker'];
    go.run(await instance(m, go));
    const api = await waitFor(() => self.keyholdWorker, 30000);
    const key = await api.argon2id({ password, salt: m.salt, time: m.time, memoryKiB: m.memoryKiB, threads: m.threads });
    password.fill(0);
    const out = new Uint8Array(key);
    if (key instanceof Uint8Array && key !== out) key.fill(0);
    self.postMessage({ key: out }, [out.buffer]);
  } catch (err) {
    password.fill(0);
    self.postMessage({ error: { code: (err && err.code) || 'internal', message: (err && err.message) || 'The key could not be derived.' } });
  }
};
