// Drives the web vault's WebAssembly modules through the page's contract
// (docs/WEB.md) under Node, against a real keyhold-server: run by
// TestContractUnderNode with the module directory, the server's URL, the
// setup code and the password. It prints "ok" and exits 0 when every
// step did what the contract says; otherwise it prints what failed.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [dir, server, code, password] = process.argv.slice(2);
const require = createRequire(import.meta.url);
require(path.join(dir, 'wasm_exec.js'));
// Go's net/http uses fetch under js/wasm, except under Node, where it
// expects a fake network; this page-like host wants the real one.
const realProcess = process;
globalThis.process = Object.create(realProcess, { argv0: { value: 'keyhold-page' } });

const stored = new Map();
const events = [];
let readyResolve; const ready = new Promise(r => { readyResolve = r; });
let kitResolve; let kitPromise = null; let argonCalls = 0;

async function runModule(file, argv) {
  const go = new Go();
  go.argv = argv;
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(path.join(dir, file)), go.importObject);
  go.run(instance);
}

globalThis.keyholdHost = {
  ready() { readyResolve(); },
  kitReady() { kitResolve(globalThis.keyholdKit); },
  kit() {
    if (!kitPromise) {
      kitPromise = new Promise(r => { kitResolve = r; });
      runModule('keyhold-web-kit.wasm', ['keyhold-web-kit']);
    }
    return kitPromise;
  },
  async argon2id(req) {
    argonCalls++;
    // The page runs a fresh Worker; here a second instance in worker mode.
    if (!globalThis.keyholdWorker) {
      runModule('keyhold-web.wasm', ['keyhold-web', 'worker']);
      while (!globalThis.keyholdWorker) await new Promise(r => setTimeout(r, 5));
    }
    return globalThis.keyholdWorker.argon2id(req);
  },
  store: {
    async get(n) { return stored.has(n) ? stored.get(n) : null; },
    async put(n, b) { stored.set(n, new Uint8Array(b)); },
    async delete(n) { stored.delete(n); },
    async clear() { stored.clear(); },
  },
  event(name, detail) { events.push([name, detail]); },
};

function check(cond, what, got) {
  if (!cond) {
    console.log('FAIL ' + what + ': ' + JSON.stringify(got));
    realProcess.exit(1);
  }
}

async function rejects(p, code, what) {
  try { await p; } catch (e) { check(e instanceof Error && e.code === code, what, { code: e.code, message: e.message }); return; }
  check(false, what + ' did not fail', null);
}

