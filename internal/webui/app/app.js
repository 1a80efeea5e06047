// Keyhold web vault: the page.
//
// This script renders, collects input and calls globalThis.keyhold, the
// Go core compiled to WebAssembly. It never parses a vault format, derives
// or seals anything, or applies a rule of the vault: every one of those is
// done once, in Go. What lives here is what a page must do itself: the
// host services Go asks for (an Argon2id worker, an encrypted IndexedDB
// store, events), the screens, the clipboard, and locking.
//
// Content-Security-Policy rules this file keeps: no inline script or
// style, no element.style, no innerHTML with data (textContent only), no
// eval or string timers, no request to another origin. Decrypted data
// never goes to localStorage, sessionStorage, the URL, the console or the
// service worker.
'use strict';

// ---------------------------------------------------------------------
// Small DOM helpers

const $ = (id) => document.getElementById(id);

// el builds an element. props: class, text, attrs (set with setAttribute),
// on (event handlers), and plain properties (type, value, hidden, …).
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'attrs') for (const [a, av] of Object.entries(v)) { if (av !== undefined && av !== null && av !== false) e.setAttribute(a, av === true ? '' : String(av)); }
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
      else e[k] = v;
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function show(node, on) { node.hidden = !on; }

let idSeq = 0;
function newId(prefix) { idSeq += 1; return `${prefix}-${idSeq}`; }

// ---------------------------------------------------------------------
// Messages: one polite status region, one alert region.

// Messages stay on screen for a while (they were read out already) and
// are then removed, so that they do not cover the page.
const messageTimers = { status: 0, alert: 0 };

function setMessage(id, text, ms) {
  const node = $(id);
  clearTimeout(messageTimers[id]);
  node.textContent = '';
  if (!text) return;
  // Setting the text in a later frame makes screen readers read the same
  // message again when it repeats.
  requestAnimationFrame(() => { node.textContent = text; placeMessages(); });
  messageTimers[id] = setTimeout(() => { node.textContent = ''; }, ms);
}

// placeMessages keeps a message from covering the control that has the
// focus: a message over it moves to the top of the window.
function placeMessages() {
  const f = document.activeElement;
  for (const id of ['status', 'alert']) {
    const n = $(id);
    n.classList.remove('top');
    if (!n.textContent || !f || f === document.body) continue;
    const a = n.getBoundingClientRect();
    const b = f.getBoundingClientRect();
    if (a.top < b.bottom && b.top < a.bottom) n.classList.add('top');
  }
}

function announce(text) { setMessage('status', text, 12000); }

function showAlert(text) { setMessage('alert', text, 30000); }

function clearAlert() { setMessage('alert', '', 0); }

function errorText(err) {
  if (err && typeof err.message === 'string' && err.message) return err.message;
  return 'Something went wrong. Try again.';
}

function errorCode(err) { return err && typeof err.code === 'string' ? err.code : ''; }

// ---------------------------------------------------------------------
// Assets: the generator writes a table of hashed paths and integrity
// values into the page; during development it is empty and plain names
// are used.

function readAssets() {
  const m = document.querySelector('meta[name="keyhold-assets"]');
  try { return JSON.parse((m && m.content) || '{}') || {}; } catch { return {}; }
}

const assets = readAssets();

function asset(name) {
  const a = assets[name];
  if (a && typeof a === 'object' && typeof a.path === 'string') return a;
  return { path: name, integrity: '' };
}

function fetchAsset(name) {
  const a = asset(name);
  return fetch(a.path, a.integrity ? { integrity: a.integrity } : {});
}

function loadScript(name) {
  return new Promise((resolve, reject) => {
    const a = asset(name);
    const s = document.createElement('script');
    s.src = a.path;
    if (a.integrity) s.integrity = a.integrity;
    s.addEventListener('load', resolve);
    s.addEventListener('error', () => reject(new Error(`The page could not load ${name}. Reload to try again.`)));
    document.head.append(s);
  });
}

// compileWasm fetches keyhold.wasm (integrity checked) and compiles it once;
// the Argon2 workers receive the compiled module instead of fetching again.
async function compileWasm() {
  const resp = await fetchAsset('keyhold.wasm');
  if (!resp.ok) throw new Error(`The page could not load its WebAssembly module (HTTP ${resp.status}). Reload to try again.`);
  const type = resp.headers.get('Content-Type') || '';
  if (WebAssembly.compileStreaming && type.startsWith('application/wasm')) return WebAssembly.compileStreaming(resp);
  return WebAssembly.compile(await resp.arrayBuffer());
}

// loadKitModule fetches keyhold-kit.wasm (integrity checked) and runs it
// with its own Go instance; the module sets globalThis.keyholdKit and
// then calls keyholdHost.kitReady(). It is loaded once, the first time a
// screen needs it (a kit file, a camera frame, the kit PDF, the
// generator or the strength meter), and reused; a failed load is tried
// again at the next call.
function loadKitModule() {
  if (!app.kitModule) {
    app.kitModule = new Promise((resolve, reject) => {
      app.resolveKit = resolve;
      (async () => {
        const resp = await fetchAsset('keyhold-kit.wasm');
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        const go = new globalThis.Go();
        go.argv = ['keyhold-web-kit'];
        const type = resp.headers.get('Content-Type') || '';
        let instance;
        if (WebAssembly.instantiateStreaming && type.startsWith('application/wasm')) {
          ({ instance } = await WebAssembly.instantiateStreaming(resp, go.importObject));
        } else {
          ({ instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject));
        }
        go.run(instance).then(() => { app.kitModule = null; });
      })().catch((err) => {
        app.kitModule = null;
        reject(Object.assign(new Error('This part of the web vault could not load. Check the connection and try again.'), { code: 'network', cause: err }));
      });
    });
  }
  return app.kitModule;
}

// ---------------------------------------------------------------------
// State

const app = {
  engineReady: null,     // Promise resolved when keyhold is started
  resolveReady: null,
  started: false,
  status: null,          // last keyhold.status()
  unlocked: false,
  wasmModule: null,
  kitModule: null,       // Promise of globalThis.keyholdKit once asked for
  resolveKit: null,
  workers: new Set(),    // live Argon2 workers, terminated on lock
  progress: null,        // {box, text, after} while a derivation runs
  kit: null,             // {key, info}: the kit Go holds, and what it was read from
  kdfAcknowledged: false,
};

// ui holds what the vault screens show; reset on lock so that no
// reference to plaintext outlives it.
function freshUI() {
  return {
    view: 'items', limit: 100, selected: null, item: null, revealed: false,
    editing: false, history: null, listSeq: 0, openSeq: 0, totpTimer: 0,
    refreshQueued: false, types: [], lastResults: [],
  };
}
let ui = freshUI();

function kh() {
  if (!globalThis.keyhold) throw Object.assign(new Error('The vault is still loading. Try again in a moment.'), { code: 'internal' });
  return globalThis.keyhold;
}

// ---------------------------------------------------------------------
// The encrypted store Go uses for a remembered browser. Every value is
// sealed with AES-GCM under a non-extractable key that lives in the same
// IndexedDB; the value's name is the additional data, so values cannot be
// swapped between names.

const store = (() => {
  const DB = 'keyhold-web';
  let dbp = null;
  const enc = new TextEncoder();

  function req(r) {
    return new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }

  function open() {
    if (!dbp) {
      dbp = new Promise((resolve, reject) => {
        const r = indexedDB.open(DB, 1);
        r.onupgradeneeded = () => {
          const db = r.result;
          if (!db.objectStoreNames.contains('keys')) db.createObjectStore('keys');
          if (!db.objectStoreNames.contains('values')) db.createObjectStore('values');
        };
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => { dbp = null; reject(r.error); };
      });
    }
    return dbp;
  }

  async function tx(names, mode, fn) {
    const db = await open();
    const t = db.transaction(names, mode);
    const done = new Promise((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error('The browser refused to store data.'));
    });
    const result = await fn(t);
    await done;
    return result;
  }

  async function wrapKey(create) {
    let key = await tx(['keys'], 'readonly', (t) => req(t.objectStore('keys').get('wrap')));
    if (key || !create) return key || null;
    key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    await tx(['keys'], 'readwrite', (t) => req(t.objectStore('keys').put(key, 'wrap')));
    return key;
  }

  // serial runs fn under the Web Lock "keyhold-store", so that no two
  // tabs (or two calls of one tab) interleave their reads and writes of
  // the store: a get-or-create of the wrapping key, a put, a clear.
  function serial(fn) {
    if (!navigator.locks) return fn();
    return navigator.locks.request('keyhold-store', () => fn());
  }

  // writable refuses a write from a tab that does not hold the vault
  // (another tab of this browser took it): its change records would be
  // mixed with the other tab's.
  function writable() {
    if (navigator.locks && !vaultLock.held) throw Object.assign(new Error('Keyhold is open in another tab of this browser.'), { code: 'locked' });
  }

  async function storeFailure(err) {
    const e = new Error('This browser could not keep the vault. Sign in without “Remember this browser”, or allow this site to store data.');
    e.code = 'internal';
    e.cause = err;
    return e;
  }

  return {
    get(name) { return serial(async () => {
      try {
        const rec = await tx(['values'], 'readonly', (t) => req(t.objectStore('values').get(name)));
        if (!rec) return null;
        const key = await wrapKey(false);
        if (!key) return null;
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: enc.encode(name) }, key, rec.data);
        return new Uint8Array(plain);
      } catch (err) {
        throw await storeFailure(err);
      }
    }); },
    put(name, bytes) { return serial(async () => {
      writable();
      try {
        const key = await wrapKey(true);
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(name) }, key, bytes);
        await tx(['values'], 'readwrite', (t) => req(t.objectStore('values').put({ iv, data }, name)));
      } catch (err) {
        throw await storeFailure(err);
      }
    }); },
    delete(name) { return serial(async () => {
      writable();
      await tx(['values'], 'readwrite', (t) => req(t.objectStore('values').delete(name)));
    }); },
    clear() { return serial(async () => {
      await tx(['values', 'keys'], 'readwrite', async (t) => {
        await req(t.objectStore('values').clear());
        await req(t.objectStore('keys').clear());
      });
    }); },
    // hasAny tells the page, before Go has loaded, whether to show the
    // unlock screen rather than the sign-in form.
    hasAny() { return serial(async () => {
      try {
        const n = await tx(['values'], 'readonly', (t) => req(t.objectStore('values').count()));
        return n > 0;
      } catch {
        return false;
      }
    }); },
  };
})();

// ---------------------------------------------------------------------
// Argon2id in a fresh worker per derivation.

let workerChecked = null;

// checkWorker fetches worker.js once with its integrity value, so that a
// changed worker is refused before it runs (a Worker constructor has no
// integrity option); the Worker then loads the same immutable URL.
function checkWorker() {
  if (!workerChecked) {
    workerChecked = (async () => {
      const a = asset('worker.js');
      if (!a.integrity) return;
      const r = await fetch(a.path, { integrity: a.integrity });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      await r.arrayBuffer();
    })().catch((err) => { workerChecked = null; throw err; });
  }
  return workerChecked;
}

// mark notes a step of signing in as a performance mark named
// "keyhold:<step>" (the same name replaces the last one), so that
// bench/web can say where the time goes. Marks carry no data.
function mark(step) {
  const name = `keyhold:${step}`;
  performance.clearMarks(name);
  performance.mark(name);
}

function setProgress(text) {
  if (app.progress) app.progress.text.textContent = text;
}

