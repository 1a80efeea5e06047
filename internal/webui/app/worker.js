// Keyhold web vault: one Argon2id derivation.
//
// The page starts a fresh worker for each derivation and terminates it
// afterwards, so that the memory Argon2 used is returned to the system.
// Only the Argon2id step runs here; the rest of the key schedule
// (normalisation, HKDF with the Secret Key) stays in the page's Go code.
//
// The Argon2id core is hash-wasm's (vendor/hash-wasm/argon2.umd.min.js,
// npm hash-wasm 4.13.0, unmodified; about 1.3x faster than Go's in
// WebAssembly, the same bytes: internal/browsertest checks them against
// the key derivation vectors). Only when that file cannot be loaded does
// the worker run the same keyhold.wasm as the page with
// go.argv = ["keyhold-web", "worker"], whose Go exposes
// globalThis.keyholdWorker.argon2id (golang.org/x/crypto/argon2).
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

// loadScript checks a script against its integrity value (importScripts
// has no integrity option) and then loads the same immutable URL.
async function loadScript(a) {
  if (a.integrity) {
    const r = await fetch(a.path, { integrity: a.integrity });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    await r.arrayBuffer();
  }
  importScripts(a.path);
}

// hashWasm loads hash-wasm's Argon2 (its UMD build sets self.hashwasm;
// it instantiates its WebAssembly from bytes, which the page's
// 'wasm-unsafe-eval' allows); null when it cannot be loaded.
async function hashWasm(a) {
  if (!a) return null;
  try {
    if (!self.hashwasm) await loadScript(a);
    return (self.hashwasm && typeof self.hashwasm.argon2id === 'function') ? self.hashwasm : null;
  } catch (_) {
    return null;
  }
}

// goArgon2 is the fallback: Go's Argon2id in keyhold.wasm.
async function goArgon2(m) {
  if (!self.Go) await loadScript(m.assets['wasm_exec.js']);
  const go = new self.Go();
  go.argv = ['keyhold-web', 'worker'];
  go.run(await instance(m, go));
  return waitFor(() => self.keyholdWorker, 30000);
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
    let key;
    const hw = await hashWasm(m.assets['argon2.umd.min.js']);
    if (hw) {
      // The parameters and output of golang.org/x/crypto/argon2.IDKey:
      // version 0x13, no secret or data, 32 raw bytes.
      key = await hw.argon2id({
        password, salt: m.salt, iterations: m.time, memorySize: m.memoryKiB, parallelism: m.threads,
        hashLength: 32, outputType: 'binary',
      });
    } else {
      const api = await goArgon2(m);
      key = await api.argon2id({ password, salt: m.salt, time: m.time, memoryKiB: m.memoryKiB, threads: m.threads });
    }
    password.fill(0);
    const out = new Uint8Array(key);
    if (key instanceof Uint8Array && key !== out) key.fill(0);
    self.postMessage({ key: out }, [out.buffer]);
  } catch (err) {
    password.fill(0);
    self.postMessage({ error: { code: (err && err.code) || 'internal', message: (err && err.message) || 'The key could not be derived.' } });
  }
};