await runModule('keyhold-web.wasm', ['keyhold-web']);
await ready;
const k = globalThis.keyhold;
try {
  check((await k.start({ assets: { manifest: 'm1' }, origin: server })).state === 'signed-out', 'start', null);
  check((await k.version()).manifest === 'm1', 'version', await k.version());
  await rejects(k.readKit({ code: 'KH1-AAAAA' }), 'bad-kit', 'a truncated code');
  await rejects(k.list({ query: '' }), 'locked', 'list while signed out');
  const info = await k.readKit({ code });
  check(info.server === server && /^[0-9a-f-]{36}$/.test(info.accountId), 'readKit', info);
  // The account's key derivation, from the server's login parameters,
  // for the page's warning before deriving.
  check(info.kdf && info.kdf.memoryKiB === 1024 && info.kdf.time === 1 && info.kdf.heavy === false, 'readKit kdf', info);
  await rejects(k.signIn({ password: 'not the password', remember: true, deviceName: 'node' }), 'wrong-password', 'a wrong password');
  check(stored.size === 0, 'nothing stored after a wrong password', [...stored.keys()]);
  await k.readKit({ code });
  const res = await k.signIn({ password, remember: true, deviceName: 'node' });
  check(res.items === 1, 'signIn', res);
  check(stored.has('device') && stored.has('vault'), 'stored after sign-in', [...stored.keys()]);
  // Live: the test adds an item on the CLI device once told; the event
  // stream (a streaming fetch with the session's Authorization header)
  // wakes the sync loop, and the page hears "changed".
  console.log('READY');
  await new Promise(r => realProcess.stdin.once('data', r));
  const deadline = Date.now() + 15000;
  while (!events.some(e => e[0] === 'changed' && e[1].added >= 1) && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 20));
  }
  check(events.some(e => e[0] === 'changed' && e[1].added >= 1), 'a live "changed" event', events);
  check((await k.list({ query: 'live from the cli' })).length === 1, 'the live item listed', null);
  const st = await k.status();
  check(st.state === 'unlocked' && st.remembered && st.deviceName === 'node' && st.kdf && st.kdf.heavy === false, 'status', st);
  const rows = await k.list({ query: 'mail' });
  check(rows.length === 1 && rows[0].title === 'mail' && rows[0].subtitle === 'alice', 'list', rows);
  const it = await k.get({ id: rows[0].id });
  check(it.rev === 1 && Array.isArray(it.attachments) && it.fields.some(f => f.name === 'password'), 'get', it);
  check((await k.field({ id: it.id, name: 'password' })).value === 'first password', 'field', null);
  it.fields = it.fields.map(f => f.name === 'password' ? { ...f, value: 'second password' } : f);
  const saved = await k.save({ id: it.id, rev: it.rev, item: it });
  check(saved.rev === 2, 'save (edit)', saved);
  const added = await k.save({ item: { type: 'note', title: 'from node', notes: 'hello' } });
  check(added.rev === 1, 'save (add)', added);
  const hist = await k.history({ id: it.id });
  check(hist.length === 1 && hist[0].item.fields.some(f => f.value === 'first password'), 'history', hist);
  await k.trash({ id: added.id });
  check((await k.list({ query: '', trash: true })).length === 1, 'trash view', null);
  await k.restore({ id: added.id });
  await k.attach({ id: added.id, name: 'a.txt', data: new Uint8Array([1, 2, 3]) });
  const att = await k.attachment({ id: added.id, name: 'a.txt' });
  check(att instanceof Uint8Array && att.length === 3, 'attachment', att);
  check((await k.types()).length === 5, 'types', null);
  // The second module, loaded on demand.
  const g = await k.generate({ kind: 'passphrase', words: 5 });
  check(g.value.split('-').length === 5 && typeof g.strength.score === 'number', 'generate', g);
  check((await k.strength({ value: 'password1' })).score <= 1, 'strength', null);
  const pdf = await k.kitPDF();
  check(pdf instanceof Uint8Array && pdf.length > 1000, 'kitPDF', pdf.length);
  const fromPDF = await k.readKit({ file: pdf });
  check(fromPDF.accountId === info.accountId, 'readKit of the PDF', fromPDF);
  await k.forgetKit();
  check(await k.readQRFrame({ gray: new Uint8Array(64 * 48), width: 64, height: 48 }) === null, 'readQRFrame of nothing', null);
  const health = await k.health();
  check(health.checked === 1 && Array.isArray(health.reused), 'health', health);
  const acct = await k.account();
  check(acct.devices.length === 2 && acct.devices.some(d => d.current), 'account', acct);
  check((await k.audit()).length > 0, 'audit', null);
  const rep = await k.syncNow();
  check(rep.verified === true, 'syncNow', rep);
  await k.lock();
  await rejects(k.list({ query: '' }), 'locked', 'list while locked');
  const before = argonCalls;
  const un = await k.unlock({ password });
  check(un.items === 3 && argonCalls === before + 1, 'unlock (derived in the worker)', { un, argonCalls });
  check(events.some(e => e[0] === 'sync' && e[1].state === 'online'), 'sync events', events);
  await k.signOut();
  check(stored.size === 0 && (await k.status()).state === 'signed-out', 'signOut', [...stored.keys()]);
  console.log('ok');
  realProcess.exit(0);
} catch (e) {
  console.log('FAIL ' + e.code + ' ' + e.message + '\n' + e.stack);
  realProcess.exit(1);
}