function argon2id(p) {
  return new Promise((resolve, reject) => {
    let w = null;
    const password = new Uint8Array(p.password);
    if (p.password instanceof Uint8Array) p.password.fill(0);
    const finish = () => {
      password.fill(0);
      if (w) { w.terminate(); app.workers.delete(w); w = null; }
      if (app.progress && app.progress.after) setProgress(app.progress.after);
    };
    setProgress('Deriving key…');
    mark('derive');
    checkWorker().then(() => {
      w = new Worker(asset('worker.js').path);
      w.rejectDerivation = (err) => { finish(); reject(err); };
      app.workers.add(w);
      w.onmessage = (ev) => {
        const d = ev.data || {};
        mark('derived');
        finish();
        if (d.key) resolve(new Uint8Array(d.key));
        else reject(Object.assign(new Error((d.error && d.error.message) || 'The key could not be derived.'), { code: (d.error && d.error.code) || 'internal' }));
      };
      w.onerror = (ev) => {
        ev.preventDefault();
        finish();
        reject(Object.assign(new Error('The key could not be derived: the browser stopped the worker (it may lack memory). Close other tabs and try again.'), { code: 'internal' }));
      };
      const copy = password.slice();
      w.postMessage({
        module: app.wasmModule,
        assets: {
          'argon2.umd.min.js': asset('vendor/hash-wasm/argon2.umd.min.js'),
          'keyhold.wasm': asset('keyhold.wasm'), 'wasm_exec.js': asset('wasm_exec.js'),
        },
        password: copy, salt: p.salt, time: p.time, memoryKiB: p.memoryKiB, threads: p.threads,
      }, [copy.buffer]);
    }).catch(() => {
      finish();
      reject(Object.assign(new Error('The page could not load its key derivation code. Reload to try again.'), { code: 'internal' }));
    });
  });
}

function terminateWorkers() {
  for (const w of app.workers) {
    if (w.rejectDerivation) w.rejectDerivation(Object.assign(new Error('The vault was locked.'), { code: 'locked' }));
    else w.terminate();
  }
  app.workers.clear();
}

// ---------------------------------------------------------------------
// The host object Go calls.

globalThis.keyholdHost = {
  ready() { if (app.resolveReady) app.resolveReady(); },
  kit: loadKitModule,
  kitReady() { if (app.resolveKit) app.resolveKit(globalThis.keyholdKit); },
  argon2id,
  store,
  event(name, detail) {
    try {
      switch (name) {
        case 'changed': scheduleRefresh(); break;
        case 'conflicts': showConflicts(Array.isArray(detail) ? detail : []); break;
        case 'sync': setSync(detail || {}); break;
        case 'locked': onLockedEvent(detail || {}); break;
        default: break;
      }
    } catch (err) {
      showAlert(errorText(err));
    }
  },
};

// ---------------------------------------------------------------------
// Start

async function startEngine() {
  app.engineReady = new Promise((resolve) => { app.resolveReady = resolve; });
  await loadScript('wasm_exec.js');
  app.wasmModule = await compileWasm();
  const go = new globalThis.Go();
  go.argv = ['keyhold-web'];
  const instance = await WebAssembly.instantiate(app.wasmModule, go.importObject);
  go.run(instance).then(() => {
    app.started = false;
    showAlert('The vault engine stopped. Reload the page to continue.');
  });
  await app.engineReady;
  const st = await kh().start({ assets, origin: location.origin });
  app.started = true;
  mark('ready');
  showVersion();
  return st;
}

let engine = null;

// engineStarted waits for Go to be ready; false (with the reason shown)
// when it could not start.
async function engineStarted() {
  if (app.started) return true;
  announce('Loading the vault engine…');
  try {
    await engine;
    return true;
  } catch (err) {
    showAlert(`The web vault could not start: ${errorText(err)} Reload the page to try again.`);
    return false;
  }
}

async function boot() {
  wireSignIn();
  wireUnlock();
  wireVault();
  wireLocking();
  wireMessages();
  $('device-name').value = guessDeviceName();
  engine = startEngine();
  $('use-this-tab').addEventListener('click', useThisTab);
  const remembered = await store.hasAny();
  if (!app.started) { if (remembered) showScreen('unlock'); else showScreen('signin'); }
  if (await otherTabHolds()) showOtherTab(true);
  registerServiceWorker();
  try {
    const st = await engine;
    route(st);
  } catch (err) {
    showAlert(`The web vault could not start: ${errorText(err)}`);
  }
}

function guessDeviceName() {
  const ua = navigator.userAgent;
  let b = 'Browser';
  if (/Edg\//.test(ua)) b = 'Edge';
  else if (/Firefox\//.test(ua)) b = 'Firefox';
  else if (/Chrom(e|ium)\//.test(ua)) b = /Chromium/.test(ua) ? 'Chromium' : 'Chrome';
  else if (/Safari\//.test(ua)) b = 'Safari';
  let os = '';
  if (/Android/.test(ua)) os = 'Android';
  else if (/iPhone|iPad/.test(ua)) os = 'iOS';
  else if (/Windows/.test(ua)) os = 'Windows';
  else if (/Mac OS X/.test(ua)) os = 'macOS';
  else if (/Linux/.test(ua)) os = 'Linux';
  return os ? `${b} on ${os}` : b;
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register('sw.js', { scope: '/' }).then(async () => {
    const reg = await navigator.serviceWorker.ready;
    const paths = ['/'];
    for (const v of Object.values(assets)) if (v && typeof v === 'object' && typeof v.path === 'string') paths.push(v.path);
    if (reg.active) reg.active.postMessage({ type: 'precache', paths });
  }).catch(() => { /* the vault works without offline caching */ });
}

// ---------------------------------------------------------------------
// Screens

function showScreen(name) {
  for (const s of ['signin', 'unlock', 'vault']) show($(`screen-${s}`), s === name);
  document.body.dataset.screen = name;
}

// route shows the screen that fits Go's status.
function route(st) {
  app.status = st;
  if (st.state === 'unlocked') { enterVault(); return; }
  if (st.state === 'locked') {
    const who = [st.email, st.server].filter(Boolean).join(' on ');
    $('unlock-who').textContent = who ? `Signed in as ${who}.` : '';
    showScreen('unlock');
    $('unlock-password').focus();
    return;
  }
  showScreen('signin');
}

async function refreshStatus() {
  try { route(await kh().status()); } catch (err) { showAlert(errorText(err)); }
}

function busy(kind, on, after) {
  const box = $(`${kind}-progress`);
  const form = box.closest('form');
  form.setAttribute('aria-busy', on ? 'true' : 'false');
  for (const b of form.querySelectorAll('button')) b.disabled = on;
  show(box, on);
  app.progress = on ? { box, text: $(`${kind}-progress-text`), after } : null;
}

async function confirmDialog(title, text, okLabel) {
  return (await askDialog(title, text, okLabel, false)) !== null;
}

// confirmPassword asks to confirm a change the server accepts only with a
// fresh proof of the password: it resolves to the password typed, or
// null when cancelled.
function confirmPassword(title, text, okLabel) {
  return askDialog(title, text, okLabel, true);
}

// askDialog shows the confirmation dialog, with the field "Your password"
// when withPassword; it resolves to null when cancelled, else to the
// password typed ('' without the field).
async function askDialog(title, text, okLabel, withPassword) {
  const d = $('confirm');
  const pw = $('confirm-password');
  $('confirm-h').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel || 'Continue';
  pw.value = '';
  pw.removeAttribute('aria-invalid');
  $('confirm-password-error').textContent = '';
  show($('confirm-password-box'), withPassword);
  const back = document.activeElement;
  return new Promise((resolve) => {
    const ok = () => {
      if (withPassword && !pw.value) {
        // Said inside the dialog: the page behind a modal dialog is inert.
        pw.setAttribute('aria-invalid', 'true');
        $('confirm-password-error').textContent = 'Enter your password to confirm.';
        pw.focus();
        return;
      }
      d.close('ok');
    };
    const cancel = () => d.close('cancel');
    const enter = (e) => { if (e.key === 'Enter') { e.preventDefault(); ok(); } };
    const closed = () => {
      $('confirm-ok').removeEventListener('click', ok);
      $('confirm-cancel').removeEventListener('click', cancel);
      pw.removeEventListener('keydown', enter);
      d.removeEventListener('close', closed);
      const typed = pw.value;
      pw.value = '';
      $('confirm-password-error').textContent = '';
      show($('confirm-password-box'), false);
      if (back && back.focus) back.focus();
      resolve(d.returnValue === 'ok' ? typed : null);
    };
    d.returnValue = '';
    $('confirm-ok').addEventListener('click', ok);
    $('confirm-cancel').addEventListener('click', cancel);
    pw.addEventListener('keydown', enter);
    d.addEventListener('close', closed);
    d.showModal();
    if (withPassword) pw.focus(); else $('confirm-cancel').focus();
  });
}

// warnHeavy asks before a derivation the browser may not carry. At
// sign-in the account's settings come with the kit read (kdf: the
// server's login parameters, absent when it could not be asked); at
// unlock from the status.
async function warnHeavy(kdf) {
  if (app.kdfAcknowledged) return true;
  let k = kdf;
  if (k === undefined) {
    let st = null;
    try { st = await kh().status(); } catch { return true; }
    k = st && st.kdf;
  }
  if (!k || !k.heavy) return true;
  const mib = Math.round((k.memoryKiB || 0) / 1024);
  const ok = await confirmDialog('Heavy key derivation',
    `This account's key derivation uses ${mib} MiB of memory and ${k.time} ${k.time === 1 ? 'pass' : 'passes'}. A browser may take many seconds for it, and a phone may run out of memory and close the tab. Continue?`,
    'Continue');
  app.kdfAcknowledged = ok;
  return ok;
}

// ---------------------------------------------------------------------
// Sign in

function kitKey() {
  const f = $('kit-file').files[0];
  if (f) return `file:${f.name}:${f.size}:${f.lastModified}`;
  const c = $('setup-code').value.trim();
  return c ? `code:${c}` : '';
}

function kitInvalid(field, on) {
  if (on) field.setAttribute('aria-invalid', 'true'); else field.removeAttribute('aria-invalid');
}

function showKit(info, key) {
  app.kit = { key, info };
  app.kdfAcknowledged = false;
  let text = 'Recovery kit read.';
  if (info.email && info.server) text = `Recovery kit read: ${info.email} on ${info.server}.`;
  else if (info.server) text = `Recovery kit read: an account on ${info.server}.`;
  $('kit-summary').textContent = text;
  show($('kit-summary'), true);
  kitInvalid($('setup-code'), false);
  kitInvalid($('kit-file'), false);
}

function forgetKitShown() {
  app.kit = null;
  show($('kit-summary'), false);
  $('kit-summary').textContent = '';
}

// kitReading is the read of a kit in progress: its kitKey and promise.
let kitReading = null;

async function readKitFromInputs() {
  const key = kitKey();
  if (!key && app.kit && app.kit.key === 'camera') return true;
  if (!key) {
    kitInvalid($('setup-code'), true);
    showAlert('Type the setup code, choose the recovery kit, or scan its QR code.');
    $('setup-code').focus();
    return false;
  }
  if (app.kit && app.kit.key === key) return true;
  // The field's change event may have started reading this kit already
  // (it asks the server for the account's settings): wait for that read
  // rather than starting a second one.
  if (kitReading && kitReading.key === key) return kitReading.done;
  const done = readKit(key);
  kitReading = { key, done };
  try {
    return await done;
  } finally {
    if (kitReading && kitReading.done === done) kitReading = null;
  }
}

async function readKit(key) {
  if (!(await engineStarted())) return false;
  const file = $('kit-file').files[0];
  try {
    let info;
    if (file) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      info = await kh().readKit({ file: bytes });
    } else {
      info = await kh().readKit({ code: $('setup-code').value.trim() });
    }
    showKit(info, key);
    return true;
  } catch (err) {
    forgetKitShown();
    const field = file ? $('kit-file') : $('setup-code');
    kitInvalid(field, true);
    showAlert(errorText(err));
    field.focus();
    return false;
  }
}

function wireSignIn() {
  $('kit-file').addEventListener('change', () => {
    if ($('kit-file').files[0]) { clearAlert(); readKitFromInputs(); }
  });
  $('setup-code').addEventListener('change', () => {
    if (!$('kit-file').files[0] && $('setup-code').value.trim()) { clearAlert(); readKitFromInputs(); }
  });
  // Emptying the kit fields drops the kit Go holds (its Secret Key).
  const emptied = () => {
    if (kitKey() || !app.kit || app.kit.key === 'camera') return;
    forgetKitShown();
    if (globalThis.keyhold && typeof globalThis.keyhold.forgetKit === 'function') globalThis.keyhold.forgetKit().catch(() => {});
  };
  $('setup-code').addEventListener('input', emptied);
  $('kit-file').addEventListener('change', emptied);
  $('signin-form').addEventListener('submit', onSignIn);
  if (navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function') {
    show($('scan-start'), true);
    $('scan-start').addEventListener('click', startScan);
    const stop = () => { stopScan(); announce('Camera off.'); $('scan-start').focus(); };
    $('scan-stop').addEventListener('click', stop);
    $('scan-area').addEventListener('keydown', (e) => { if (e.key === 'Escape') stop(); });
  }
}

async function onSignIn(e) {
  e.preventDefault();
  mark('submit');
  clearAlert();
  if (!(await readKitFromInputs())) return;
  mark('kit');
  const pw = $('signin-password');
  if (!pw.value) {
    pw.setAttribute('aria-invalid', 'true');
    showAlert('Enter your password.');
    pw.focus();
    return;
  }
  pw.removeAttribute('aria-invalid');
  if (!(await warnHeavy((app.kit && app.kit.info && app.kit.info.kdf) || null))) return;
  if (!(await needVaultLock())) return;
  busy('signin', true, 'Signing in and downloading your vault…');
  setProgress('Deriving key…');
  mark('signin');
  try {
    const r = await kh().signIn({ password: pw.value, remember: $('remember').checked, deviceName: $('device-name').value.trim() || guessDeviceName() });
    mark('signed-in');
    pw.value = '';
    busy('signin', false);
    forgetKitShown();
    $('setup-code').value = '';
    $('kit-file').value = '';
    announce(`Signed in. ${countText(r && r.items)}`);
    await enterVault();
  } catch (err) {
    busy('signin', false);
    releaseVaultLock();
    const code = errorCode(err);
    showAlert(errorText(err));
    if (code === 'wrong-password') { pw.value = ''; pw.setAttribute('aria-invalid', 'true'); pw.focus(); }
    else if (code === 'foreign-kit' || code === 'bad-kit') { forgetKitShown(); $('setup-code').focus(); }
  }
}

function countText(n) {
  if (typeof n !== 'number') return '';
  return n === 1 ? 'Your vault holds 1 item.' : `Your vault holds ${n} items.`;
}

// Camera: frames go to Go as luminance bytes every 200 ms.
const scan = { stream: null, timer: 0, busy: false, canvas: null, ctx: null };

async function startScan() {
  clearAlert();
  try {
    scan.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch (err) {
    showAlert(err && err.name === 'NotAllowedError'
      ? 'The camera may not be used: allow it for this site, or choose the kit file instead.'
      : 'No camera could be opened. Choose the kit file or type the setup code instead.');
    return;
  }
  const v = $('scan-video');
  v.srcObject = scan.stream;
  show($('scan-area'), true);
  show($('scan-start'), false);
  $('scan-stop').focus();
  try { await v.play(); } catch { /* autoplay of a muted stream is allowed; keep going */ }
  scan.canvas = document.createElement('canvas');
  scan.ctx = scan.canvas.getContext('2d', { willReadFrequently: true });
  announce('Camera on. Hold the QR code of your kit in front of it.');
  if (!(await engineStarted())) { stopScan(); return; }
  scan.timer = setInterval(scanFrame, 200);
}

async function scanFrame() {
  const v = $('scan-video');
  if (scan.busy || !scan.stream || v.readyState < 2 || !v.videoWidth) return;
  scan.busy = true;
  try {
    let w = v.videoWidth;
    let h = v.videoHeight;
    const s = Math.min(1, 960 / Math.max(w, h));
    w = Math.round(w * s); h = Math.round(h * s);
    scan.canvas.width = w; scan.canvas.height = h;
    scan.ctx.drawImage(v, 0, 0, w, h);
    const rgba = scan.ctx.getImageData(0, 0, w, h).data;
    const gray = new Uint8Array(w * h);
    for (let i = 0, j = 0; i < gray.length; i += 1, j += 4) gray[i] = (rgba[j] * 77 + rgba[j + 1] * 150 + rgba[j + 2] * 29) >> 8;
    const info = await kh().readQRFrame({ gray, width: w, height: h });
    if (info && scan.stream) {
      stopScan();
      $('setup-code').value = '';
      $('kit-file').value = '';
      showKit(info, 'camera');
      announce('QR code read. Now enter your password.');
      $('signin-password').focus();
    }
  } catch (err) {
    stopScan();
    showAlert(errorText(err));
  } finally {
    scan.busy = false;
  }
}

function stopScan() {
  clearInterval(scan.timer);
  scan.timer = 0;
  if (scan.stream) for (const t of scan.stream.getTracks()) t.stop();
  scan.stream = null;
  const v = $('scan-video');
  v.srcObject = null;
  if (scan.canvas) { scan.canvas.width = 0; scan.canvas.height = 0; }
  scan.canvas = null; scan.ctx = null;
  show($('scan-area'), false);
  if (navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function') show($('scan-start'), true);
}

// ---------------------------------------------------------------------
// One unlocked tab per browser profile. Two tabs of a remembered browser
// would each append their own change records to the one stored vault, so
// a tab holds the Web Lock "keyhold-vault" for as long as it is unlocked
// (signing in and unlocking take it first). A second tab is told, and may
// take the lock over ("Use this tab"); the tab that loses it locks at once.

const vaultLock = { held: false, release: null };

// takeVaultLock resolves true once this tab holds the lock; false when
// another tab holds it (steal: false). A browser without Web Locks (or a
// page not served over HTTPS) has no way to tell: it goes on.
function takeVaultLock(steal) {
  if (!navigator.locks) return Promise.resolve(true);
  if (vaultLock.held) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request('keyhold-vault', steal ? { steal: true } : { ifAvailable: true }, (lock) => {
      if (!lock) { resolve(false); return undefined; }
      vaultLock.held = true;
      resolve(true);
      return new Promise((release) => { vaultLock.release = release; });
    }).then(() => undefined, () => {
      // The request rejects (AbortError) when another tab took the lock.
      const had = vaultLock.held;
      vaultLock.held = false;
      vaultLock.release = null;
      if (had) lostVaultLock();
      else resolve(false);
    });
  });
}

function releaseVaultLock() {
  const r = vaultLock.release;
  vaultLock.held = false;
  vaultLock.release = null;
  if (r) r();
}

// vaultLockFree asks without taking: whether another tab holds the lock.
async function otherTabHolds() {
  if (!navigator.locks || vaultLock.held) return false;
  try {
    const q = await navigator.locks.query();
    return (q.held || []).some((l) => l.name === 'keyhold-vault');
  } catch { return false; }
}

function showOtherTab(on) {
  show($('other-tab'), on);
}

// needVaultLock is called before signing in or unlocking.
async function needVaultLock() {
  if (await takeVaultLock(false)) { showOtherTab(false); return true; }
  showOtherTab(true);
  $('use-this-tab').focus();
  return false;
}

async function useThisTab() {
  await takeVaultLock(true);
  showOtherTab(false);
  announce('This tab now holds the vault; the other tab was locked.');
  const pw = document.body.dataset.screen === 'signin' ? $('signin-password') : $('unlock-password');
  pw.focus();
}

// lostVaultLock: another tab took the vault. Lock at once.
async function lostVaultLock() {
  const wasUnlocked = app.unlocked;
  clearPlaintext();
  clearClipboard();
  try { if (globalThis.keyhold) await kh().lock(); } catch { /* locked on this side regardless */ }
  if (app.started) await refreshStatus();
  showOtherTab(true);
  showAlert(wasUnlocked ? 'Locked: Keyhold was opened in another tab of this browser.' : 'Keyhold is open in another tab of this browser.');
}

// ---------------------------------------------------------------------
// Unlock

function wireUnlock() {
  $('unlock-form').addEventListener('submit', onUnlock);
  $('unlock-other').addEventListener('click', async () => {
    const ok = await confirmDialog('Use another account',
      'This signs this browser out: what it keeps of your vault is erased, and the next sign-in needs your recovery kit. Continue?',
      'Sign out');
    if (!ok) return;
    await signOut();
  });
}

async function onUnlock(e) {
  e.preventDefault();
  clearAlert();
  const pw = $('unlock-password');
  if (!pw.value) {
    pw.setAttribute('aria-invalid', 'true');
    showAlert('Enter your password.');
    pw.focus();
    return;
  }
  pw.removeAttribute('aria-invalid');
  if (!(await engineStarted())) return;
  if (!(await warnHeavy())) return;
  if (!(await needVaultLock())) return;
  busy('unlock', true, 'Opening your vault…');
  setProgress('Deriving key…');
  try {
    const r = await kh().unlock({ password: pw.value });
    pw.value = '';
    busy('unlock', false);
    announce(`Unlocked. ${countText(r && r.items)}`);
    await enterVault();
  } catch (err) {
    busy('unlock', false);
    releaseVaultLock();
    showAlert(errorText(err));
    if (errorCode(err) === 'wrong-password') { pw.value = ''; pw.setAttribute('aria-invalid', 'true'); pw.focus(); }
    else if (errorCode(err) === 'revoked') await refreshStatus();
  }
}

async function signOut() {
  clearPlaintext();
  try {
    if (!(await engineStarted())) throw new Error('The vault engine is not running.');
    await kh().signOut();
  } catch (err) {
    // Erase what this page stored even when Go could not.
    try { await store.clear(); } catch { /* nothing more to do */ }
    showAlert(errorText(err));
  }
  releaseVaultLock();
  showScreen('signin');
  announce('Signed out. This browser keeps nothing of your vault.');
  $('setup-code').focus();
}

// ---------------------------------------------------------------------
// The vault

async function enterVault() {
  if (navigator.locks && !vaultLock.held) {
    // Another tab took the vault while this one was unlocking.
    try { await kh().lock(); } catch { /* locked on this side regardless */ }
    showScreen('unlock');
    showOtherTab(true);
    showAlert('Keyhold is open in another tab of this browser.');
    return;
  }
  app.unlocked = true;
  ui = freshUI();
  lastActivity = Date.now();
  showScreen('vault');
  setSync({ state: navigator.onLine ? 'online' : 'offline' });
  try {
    ui.types = await kh().types();
  } catch { ui.types = []; }
  fillTypeFilter();
  await refreshTags();
  setView('items', false);
  focusSearch();
}

// focusSearch puts the focus in Search where a keyboard is at hand; on a
// touch screen that would open the on-screen keyboard over the list, so
// the list's heading takes the focus there instead.
function focusSearch() {
  if (window.matchMedia && window.matchMedia('(pointer: coarse)').matches) {
    $('list-h').setAttribute('tabindex', '-1');
    $('list-h').focus();
  } else {
    $('search').focus();
  }
}

function fillTypeFilter() {
  const sel = $('filter-type');
  sel.replaceChildren(el('option', { value: '', text: 'All types' }));
  for (const t of ui.types) sel.append(el('option', { value: t.type, text: typeLabel(t.type) }));
}

async function refreshTags() {
  const sel = $('filter-tag');
  const keep = sel.value;
  let tags = [];
  try { tags = await kh().tags(); } catch { tags = []; }
  sel.replaceChildren(el('option', { value: '', text: 'All tags' }));
  for (const t of tags) sel.append(el('option', { value: t, text: t }));
  sel.value = tags.includes(keep) ? keep : '';
}

const TYPE_LABELS = { login: 'Login', note: 'Secure note', card: 'Card', identity: 'Identity', bank: 'Bank account' };
function typeLabel(t) { return TYPE_LABELS[t] || (t ? t[0].toUpperCase() + t.slice(1) : ''); }

const FIELD_LABELS = {
  username: 'Username', password: 'Password', totp: 'One-time code',
  cardholder: 'Cardholder', number: 'Card number', expiry: 'Expiry', cvv: 'CVV', pin: 'PIN', brand: 'Brand',
  first_name: 'First name', last_name: 'Last name', email: 'Email', phone: 'Phone', address: 'Address',
  birthdate: 'Birth date', company: 'Company', passport: 'Passport', license: 'Licence',
  bank_name: 'Bank name', account_name: 'Account name', account_number: 'Account number',
  routing_number: 'Routing number', iban: 'IBAN', swift: 'SWIFT',
};

function fieldLabel(f) {
  if (!f.custom && FIELD_LABELS[f.name]) return FIELD_LABELS[f.name];
  return f.name;
}

// The merge names the parts of an item both sides changed: "field:NAME"
// for a field, else a part of the item (internal/merge, Conflict.Field).
const CONFLICT_PARTS = {
  type: 'Type', title: 'Title', urls: 'Website', notes: 'Notes', tags: 'Tags',
  favorite: 'Favourite', trashed: 'Trash', fields: 'Custom fields',
};

function conflictLabel(part) {
  if (part.startsWith('field:')) {
    const name = part.slice('field:'.length);
    return fieldLabel({ name, custom: !FIELD_LABELS[name] });
  }
  return CONFLICT_PARTS[part] || part;
}

// In an action's name ("Copy password") the label reads in lower case,
// unless it starts with an acronym (CVV, PIN, IBAN) or is a custom name.
function inSentence(label, custom) {
  if (custom || label.length < 2 || label[1] !== label[1].toLowerCase()) return label;
  return label[0].toLowerCase() + label.slice(1);
}

function formatTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function formatDate(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleDateString(undefined, { dateStyle: 'long' });
}

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function setView(view, focus) {
  ui.view = view;
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const listy = view === 'items' || view === 'trash';
  show($('view-list'), listy);
  show($('view-health'), view === 'health');
  show($('view-account'), view === 'account');
  if (listy) {
    $('list-h').textContent = view === 'trash' ? 'Trash' : 'Items';
    show($('new-item'), view === 'items');
    closeDetail();
    ui.limit = 100;
    runList();
    if (focus) $('search').focus();
  } else if (view === 'health') {
    loadHealth(focus);
  } else if (view === 'account') {
    loadAccount(focus);
  }
}

function wireVault() {
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    a.addEventListener('click', (e) => { e.preventDefault(); setView(a.dataset.view, true); });
  }
  $('lock').addEventListener('click', () => lockNow('Locked.'));
  $('search').addEventListener('input', () => { ui.limit = 100; runList(); });
  $('search').addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('search').value) { $('search').value = ''; runList(); }
  });
  $('filter-type').addEventListener('change', () => { ui.limit = 100; runList(); });
  $('filter-tag').addEventListener('change', () => { ui.limit = 100; runList(); });
  $('list-more').addEventListener('click', () => { ui.limit += 200; renderList(ui.lastResults, true); });
  $('new-item').addEventListener('click', () => openEditor(null));
  $('item-list').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-id]');
    if (b) openItem(b.dataset.id, true);
  });
  // Arrow keys move between the items, Home and End to the first and last,
  // so that a keyboard need not Tab through the whole list.
  $('item-list').addEventListener('keydown', (e) => {
    const b = e.target.closest('button[data-id]');
    if (!b) return;
    const all = [...$('item-list').querySelectorAll('button[data-id]')];
    const i = all.indexOf(b);
    let j = -1;
    if (e.key === 'ArrowDown') j = Math.min(all.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = Math.max(0, i - 1);
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = all.length - 1;
    if (j < 0) return;
    e.preventDefault();
    all[j].focus();
  });
  $('search').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown') return;
    const first = $('item-list').querySelector('button[data-id]');
    if (first) { e.preventDefault(); first.focus(); }
  });
  $('conflicts-close').addEventListener('click', () => { show($('conflicts'), false); $('conflicts-list').replaceChildren(); $('search').focus(); });
  $('kit-download').addEventListener('click', downloadKit);
  $('passwd-form').addEventListener('submit', changePassword);
  $('passwd-next').addEventListener('input', () => strengthInto($('passwd-next').value, $('passwd-meter'), $('passwd-strength-text')));
  $('sync-now').addEventListener('click', syncNow);
  $('sign-out').addEventListener('click', async () => {
    const ok = await confirmDialog('Sign out of this browser',
      'What this browser keeps of your vault is erased; signing in again needs your recovery kit. Continue?', 'Sign out');
    if (ok) await signOut();
  });
  window.addEventListener('online', () => { if (app.unlocked) setSync({ state: 'online' }); });
  window.addEventListener('offline', () => { if (app.unlocked) setSync({ state: 'offline' }); });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || !app.unlocked) return;
    if (!$('history').hidden) { e.preventDefault(); closeHistory(); }
  });
}

// runList asks Go for the current list and renders it. A later call wins:
// a slow answer to an earlier keystroke is dropped.
async function runList(keepPlace) {
  if (!app.unlocked) return;
  ui.listSeq += 1;
  const seq = ui.listSeq;
  let items;
  try {
    items = await kh().list({
      query: $('search').value, type: $('filter-type').value || undefined,
      tag: $('filter-tag').value || undefined, trash: ui.view === 'trash',
    });
  } catch (err) {
    if (seq === ui.listSeq) showAlert(errorText(err));
    return;
  }
  if (seq !== ui.listSeq || !app.unlocked) return;
  renderList(items || [], keepPlace);
}

function renderList(items, keepPlace) {
  ui.lastResults = items;
  const list = $('item-list');
  const active = document.activeElement;
  const focusedId = active && list.contains(active) ? active.dataset.id : null;
  const scroller = list.closest('.listpane');
  const top = scroller ? scroller.scrollTop : 0;
  const frag = document.createDocumentFragment();
  const n = Math.min(items.length, ui.limit);
  for (let i = 0; i < n; i += 1) {
    const it = items[i];
    const b = el('button', {
      type: 'button', class: 'item', data: { id: it.id },
      attrs: { 'aria-label': it.title, 'aria-current': it.id === ui.selected ? 'true' : null },
    },
    el('span', { class: 'item-title', text: it.title }),
    el('span', { class: 'item-sub', text: it.subtitle || typeLabel(it.type) }));
    if (it.favorite) b.classList.add('fav');
    frag.append(el('li', null, b));
  }
  list.replaceChildren(frag);
  show($('list-more'), items.length > n);
  $('list-more').textContent = `Show more (${items.length - n} not shown)`;
  const q = $('search').value.trim();
  let count;
  if (items.length === 0) {
    if (ui.view === 'trash') count = q ? 'Nothing in the trash matches.' : 'The trash is empty.';
    else count = (q || $('filter-type').value || $('filter-tag').value) ? 'No item matches.' : 'No items yet. Add one with New item.';
  } else {
    count = items.length === 1 ? '1 item' : `${items.length} items`;
  }
  $('list-count').textContent = count;
  if (keepPlace) {
    if (scroller) scroller.scrollTop = top;
    if (focusedId) {
      const again = list.querySelector(`button[data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
  }
  mark('shown');
}

// scheduleRefresh re-runs the list (and the open item) after a change
// that arrived from elsewhere, keeping the search, scroll and focus.
function scheduleRefresh() {
  if (!app.unlocked || ui.refreshQueued) return;
  ui.refreshQueued = true;
  requestAnimationFrame(async () => {
    ui.refreshQueued = false;
    if (!app.unlocked) return;
    refreshTags();
    if (ui.view === 'items' || ui.view === 'trash') {
      await runList(true);
      if (ui.selected && !ui.editing && !$('detail').hidden) await reloadItem();
    } else if (ui.view === 'health') {
      loadHealth(false);
    }
  });
}

async function reloadItem() {
  const id = ui.selected;
  const active = document.activeElement;
  const key = active && $('detail').contains(active) ? active.dataset.key : null;
  try {
    const it = await kh().get({ id });
    if (!app.unlocked || ui.selected !== id) return;
    const wasRevealed = ui.revealed;
    ui.item = it;
    ui.revealed = false;
    renderDetail(it);
    if (wasRevealed) await toggleReveal();
    if (key) {
      const again = $('detail').querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  } catch (err) {
    if (errorCode(err) === 'not-found') { closeDetail(); announce('The item you had open was removed on another device.'); }
  }
}

async function openItem(id, focus) {
  ui.openSeq += 1;
  const seq = ui.openSeq;
  let it;
  try { it = await kh().get({ id }); } catch (err) { showAlert(errorText(err)); return; }
  if (seq !== ui.openSeq || !app.unlocked) return;
  ui.selected = id;
  ui.item = it;
  ui.revealed = false;
  ui.editing = false;
  for (const b of $('item-list').querySelectorAll('button[data-id]')) {
    if (b.dataset.id === id) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
  }
  renderDetail(it);
  if (focus) $('detail-title').focus();
}

function closeDetail() {
  stopTotp();
  ui.selected = null;
  ui.item = null;
  ui.revealed = false;
  ui.editing = false;
  ui.history = null;
  for (const id of ['detail', 'editor', 'history']) { $(id).replaceChildren(); show($(id), false); }
  show($('detail-empty'), true);
  $('view-list').classList.remove('showing-detail');
  for (const b of $('item-list').querySelectorAll('button[aria-current]')) b.removeAttribute('aria-current');
}

function showPane(id) {
  for (const p of ['detail', 'editor', 'history']) if (p !== id) { $(p).replaceChildren(); show($(p), false); }
  show($('detail-empty'), false);
  show($(id), true);
  $('view-list').classList.add('showing-detail');
}

function backToList() {
  const id = ui.selected;
  closeDetail();
  const b = id && $('item-list').querySelector(`button[data-id="${CSS.escape(id)}"]`);
  if (b) b.focus(); else $('search').focus();
}

function isSecretKind(kind) { return kind === 'hidden'; }

function renderDetail(it) {
  stopTotp();
  const d = $('detail');
  d.replaceChildren();
  showPane('detail');
  const trashed = !!it.trashed;
  d.append(el('button', { type: 'button', class: 'link back narrow-only', text: 'Back to list', on: { click: backToList } }));
  d.append(el('h2', { id: 'detail-title', attrs: { tabindex: '-1' }, text: it.title }));
  const meta = [typeLabel(it.type)];
  if (it.favorite) meta.push('Favourite');
  d.append(el('p', { class: 'muted', text: meta.join(' · ') }));
  if (trashed) d.append(el('p', { class: 'note', text: `In the trash since ${formatTime(it.trashed)}.` }));

  const fields = Array.isArray(it.fields) ? it.fields : [];
  const hasSecret = fields.some((f) => isSecretKind(f.kind));
  const actions = el('div', { class: 'actions' });
  if (trashed) {
    actions.append(el('button', { type: 'button', class: 'primary', text: 'Restore', data: { key: 'restore' }, on: { click: restoreItem } }));
  } else {
    if (hasSecret) actions.append(el('button', { type: 'button', class: 'secondary', text: 'Reveal', data: { key: 'reveal' }, attrs: { 'aria-pressed': 'false' }, on: { click: toggleReveal } }));
    actions.append(el('button', { type: 'button', class: 'secondary', text: 'Edit', data: { key: 'edit' }, on: { click: () => openEditor(ui.item) } }));
  }
  actions.append(el('button', { type: 'button', class: 'secondary', text: 'History', data: { key: 'history' }, on: { click: openHistory } }));
  if (!trashed) actions.append(el('button', { type: 'button', class: 'danger', text: 'Move to trash', data: { key: 'trash' }, on: { click: trashItem } }));
  d.append(actions);

  if (Array.isArray(it.conflicts) && it.conflicts.length) {
    const c = el('div', { class: 'banner', attrs: { role: 'note' } },
      el('h3', { text: 'Edited in two places' }),
      el('p', { text: 'This item was changed on two devices at once and the changes could not all be merged. The other version is kept in the item\'s history; edit the item to settle it.' }));
    const names = [];
    for (const x of it.conflicts) {
      if (x && Array.isArray(x.fields)) for (const n of x.fields) names.push(typeof n === 'string' ? n : (n && n.name) || '');
    }
    if (names.filter(Boolean).length) c.append(el('p', { text: `Fields concerned: ${names.filter(Boolean).join(', ')}.` }));
    d.append(c);
  }

  const dl = el('dl', { class: 'fields' });
  const urls = Array.isArray(it.urls) ? it.urls : [];
  urls.forEach((u, i) => {
    const label = urls.length > 1 ? `Website ${i + 1}` : 'Website';
    dl.append(fieldRow(label, linkOrText(u), copyButton(`Copy ${inSentence(label)}`, () => Promise.resolve(u), `url:${i}`)));
  });
  for (const f of fields) {
    const label = fieldLabel(f);
    if (f.kind === 'totp') {
      dl.append(totpRow(it, f, label));
      continue;
    }
    let value;
    if (isSecretKind(f.kind)) {
      value = el('span', { class: 'secret mono', data: { field: f.name }, text: '••••••••' });
      value.setAttribute('aria-label', `${label} hidden`);
    } else if (f.kind === 'url') {
      value = linkOrText(f.value || '');
    } else {
      value = el('span', { class: 'value', text: f.value || '' });
    }
    dl.append(fieldRow(label, value, copyButton(`Copy ${inSentence(label, f.custom)}`, () => fieldValue(it.id, f.name), `f:${f.name}`)));
  }
  if (it.notes) {
    dl.append(fieldRow('Notes', el('span', { class: 'notes', text: it.notes }), copyButton('Copy notes', () => Promise.resolve(ui.item ? ui.item.notes : ''), 'notes')));
  }
  if (Array.isArray(it.tags) && it.tags.length) {
    const ul = el('ul', { class: 'tags' });
    for (const t of it.tags) ul.append(el('li', { text: t }));
    dl.append(fieldRow('Tags', ul, null));
  }
  d.append(dl);

  d.append(renderAttachments(it, trashed));

  const times = el('p', { class: 'muted small' });
  times.textContent = [it.modified ? `Modified ${formatTime(it.modified)}` : '', it.created ? `created ${formatTime(it.created)}` : '',
    typeof it.rev === 'number' ? `revision ${it.rev}` : ''].filter(Boolean).join(', ');
  d.append(times);
}

function linkOrText(u) {
  let ok = false;
  try { const p = new URL(u); ok = p.protocol === 'https:' || p.protocol === 'http:'; } catch { ok = false; }
  if (!ok) return el('span', { class: 'value', text: u });
  return el('a', { href: u, class: 'value', text: u, attrs: { target: '_blank', rel: 'noopener noreferrer' } });
}

function fieldRow(label, valueNode, button) {
  const wrap = el('div', { class: 'row' });
  wrap.append(el('dt', { text: label }));
  const dd = el('dd', null, valueNode);
  if (button) dd.append(button);
  wrap.append(dd);
  return wrap;
}

function copyButton(name, getValue, key) {
  return el('button', {
    type: 'button', class: 'secondary small', text: name, data: { key },
    on: {
      click: async () => {
        let v;
        try { v = await getValue(); } catch (err) { showAlert(errorText(err)); return; }
        await copyText(v, name.replace(/^Copy /, ''));
      },
    },
  });
}

async function fieldValue(id, name) {
  const r = await kh().field({ id, name });
  return (r && r.value) || '';
}

async function toggleReveal() {
  const it = ui.item;
  if (!it) return;
  const btn = $('detail').querySelector('button[data-key="reveal"]');
  const spans = $('detail').querySelectorAll('span.secret[data-field]');
  if (ui.revealed) {
    for (const s of spans) { s.textContent = '••••••••'; s.setAttribute('aria-label', `${s.dataset.label || s.dataset.field} hidden`); }
    ui.revealed = false;
    if (btn) { btn.textContent = 'Reveal'; btn.setAttribute('aria-pressed', 'false'); }
    return;
  }
  try {
    for (const s of spans) {
      const v = await fieldValue(it.id, s.dataset.field);
      if (ui.item !== it) return;
      s.textContent = v;
      s.removeAttribute('aria-label');
    }
  } catch (err) { showAlert(errorText(err)); return; }
  ui.revealed = true;
  if (btn) { btn.textContent = 'Hide'; btn.setAttribute('aria-pressed', 'true'); }
}

// TOTP: the code comes from Go; the page only counts the seconds down.
function totpRow(it, f, label) {
  const code = el('span', { class: 'totp mono', text: '······' });
  const secs = el('span', { class: 'muted small' });
  const bar = el('progress', { max: 30, value: 0, attrs: { 'aria-hidden': 'true' } });
  const valueNode = el('span', { class: 'totp-box' }, code, bar, secs);
  const btn = copyButton('Copy one-time code', async () => (await kh().totp({ id: it.id })).code, 'totp');
  let remaining = 0;
  const refresh = async () => {
    try {
      const t = await kh().totp({ id: it.id });
      if (ui.item !== it) return;
      code.textContent = t.code;
      bar.max = t.period || 30;
      remaining = t.remaining;
      bar.value = remaining;
      secs.textContent = `${remaining} s left`;
    } catch (err) {
      code.textContent = '—';
      secs.textContent = errorText(err);
      stopTotp();
    }
  };
  refresh();
  ui.totpTimer = setInterval(() => {
    remaining -= 1;
    if (remaining <= 0) { refresh(); return; }
    bar.value = remaining;
    secs.textContent = `${remaining} s left`;
  }, 1000);
  return fieldRow(label, valueNode, btn);
}

function stopTotp() {
  clearInterval(ui.totpTimer);
  ui.totpTimer = 0;
}

function renderAttachments(it, trashed) {
  const sec = el('section', { class: 'attachments', attrs: { 'aria-labelledby': 'att-h' } });
  sec.append(el('h3', { id: 'att-h', text: 'Attachments' }));
  const list = Array.isArray(it.attachments) ? it.attachments : [];
  if (!list.length) sec.append(el('p', { class: 'muted small', text: 'No attachments.' }));
  const ul = el('ul', { class: 'att-list' });
  for (const a of list) {
    const size = typeof a.size === 'number' ? a.size : (a.data ? a.data.length : 0);
    const li = el('li', null, el('span', { class: 'value', text: `${a.name} (${formatSize(size)})` }));
    li.append(el('button', {
      type: 'button', class: 'secondary small', text: 'Download', data: { key: `att-get:${a.name}` },
      attrs: { 'aria-label': `Download ${a.name}` }, on: { click: () => downloadAttachment(it.id, a.name) },
    }));
    if (!trashed) {
      li.append(el('button', {
        type: 'button', class: 'secondary small', text: 'Remove', data: { key: `att-rm:${a.name}` },
        attrs: { 'aria-label': `Remove ${a.name}` }, on: { click: () => removeAttachment(it.id, a.name) },
      }));
    }
    ul.append(li);
  }
  sec.append(ul);
  if (!trashed) {
    const inputId = newId('attach');
    const input = el('input', { type: 'file', id: inputId, data: { key: 'attach' } });
    input.addEventListener('change', async () => {
      const f = input.files[0];
      if (!f) return;
      try {
        const data = new Uint8Array(await f.arrayBuffer());
        await kh().attach({ id: it.id, name: f.name, data });
        announce(`${f.name} attached.`);
        await reloadItem();
      } catch (err) { showAlert(errorText(err)); input.value = ''; }
    });
    sec.append(el('div', { class: 'field' }, el('label', { attrs: { for: inputId }, text: 'Add attachment' }), input));
  }
  return sec;
}

function saveBlob(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function downloadAttachment(id, name) {
  try {
    const data = await kh().attachment({ id, name });
    saveBlob(data, name, 'application/octet-stream');
    announce(`${name} downloaded.`);
  } catch (err) { showAlert(errorText(err)); }
}

async function removeAttachment(id, name) {
  const ok = await confirmDialog('Remove attachment', `Remove ${name} from this item? It stays in the item's history.`, 'Remove');
  if (!ok) return;
  try {
    await kh().detach({ id, name });
    announce(`${name} removed.`);
    await reloadItem();
  } catch (err) { showAlert(errorText(err)); }
}

async function trashItem() {
  const it = ui.item;
  if (!it) return;
  try {
    await kh().trash({ id: it.id });
    closeDetail();
    announce(`${it.title} moved to the trash. Open Trash to restore it.`);
    await runList(true);
    $('search').focus();
  } catch (err) { showAlert(errorText(err)); }
}

async function restoreItem() {
  const it = ui.item;
  if (!it) return;
  try {
    await kh().restore({ id: it.id });
    closeDetail();
    announce(`${it.title} restored.`);
    await runList(true);
    $('search').focus();
  } catch (err) { showAlert(errorText(err)); }
}

// ---------------------------------------------------------------------
// History

async function openHistory() {
  const it = ui.item;
  if (!it) return;
  let revs;
  try { revs = await kh().history({ id: it.id }); } catch (err) { showAlert(errorText(err)); return; }
  if (ui.item !== it) return;
  stopTotp();
  // Oldest first, the current revision last (whether or not the answer
  // included it).
  const list = (Array.isArray(revs) ? revs : []).filter((r) => r && r.item).sort((x, y) => x.rev - y.rev);
  if (!list.some((r) => r.rev === it.rev)) list.push({ rev: it.rev, modified: it.modified, item: it });
  ui.history = { revs: list, revealed: false };
  const h = $('history');
  h.replaceChildren();
  showPane('history');
  h.append(el('button', { type: 'button', class: 'link back', text: 'Back to item', on: { click: closeHistory } }));
  h.append(el('h2', { id: 'history-h', attrs: { tabindex: '-1' }, text: `History of ${it.title}` }));

  // A field's past values.
  const names = [];
  const kinds = {};
  const customs = {};
  for (const r of ui.history.revs) {
    for (const f of (r.item && r.item.fields) || []) {
      if (!names.includes(f.name)) { names.push(f.name); kinds[f.name] = f.kind; customs[f.name] = !!f.custom; }
    }
  }
  const selId = newId('hist-field');
  const sel = el('select', { id: selId });
  sel.append(el('option', { value: ':title', text: 'Title' }));
  sel.append(el('option', { value: ':urls', text: 'Websites' }));
  sel.append(el('option', { value: ':notes', text: 'Notes' }));
  for (const n of names) sel.append(el('option', { value: n, text: fieldLabel({ name: n, custom: customs[n] }) }));
  if (names.includes('password')) sel.value = 'password'; else if (names.length) sel.value = names[0];
  const revealBtn = el('button', { type: 'button', class: 'secondary', text: 'Reveal past values', attrs: { 'aria-pressed': 'false' } });
  const table = el('div', { class: 'scroll-x' });
  const draw = () => drawFieldHistory(table, sel.value, kinds);
  sel.addEventListener('change', draw);
  revealBtn.addEventListener('click', () => {
    ui.history.revealed = !ui.history.revealed;
    revealBtn.textContent = ui.history.revealed ? 'Hide past values' : 'Reveal past values';
    revealBtn.setAttribute('aria-pressed', String(ui.history.revealed));
    draw();
    drawRevisions(revList, kinds);
  });
  h.append(el('h3', { text: 'Values of one field' }));
  h.append(el('div', { class: 'toolbar' }, el('div', { class: 'field' }, el('label', { attrs: { for: selId }, text: 'Field' }), sel), revealBtn));
  h.append(table);
  h.append(el('h3', { text: 'Revisions' }));
  const revList = el('ol', { class: 'revisions', attrs: { reversed: true } });
  h.append(revList);
  draw();
  drawRevisions(revList, kinds);
  $('history-h').focus();
}

function valueOf(item, key) {
  if (!item) return { present: false, value: '' };
  if (key === ':title') return { present: true, value: item.title || '' };
  if (key === ':urls') return { present: !!(item.urls && item.urls.length), value: (item.urls || []).join('\n') };
  if (key === ':notes') return { present: !!item.notes, value: item.notes || '' };
  const f = (item.fields || []).find((x) => x.name === key);
  return f ? { present: true, value: f.value || '' } : { present: false, value: '' };
}

function drawFieldHistory(box, key, kinds) {
  const secret = key[0] !== ':' && (kinds[key] === 'hidden' || kinds[key] === 'totp');
  const rows = [];
  let prev = null;
  for (const r of ui.history.revs) {
    const v = valueOf(r.item, key);
    const sig = `${v.present}\u0000${v.value}`;
    if (sig !== prev) rows.push({ r, v });
    prev = sig;
  }
  const t = el('table', { class: 'data' });
  t.append(el('caption', { class: 'visually-hidden', text: 'Values the field took, oldest first' }));
  t.append(el('thead', null, el('tr', null, el('th', { scope: 'col', text: 'Revision' }), el('th', { scope: 'col', text: 'Date' }), el('th', { scope: 'col', text: 'Value' }))));
  const tb = el('tbody');
  rows.forEach(({ r, v }, i) => {
    let shown;
    if (!v.present) shown = '(removed)';
    else if (secret && !ui.history.revealed) shown = '••••••••';
    else shown = v.value;
    const latest = ui.history.revs.length ? ui.history.revs[ui.history.revs.length - 1].rev : r.rev;
    let cur = '';
    if (i === rows.length - 1) cur = r.rev === latest ? ' (current)' : ' (current value)';
    tb.append(el('tr', null, td('Revision', `${r.rev}${cur}`), td('Date', formatTime(r.modified)), td('Value', shown, { class: 'value pre' })));
  });
  if (!rows.length) tb.append(el('tr', null, el('td', { attrs: { colspan: 3 }, text: 'No revisions.' })));
  t.append(tb);
  box.replaceChildren(t);
}

function drawRevisions(list, kinds) {
  list.replaceChildren();
  const revs = ui.history.revs.slice().reverse();
  for (const r of revs) {
    const det = el('details');
    det.append(el('summary', { text: `Revision ${r.rev}, ${formatTime(r.modified)}` }));
    const dl = el('dl', { class: 'fields' });
    const it = r.item || {};
    dl.append(fieldRow('Title', el('span', { class: 'value', text: it.title || '' }), null));
    for (const u of it.urls || []) dl.append(fieldRow('Website', el('span', { class: 'value', text: u }), null));
    for (const f of it.fields || []) {
      const secret = f.kind === 'hidden' || f.kind === 'totp';
      dl.append(fieldRow(fieldLabel(f), el('span', { class: 'value mono', text: secret && !ui.history.revealed ? '••••••••' : (f.value || '') }), null));
    }
    if (it.notes) dl.append(fieldRow('Notes', el('span', { class: 'notes', text: it.notes }), null));
    if (it.tags && it.tags.length) dl.append(fieldRow('Tags', el('span', { class: 'value', text: it.tags.join(', ') }), null));
    if (it.trashed) dl.append(fieldRow('In the trash', el('span', { class: 'value', text: formatTime(it.trashed) }), null));
    det.append(dl);
    list.append(el('li', null, det));
  }
}

function closeHistory() {
  ui.history = null;
  if (ui.item) { renderDetail(ui.item); $('detail').querySelector('button[data-key="history"]').focus(); } else closeDetail();
}

// ---------------------------------------------------------------------
// New item and Edit

const KIND_LABELS = { text: 'Text', hidden: 'Hidden', url: 'Website', totp: 'One-time code secret' };

function standardFieldsOf(type) {
  const t = ui.types.find((x) => x.type === type);
  return t && Array.isArray(t.fields) ? t.fields : [];
}

function openEditor(item) {
  stopTotp();
  ui.editing = true;
  const f = $('editor');
  f.replaceChildren();
  showPane('editor');
  const isNew = !item;
  const base = item ? structuredClone(item) : { type: 'login', title: '', fields: [], urls: [], notes: '', tags: [], favorite: false };
  const ed = { isNew, base, customRows: [], std: {} };

  f.append(el('button', { type: 'button', class: isNew ? 'link back narrow-only' : 'link back', text: isNew ? 'Back to list' : 'Back to item', on: { click: () => cancelEdit(ed) } }));
  f.append(el('h2', { id: 'editor-h', attrs: { tabindex: '-1' }, text: isNew ? 'New item' : `Edit ${item.title}` }));

  const typeSel = el('select', { id: 'ed-type', disabled: !isNew });
  for (const t of ui.types.length ? ui.types : [{ type: base.type }]) typeSel.append(el('option', { value: t.type, text: typeLabel(t.type) }));
  typeSel.value = base.type;
  f.append(field('ed-type', 'Type', typeSel, isNew ? null : 'The type of an item cannot be changed; add a new item instead.'));

  f.append(field('ed-title', 'Title', el('input', { id: 'ed-title', type: 'text', value: base.title || '', autocomplete: 'off', required: true })));

  const stdBox = el('div', { class: 'std-fields' });
  f.append(stdBox);

  const urls = base.urls || [];
  f.append(field('ed-url', 'Website', el('input', { id: 'ed-url', type: 'url', inputMode: 'url', value: urls[0] || '', autocomplete: 'off', spellcheck: false })));
  f.append(field('ed-urls', 'Other websites', el('textarea', { id: 'ed-urls', rows: 2, value: urls.slice(1).join('\n'), spellcheck: false }), 'One address a line.'));
  f.append(field('ed-notes', 'Notes', el('textarea', { id: 'ed-notes', rows: 4, value: base.notes || '' })));
  f.append(field('ed-tags', 'Tags', el('input', { id: 'ed-tags', type: 'text', value: (base.tags || []).join(', '), autocomplete: 'off' }), 'Separate tags with commas.'));
  f.append(el('div', { class: 'check' }, el('input', { id: 'ed-fav', type: 'checkbox', checked: !!base.favorite }), el('label', { attrs: { for: 'ed-fav' }, text: 'Favourite' })));

  const fs = el('fieldset', { class: 'custom' }, el('legend', { text: 'Custom fields' }));
  const rows = el('div', { class: 'custom-rows' });
  fs.append(rows);
  fs.append(el('button', { type: 'button', class: 'secondary', text: 'Add field', on: { click: () => { const r = addCustomRow(ed, rows, { name: '', kind: 'text', value: '' }); r.name.focus(); } } }));
  f.append(fs);

  f.append(el('div', { class: 'actions' },
    el('button', { type: 'submit', class: 'primary', text: 'Save' }),
    el('button', { type: 'button', class: 'secondary', text: 'Cancel', on: { click: () => cancelEdit(ed) } })));

  const drawStd = () => {
    const keep = {};
    for (const [n, inp] of Object.entries(ed.std)) keep[n] = inp.value;
    ed.std = {};
    stdBox.replaceChildren();
    const std = standardFieldsOf(typeSel.value);
    const stdNames = std.map((s) => s.name.toLowerCase());
    for (const s of std) {
      const existing = (base.fields || []).find((x) => x.name.toLowerCase() === s.name.toLowerCase());
      const value = keep[s.name] !== undefined ? keep[s.name] : (existing ? existing.value : '');
      stdBox.append(stdFieldInput(ed, s, value));
    }
    // Everything that is not a standard field of the type is a custom field.
    if (!ed.customRows.length) {
      for (const x of base.fields || []) if (!stdNames.includes(x.name.toLowerCase())) addCustomRow(ed, rows, x);
    }
  };
  typeSel.addEventListener('change', drawStd);
  drawStd();

  f.onsubmit = (e) => { e.preventDefault(); saveEditor(ed); };
  ed.typeSel = typeSel;
  $('editor-h').focus();
}

function field(id, label, input, hint) {
  const box = el('div', { class: 'field' }, el('label', { attrs: { for: id }, text: label }), input);
  if (hint) {
    const hid = `${id}-hint`;
    box.append(el('p', { class: 'hint', id: hid, text: hint }));
    input.setAttribute('aria-describedby', hid);
  }
  return box;
}

function stdFieldInput(ed, s, value) {
  const id = `ed-f-${s.name}`;
  const label = FIELD_LABELS[s.name] || s.name;
  const secret = s.kind === 'hidden' || s.kind === 'totp';
  const input = el('input', { id, type: secret ? 'password' : (s.kind === 'url' ? 'url' : 'text'), value, autocomplete: secret ? 'new-password' : 'off', spellcheck: false });
  ed.std[s.name] = input;
  ed.kinds = ed.kinds || {};
  ed.kinds[s.name] = s.kind;
  const box = field(id, s.kind === 'totp' ? 'One-time code secret' : label, input, s.kind === 'totp' ? 'The base32 secret or otpauth:// address the site gave you.' : null);
  if (secret) {
    const showName = `Show ${inSentence(s.kind === 'totp' ? 'One-time code secret' : label)}`;
    const toggle = el('button', { type: 'button', class: 'secondary small', text: 'Show', attrs: { 'aria-label': showName, 'aria-pressed': 'false' } });
    toggle.addEventListener('click', () => {
      const on = input.type === 'password';
      input.type = on ? 'text' : 'password';
      toggle.textContent = on ? 'Hide' : 'Show';
      toggle.setAttribute('aria-label', `${on ? 'Hide' : 'Show'} ${showName.slice(5)}`);
      toggle.setAttribute('aria-pressed', String(on));
    });
    box.append(toggle);
  }
  if (s.name === 'password') box.append(generatorBox(input));
  return box;
}

// The generator and the strength meter: both answers come from Go.
function generatorBox(target) {
  const box = el('div', { class: 'generator' });
  const meter = el('meter', { min: 0, max: 4, low: 2, high: 3, optimum: 4, value: 0, id: newId('meter'), attrs: { 'aria-label': 'Password strength' } });
  const text = el('span', { class: 'small', text: '' });
  const kind = el('select', { id: newId('gen-kind') });
  kind.append(el('option', { value: 'password', text: 'Random characters' }), el('option', { value: 'passphrase', text: 'Words' }));
  const len = el('input', { id: newId('gen-len'), type: 'number', min: 8, max: 256, value: 24, inputMode: 'numeric' });
  const words = el('input', { id: newId('gen-words'), type: 'number', min: 4, max: 20, value: 6, inputMode: 'numeric' });
  const sym = el('input', { id: newId('gen-sym'), type: 'checkbox', checked: true });
  const lenBox = field(len.id, 'Length', len);
  const wordsBox = field(words.id, 'Words', words);
  const symBox = el('div', { class: 'check' }, sym, el('label', { attrs: { for: sym.id }, text: 'Symbols' }));
  show(wordsBox, false);
  kind.addEventListener('change', () => {
    const p = kind.value === 'passphrase';
    show(wordsBox, p); show(lenBox, !p); show(symBox, !p);
  });
  const gen = el('button', { type: 'button', class: 'secondary', text: 'Generate' });
  gen.addEventListener('click', async () => {
    try {
      const r = await kh().generate({ kind: kind.value, length: Number(len.value) || 24, words: Number(words.value) || 6, symbols: sym.checked });
      target.value = r.value;
      target.type = 'text';
      const tog = target.parentElement.querySelector('button[aria-pressed]');
      if (tog) { tog.textContent = 'Hide'; tog.setAttribute('aria-pressed', 'true'); tog.setAttribute('aria-label', 'Hide password'); }
      if (r.strength) showStrength(r.strength, meter, text); else strengthInto(r.value, meter, text);
      announce('A new password was generated.');
    } catch (err) { showAlert(errorText(err)); }
  });
  target.addEventListener('input', () => strengthInto(target.value, meter, text));
  if (target.value) strengthInto(target.value, meter, text);
  const opts = el('details', { class: 'gen-options' }, el('summary', { text: 'Generator options' }), el('div', { class: 'toolbar' }, field(kind.id, 'Kind', kind), lenBox, wordsBox, symBox));
  box.append(el('div', { class: 'meter-row' }, gen, meter, text), opts);
  return box;
}

const SCORE_WORDS = ['Very weak', 'Weak', 'Fair', 'Good', 'Strong'];

let strengthSeq = 0;
async function strengthInto(value, meter, text) {
  strengthSeq += 1;
  const seq = strengthSeq;
  if (!value) { meter.value = 0; text.textContent = ''; return; }
  try {
    const s = await kh().strength({ value });
    if (seq === strengthSeq) showStrength(s, meter, text);
  } catch { /* the meter is advice; leave it */ }
}

function showStrength(s, meter, text) {
  const score = Math.max(0, Math.min(4, s.score | 0));
  meter.value = score;
  const parts = [`${SCORE_WORDS[score]}.`];
  if (s.crackTime) parts.push(`Time to crack: ${s.crackTime}.`);
  if (s.warning) parts.push(s.warning.endsWith('.') ? s.warning : `${s.warning}.`);
  text.textContent = parts.join(' ');
}

function addCustomRow(ed, rows, f) {
  const n = ed.customRows.length + 1;
  const nameId = newId('cf-name');
  const kindId = newId('cf-kind');
  const valueId = newId('cf-value');
  const name = el('input', { id: nameId, type: 'text', value: f.name || '', autocomplete: 'off', spellcheck: false });
  const kind = el('select', { id: kindId });
  for (const [k, l] of Object.entries(KIND_LABELS)) kind.append(el('option', { value: k, text: l }));
  kind.value = KIND_LABELS[f.kind] ? f.kind : 'text';
  const secret = () => kind.value === 'hidden' || kind.value === 'totp';
  const value = el('input', { id: valueId, type: secret() ? 'password' : 'text', value: f.value || '', autocomplete: 'off', spellcheck: false });
  kind.addEventListener('change', () => { value.type = secret() ? 'password' : 'text'; });
  const row = { name, kind, value, box: null };
  const rm = el('button', { type: 'button', class: 'secondary small', text: 'Remove', attrs: { 'aria-label': `Remove custom field ${n}` } });
  const box = el('div', { class: 'custom-row', attrs: { role: 'group', 'aria-label': `Custom field ${n}` } },
    field(nameId, `Name of custom field ${n}`, name),
    field(kindId, `Kind of custom field ${n}`, kind),
    field(valueId, `Value of custom field ${n}`, value),
    rm);
  row.box = box;
  rm.addEventListener('click', () => {
    ed.customRows = ed.customRows.filter((r) => r !== row);
    box.remove();
    announce('Field removed.');
  });
  ed.customRows.push(row);
  rows.append(box);
  return row;
}

function cancelEdit(ed) {
  ui.editing = false;
  if (!ed.isNew && ui.item) { renderDetail(ui.item); $('detail-title').focus(); } else backToList();
}

async function saveEditor(ed) {
  clearAlert();
  const title = $('ed-title');
  if (!title.value.trim()) {
    title.setAttribute('aria-invalid', 'true');
    showAlert('Give the item a title.');
    title.focus();
    return;
  }
  title.removeAttribute('aria-invalid');
  const item = structuredClone(ed.base);
  for (const k of ['id', 'rev', 'conflicts', 'attachments']) delete item[k];
  if (ed.isNew) item.v = 1;
  item.type = ed.typeSel.value;
  item.title = title.value.trim();
  const fields = [];
  for (const s of standardFieldsOf(item.type)) {
    const inp = ed.std[s.name];
    if (inp && inp.value !== '') fields.push({ name: s.name, kind: s.kind, value: inp.value });
  }
  const seen = new Set(fields.map((x) => x.name.toLowerCase()));
  for (const r of ed.customRows) {
    const name = r.name.value.trim();
    if (!name && !r.value.value) continue;
    if (!name) {
      r.name.setAttribute('aria-invalid', 'true');
      showAlert('Give each custom field a name, or remove it.');
      r.name.focus();
      return;
    }
    if (seen.has(name.toLowerCase())) {
      r.name.setAttribute('aria-invalid', 'true');
      showAlert(`There are two fields named “${name}”. Rename one.`);
      r.name.focus();
      return;
    }
    r.name.removeAttribute('aria-invalid');
    seen.add(name.toLowerCase());
    fields.push({ name, kind: r.kind.value, value: r.value.value, custom: true });
  }
  item.fields = fields;
  const urls = [$('ed-url').value.trim(), ...$('ed-urls').value.split('\n').map((s) => s.trim())].filter(Boolean);
  item.urls = urls;
  item.notes = $('ed-notes').value;
  const tags = [];
  for (const t of $('ed-tags').value.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!tags.some((x) => x.toLowerCase() === t.toLowerCase())) tags.push(t);
  }
  item.tags = tags;
  item.favorite = $('ed-fav').checked;
  const args = { item };
  if (!ed.isNew) { args.id = ed.base.id; args.rev = ed.base.rev; }
  try {
    const r = await kh().save(args);
    ui.editing = false;
    const conflicts = Array.isArray(r && r.conflicts) ? r.conflicts.filter((x) => typeof x === 'string' && x) : [];
    if (conflicts.length) {
      // Another device changed the same fields meanwhile: this edit's
      // values won, the other ones are in the item's history.
      const names = conflicts.map((n) => conflictLabel(typeof n === 'string' ? n : (n && (n.Field || n.field)) || ''));
      showAlert(`${item.title} saved, but it was changed on another device meanwhile. Your values replaced the other device's for: ${names.join(', ')}. Its values are in the item's History.`);
    } else {
      announce(ed.isNew ? `${item.title} added.` : `${item.title} saved.`);
    }
    await runList(true);
    await openItem(r.id, true);
  } catch (err) {
    showAlert(errorText(err));
    if (errorCode(err) === 'conflict' && !ed.isNew) {
      // Changed elsewhere meanwhile: show the item as it is now; the
      // edit has to be made again on top of it.
      ui.editing = false;
      await openItem(ed.base.id, true);
    }
  }
}

// ---------------------------------------------------------------------
// Health

async function loadHealth(focus) {
  const body = $('health-body');
  let h;
  try { h = await kh().health(); } catch (err) { showAlert(errorText(err)); return; }
  if (!app.unlocked || ui.view !== 'health') return;
  body.replaceChildren();
  const weak = (h && h.weak) || [];
  const reused = (h && h.reused) || [];
  if (h && typeof h.checked === 'number') body.append(el('p', { class: 'muted', text: h.checked === 1 ? '1 password checked.' : `${h.checked} passwords checked.` }));
  body.append(el('h3', { text: `Weak passwords (${weak.length})` }));
  if (!weak.length) body.append(el('p', { class: 'muted', text: 'No weak passwords.' }));
  else {
    const ul = el('ul', { class: 'items' });
    for (const w of weak) {
      ul.append(el('li', null, el('button', {
        type: 'button', class: 'item', attrs: { 'aria-label': w.title },
        on: { click: () => showItemFrom(w.id) },
      }, el('span', { class: 'item-title', text: w.title }), el('span', { class: 'item-sub', text: `Strength: ${SCORE_WORDS[Math.max(0, Math.min(4, w.score | 0))]}` }))));
    }
    body.append(ul);
  }
  body.append(el('h3', { text: `Reused passwords (${reused.length})` }));
  if (!reused.length) body.append(el('p', { class: 'muted', text: 'No password is used by more than one item.' }));
  reused.forEach((group, i) => {
    body.append(el('h4', { text: `Group ${i + 1}: the same password in ${group.length} items` }));
    const ul = el('ul', { class: 'items' });
    for (const g of group) {
      ul.append(el('li', null, el('button', {
        type: 'button', class: 'item', attrs: { 'aria-label': g.title }, on: { click: () => showItemFrom(g.id) },
      }, el('span', { class: 'item-title', text: g.title }))));
    }
    body.append(ul);
  });
  if (focus) { $('health-h').setAttribute('tabindex', '-1'); $('health-h').focus(); }
}

async function showItemFrom(id) {
  setView('items', false);
  await openItem(id, true);
}

// ---------------------------------------------------------------------
// Account

async function loadAccount(focus) {
  showVersion();
  $('idle-minutes').value = String(lockSettings().idle);
  $('hidden-minutes').value = String(lockSettings().hidden);
  $('about-verify').textContent = `keyhold web verify ${location.origin}`;
  if (focus) { $('account-h').setAttribute('tabindex', '-1'); $('account-h').focus(); }
  let a;
  try { a = await kh().account(); } catch (err) { showAlert(errorText(err)); return; }
  if (!app.unlocked || ui.view !== 'account') return;
  const dl = el('dl', { class: 'facts' });
  const add = (k, v) => { if (v) dl.append(el('dt', { text: k }), el('dd', { text: v })); };
  add('Email', a.email);
  add('Server', a.server);
  const cap = (x) => (x ? x[0].toUpperCase() + x.slice(1) : '');
  let plan = cap(a.plan);
  if (a.effective && a.effective !== a.plan) plan += ` (in effect: ${a.effective})`;
  add('Plan', plan);
  add('Trial ends', formatDate(a.trialEnds));
  add('Licence payment date', formatDate(a.paymentDate));
  add('Licence paid until', formatDate(a.paidUntil));
  if (typeof a.items === 'number') add('Items', String(a.items));
  $('account-body').replaceChildren(dl);
  renderDevices(a.devices || []);
  const names = new Map((a.devices || []).map((d) => [d.id, d.name]));
  loadAudit(names);
}

// td makes a table cell that also carries its column's name, which the
// phone layout shows before the value (each row becomes a small card).
function td(label, text, props) {
  return el('td', Object.assign({ text, data: { label } }, props || {}));
}

function renderDevices(devs) {
  const t = el('table', { class: 'data' });
  t.append(el('caption', { class: 'visually-hidden', text: 'Devices of this account' }));
  t.append(el('thead', null, el('tr', null,
    el('th', { scope: 'col', text: 'Device' }), el('th', { scope: 'col', text: 'Last seen' }),
    el('th', { scope: 'col', text: 'State' }), el('th', { scope: 'col', text: 'Action' }))));
  const tb = el('tbody');
  for (const d of devs) {
    const nameId = newId('dev');
    let state = d.current ? 'This browser' : 'Active';
    if (d.revoked) state = typeof d.revoked === 'string' ? `Revoked ${formatDate(d.revoked)}` : 'Revoked';
    const action = el('td', { data: { label: 'Action' } });
    if (!d.current && !d.revoked) {
      action.append(el('button', {
        type: 'button', class: 'danger small', text: 'Revoke', attrs: { 'aria-describedby': nameId },
        on: { click: () => revokeDevice(d) },
      }));
    }
    const name = d.platform ? `${d.name || d.id} (${d.platform})` : (d.name || d.id);
    tb.append(el('tr', null, td('Device', name, { id: nameId }), td('Last seen', formatTime(d.lastSeen)), td('State', state), action));
  }
  t.append(tb);
  $('devices-body').replaceChildren(t);
}

// revokeDevice revokes another device: the server asks for a fresh proof
// of the password for that, so the dialog asks for it. (This browser is
// never offered here: Sign out of this browser is its way out.)
async function revokeDevice(d) {
  const name = d.name || d.id;
  const password = await confirmPassword('Revoke device',
    `Revoke “${name}”? It loses access to the account and erases what it keeps at its next contact with the server. Type your password to confirm.`, 'Revoke');
  if (password === null) return;
  try {
    await kh().revokeDevice({ id: d.id, password });
    announce(`${name} revoked.`);
    loadAccount(false);
  } catch (err) { showAlert(errorText(err)); }
}

// loadAudit shows the log, naming devices where the account lists them.
async function loadAudit(names) {
  let rows;
  try { rows = await kh().audit(); } catch (err) { $('audit-body').replaceChildren(el('p', { class: 'muted', text: errorText(err) })); return; }
  if (!app.unlocked) return;
  drawAudit(rows || [], names, 50);
}

function drawAudit(all, names, limit) {
  const t = el('table', { class: 'data' });
  t.append(el('caption', { class: 'visually-hidden', text: 'Audit log, newest first' }));
  t.append(el('thead', null, el('tr', null, el('th', { scope: 'col', text: 'Time' }), el('th', { scope: 'col', text: 'Event' }), el('th', { scope: 'col', text: 'Device' }), el('th', { scope: 'col', text: 'Details' }))));
  const tb = el('tbody');
  const shown = all.slice(0, limit);
  for (const r of shown) {
    const extra = [r.source, r.detail].filter(Boolean).join(' — ');
    tb.append(el('tr', null, td('Time', formatTime(r.time)), td('Event', r.event || ''), td('Device', (names && names.get(r.device)) || r.device || ''), td('Details', extra)));
  }
  if (!all.length) tb.append(el('tr', null, el('td', { attrs: { colspan: 4 }, text: 'No events.' })));
  t.append(tb);
  $('audit-body').replaceChildren(t);
  if (all.length > shown.length) {
    $('audit-body').append(el('p', { class: 'muted small', text: `The ${shown.length} most recent of ${all.length} events.` }),
      el('button', { type: 'button', class: 'secondary', text: 'Show all events', on: { click: () => drawAudit(all, names, all.length) } }));
  }
}

async function showVersion() {
  let v = { version: assets.version || '', manifest: assets.manifest || '' };
  try { if (globalThis.keyhold) v = Object.assign(v, await kh().version()); } catch { /* keep the table's */ }
  $('about-version').textContent = v.version || 'development build';
  $('about-manifest').textContent = v.manifest || 'none (this page was not built by the release generator)';
}

async function downloadKit() {
  try {
    const pdf = await kh().kitPDF();
    saveBlob(pdf, 'keyhold-recovery-kit.pdf', 'application/pdf');
    announce('Recovery kit downloaded. Print it or move it somewhere safe, then delete the download.');
  } catch (err) { showAlert(errorText(err)); }
}

async function changePassword(e) {
  e.preventDefault();
  clearAlert();
  const cur = $('passwd-current');
  const next = $('passwd-next');
  const rep = $('passwd-repeat');
  for (const i of [cur, next, rep]) i.removeAttribute('aria-invalid');
  if (!cur.value) { cur.setAttribute('aria-invalid', 'true'); showAlert('Enter your current password.'); cur.focus(); return; }
  if (!next.value) { next.setAttribute('aria-invalid', 'true'); showAlert('Enter a new password.'); next.focus(); return; }
  if (next.value !== rep.value) { rep.setAttribute('aria-invalid', 'true'); showAlert('The two new passwords differ. Type the new one again.'); rep.focus(); return; }
  if (!(await warnHeavy())) return;
  busy('passwd', true, 'Changing your password…');
  setProgress('Deriving key…');
  try {
    await kh().changePassword({ current: cur.value, next: next.value });
    busy('passwd', false);
    for (const i of [cur, next, rep]) i.value = '';
    strengthInto('', $('passwd-meter'), $('passwd-strength-text'));
    announce('Password changed. Use the new password from now on, on every device.');
  } catch (err) {
    busy('passwd', false);
    showAlert(errorText(err));
    if (errorCode(err) === 'wrong-password') { cur.setAttribute('aria-invalid', 'true'); cur.focus(); }
  }
}

async function syncNow() {
  try {
    setSync({ state: 'syncing' });
    await kh().syncNow();
    setSync({ state: 'online' });
    announce('Synced.');
  } catch (err) {
    setSync({ state: 'offline', error: errorText(err) });
    showAlert(errorText(err));
  }
}

// ---------------------------------------------------------------------
// Live events

function setSync(d) {
  const p = $('sync-state');
  const state = ['online', 'offline', 'syncing'].includes(d.state) ? d.state : 'online';
  p.dataset.state = state;
  const words = { online: 'Online', offline: 'Offline', syncing: 'Syncing…' };
  $('sync-text').textContent = d.error ? `${words[state]}: ${d.error}` : words[state];
}

function showConflicts(list) {
  if (!app.unlocked || !list.length) return;
  const ul = $('conflicts-list');
  ul.replaceChildren();
  for (const c of list) {
    const names = Array.isArray(c.fields) ? c.fields.map((x) => (typeof x === 'string' ? x : (x && (x.Field || x.field || x.name)) || '')).filter(Boolean).map(conflictLabel) : [];
    const li = el('li', null, el('button', {
      type: 'button', class: 'link', text: c.title || c.id, attrs: { 'aria-label': `Open ${c.title || c.id}` },
      on: { click: () => showItemFrom(c.id) },
    }));
    if (names.length) li.append(` — ${names.join(', ')}`);
    ul.append(li);
  }
  show($('conflicts'), true);
  announce(list.length === 1 ? 'An item was edited in two places; see the list above the vault.' : `${list.length} items were edited in two places; see the list above the vault.`);
}

const LOCK_REASONS = {
  revoked: 'This browser was removed from your account',
  rotated: 'Your account key was changed on another device. Sign in again with your new recovery kit.',
  'signed-out': 'You were signed out of this browser.',
};

async function onLockedEvent(d) {
  const msg = LOCK_REASONS[d.reason];
  clearPlaintext();
  clearClipboard();
  releaseVaultLock();
  announce('');
  if (d.reason === 'revoked' || d.reason === 'rotated' || d.reason === 'signed-out') {
    showScreen('signin');
    $('setup-code').focus();
    if (d.reason === 'revoked' || d.reason === 'rotated') showAlert(msg); else announce(msg);
    return;
  }
  await refreshStatus();
  announce('Locked.');
}

// ---------------------------------------------------------------------
// Clipboard: write, then clear after 30 s when the page can.

const CLEAR_AFTER_MS = 30000;
// mac: an HMAC of what was copied, to recognise it later without keeping
// it (an unkeyed hash of a short password could be reversed by guessing);
// pending: the 30 s passed while the page was not in front, so it is
// cleared when the page comes back.
const clip = { timer: 0, mac: null, pending: false, key: null };

// clipMac is HMAC-SHA-256 under a random key made for this page and
// never exportable.
async function clipMac(text) {
  if (!clip.key) clip.key = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const d = await crypto.subtle.sign('HMAC', clip.key, new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function copyText(value, what) {
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    showAlert(`The browser refused to copy the ${what}. Click into the page and try again.`);
    return;
  }
  clearTimeout(clip.timer);
  // Only a keyed hash of the value is kept, to recognise it later.
  clip.mac = await clipMac(value);
  clip.pending = false;
  clip.timer = setTimeout(clearClipboard, CLEAR_AFTER_MS);
  const w = what.length ? what[0].toUpperCase() + what.slice(1) : what;
  announce(`${w} copied. The clipboard will be cleared in 30 seconds.`);
}

async function canReadClipboard() {
  try {
    const p = await navigator.permissions.query({ name: 'clipboard-read' });
    return p.state === 'granted';
  } catch { return false; }
}

// clearClipboard clears what the page copied, after 30 s and on Lock. A
// browser lets a page write the clipboard only while it is in front: if
// it is not, the clearing waits until it is again (focus or
// visibilitychange).
async function clearClipboard() {
  clearTimeout(clip.timer);
  clip.timer = 0;
  const mac = clip.mac;
  if (!mac) return;
  if (!document.hasFocus()) {
    if (!clip.pending) announce('The clipboard will be cleared when you come back to this page.');
    clip.pending = true;
    return;
  }
  clip.mac = null;
  clip.pending = false;
  const cannot = (why) => announce(`The clipboard could not be cleared (${why}). It may still hold what you copied: copy something else to replace it.`);
  if (await canReadClipboard()) {
    try {
      const now = await navigator.clipboard.readText();
      if ((await clipMac(now)) !== mac) return; // something else was copied since: leave it
    } catch { /* unreadable after all: clear as below */ }
  }
  try {
    await navigator.clipboard.writeText('');
    announce('Clipboard cleared.');
  } catch {
    cannot('the browser did not allow it');
  }
}

// ---------------------------------------------------------------------
// Locking: the Lock button, idle time, and time hidden.

const DEFAULT_IDLE_MIN = 15;
const DEFAULT_HIDDEN_MIN = 5;
let lastActivity = Date.now();
let hiddenAt = 0;

// lockSettings are preferences, not vault data, so localStorage may hold them.
// A value is used only when it is one the page offers (its <select>): a
// value set by other means (0 minutes idle would lock within 5 s) falls
// back to the default.
function lockSettings() {
  const num = (k, d, select) => {
    let v = null;
    try { v = localStorage.getItem(k); } catch { v = null; }
    const offered = Array.from($(select).options, (o) => o.value);
    return v !== null && offered.includes(v) ? Number(v) : d;
  };
  return { idle: num('keyhold.idleMinutes', DEFAULT_IDLE_MIN, 'idle-minutes'), hidden: num('keyhold.hiddenMinutes', DEFAULT_HIDDEN_MIN, 'hidden-minutes') };
}

function saveSetting(k, v) {
  try { localStorage.setItem(k, String(v)); } catch { /* private mode: the default applies next time */ }
}

function wireMessages() {
  document.addEventListener('focusin', placeMessages);
  window.addEventListener('scroll', placeMessages, { passive: true });
  window.addEventListener('resize', placeMessages, { passive: true });
}

function wireLocking() {
  const retryClear = () => { if (clip.pending) clearClipboard(); };
  window.addEventListener('focus', retryClear);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') setTimeout(retryClear, 0); });
  const touch = () => { lastActivity = Date.now(); };
  for (const t of ['pointerdown', 'keydown', 'input', 'wheel', 'touchstart']) document.addEventListener(t, touch, { capture: true, passive: true });
  setInterval(checkIdle, 5000);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') {
      hiddenAt = Date.now();
      if (app.unlocked && lockSettings().hidden === 0) lockNow('Locked because the page was hidden.');
    } else {
      checkHidden();
      hiddenAt = 0;
      lastActivity = Math.max(lastActivity, Date.now() - 1);
    }
  });
  $('idle-minutes').addEventListener('change', () => { saveSetting('keyhold.idleMinutes', $('idle-minutes').value); announce('Saved.'); });
  $('hidden-minutes').addEventListener('change', () => { saveSetting('keyhold.hiddenMinutes', $('hidden-minutes').value); announce('Saved.'); });
}

function checkHidden() {
  if (!app.unlocked || !hiddenAt) return;
  const ms = lockSettings().hidden * 60000;
  if (Date.now() - hiddenAt >= ms) lockNow('Locked because the page was hidden for a while.');
}

function checkIdle() {
  if (!app.unlocked) return;
  if (document.visibilityState === 'hidden') { checkHidden(); }
  const s = lockSettings();
  if (Date.now() - lastActivity >= s.idle * 60000) {
    lockNow(`Locked after ${s.idle === 1 ? '1 minute' : `${s.idle} minutes`} without activity.`);
  }
}

// clearPlaintext removes every node that shows vault content and drops
// the page's references to it.
function clearPlaintext() {
  app.unlocked = false;
  stopTotp();
  stopScan();
  terminateWorkers();
  for (const id of ['item-list', 'detail', 'editor', 'history', 'health-body', 'account-body', 'devices-body', 'audit-body', 'conflicts-list']) $(id).replaceChildren();
  for (const id of ['detail', 'editor', 'history', 'conflicts', 'list-more']) show($(id), false);
  show($('detail-empty'), true);
  $('list-count').textContent = '';
  $('search').value = '';
  $('filter-type').replaceChildren(el('option', { value: '', text: 'All types' }));
  $('filter-tag').replaceChildren(el('option', { value: '', text: 'All tags' }));
  for (const id of ['passwd-current', 'passwd-next', 'passwd-repeat', 'unlock-password', 'signin-password']) $(id).value = '';
  $('passwd-strength-text').textContent = '—';
  $('passwd-meter').value = 0;
  const d = $('confirm');
  if (d.open) d.close('cancel');
  $('confirm-text').textContent = '';
  setMessage('status', '', 0);
  setMessage('alert', '', 0);
  ui = freshUI();
}

async function lockNow(message) {
  if (!app.unlocked) return;
  clearPlaintext();
  clearClipboard();
  try { await kh().lock(); } catch { /* locked on this side regardless */ }
  releaseVaultLock();
  await refreshStatus();
  announce(message || 'Locked.');
}

// ---------------------------------------------------------------------

boot();
