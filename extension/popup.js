// Keyhold extension: the popup.
//
// Everything the user does with Keyhold in the browser happens here (or
// through the shortcut and the context menu, which the background
// handles): unlock, find a login, fill it, copy a field, generate a
// password, answer an offer to save. The popup talks only to the
// background, which holds the connection to Keyhold; secrets reach the
// popup never — a fill goes from the host to the page through the
// background, and a copy goes from the host to the system clipboard.
//
// Content-Security-Policy rules this file keeps: no inline script or
// style, no innerHTML (textContent only), no eval or string timers.
'use strict';

const $ = (id) => document.getElementById(id);

// el builds an element. props: class, text, attrs (set with
// setAttribute), on (event handlers), and plain properties.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) e.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

const show = (node, on) => { node.hidden = !on; };

// ---------------------------------------------------------------------
// Messages: one polite status region, one alert region.

const timers = { status: 0, alert: 0 };

function setMessage(id, text, ms) {
  const node = $(id);
  clearTimeout(timers[id]);
  node.textContent = '';
  if (!text) return;
  // Set in a later frame, so that a repeated message is read again.
  requestAnimationFrame(() => { node.textContent = text; });
  timers[id] = setTimeout(() => { node.textContent = ''; }, ms);
}

const announce = (text) => setMessage('status', text, 8000);
const showAlert = (text) => setMessage('alert', text, 20000);
const clearAlert = () => setMessage('alert', '', 0);

// ---------------------------------------------------------------------
// The background

class RequestError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

async function send(msg) {
  let r;
  try {
    r = await chrome.runtime.sendMessage(msg);
  } catch {
    throw new RequestError('internal', 'The extension is restarting. Close this window and open Keyhold again.');
  }
  if (!r || r.ok !== true) {
    const e = (r && r.error) || {};
    throw new RequestError(e.kind || 'internal', e.message || 'Something went wrong. Try again.');
  }
  return r;
}

// ---------------------------------------------------------------------
// State

const ui = {
  tabId: undefined,   // the tab the popup belongs to
  inTab: false,       // opened as a page of its own rather than as the popup
  target: null,       // {tabId, frameId, documentId, origin} chosen by the background
  fillable: true,     // false: the host fills nothing here (a frame of another site's page)
  candidates: [],
  offer: null,
  searchSeq: 0,
  searchTimer: 0,
};

// findTab: the tab this popup acts on. Opened from the toolbar, it is the
// active tab of the popup's window; opened as a page (popup.html?tab=N),
// the tab named.
async function findTab() {
  const n = Number.parseInt(new URLSearchParams(location.search).get('tab') || '', 10);
  if (Number.isInteger(n)) {
    ui.inTab = true;
    return n;
  }
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab ? tab.id : undefined;
}

function screen(name) {
  show($('loading'), name === 'loading');
  show($('screen-problem'), name === 'problem');
  show($('screen-unlock'), name === 'unlock');
  show($('screen-vault'), name === 'vault');
  show($('lock'), name === 'vault');
}

// problem shows why Keyhold cannot be used and the command that fixes it.
function problem(title, text, command) {
  $('problem-h').textContent = title;
  $('problem-text').textContent = text;
  $('problem-code').textContent = command || '';
  show($('problem-command'), !!command);
  screen('problem');
  $('retry').focus();
}

function hostMissing() {
  problem('Keyhold is not connected', 'Keyhold is not installed for this browser, or it stopped. Run this command in a terminal, then choose Try again.', 'keyhold browser install');
}

function showUnlock(why) {
  screen('unlock');
  if (why) $('unlock-why').textContent = why;
  const p = $('password');
  p.value = '';
  p.removeAttribute('aria-invalid');
  p.focus();
}

// handle shows an error where it belongs: a locked vault brings back the
// unlock form, a missing host the install instructions, anything else an
// alert.
function handle(err) {
  const kind = err && err.kind;
  const text = (err && err.message) || 'Something went wrong. Try again.';
  if (kind === 'locked') {
    showUnlock('Keyhold is locked. Enter your vault password to continue.');
  } else if (kind === 'host_missing') {
    hostMissing();
  } else if (kind === 'no_vault') {
    problem('No vault on this computer', 'Create a vault, or join your account from this computer, in a terminal. Then try again.', 'keyhold init');
  } else {
    showAlert(text);
  }
}

async function load() {
  clearAlert();
  let s;
  try {
    s = await send({ op: 'state', tabId: ui.tabId });
  } catch (e) {
    handle(e);
    return;
  }
  if (s.state === 'host_missing') {
    hostMissing();
    return;
  }
  if (s.state === 'no_vault') {
    problem('No vault on this computer', 'Create a vault (keyhold init) or join your account (keyhold join) in a terminal. Then try again.', 'keyhold init');
    return;
  }
  if (s.state !== 'unlocked') {
    showUnlock();
    return;
  }
  ui.target = s.target && s.target.origin ? s.target : null;
  ui.candidates = Array.isArray(s.items) ? s.items : [];
  ui.fillable = s.fillable !== false;
  ui.offer = s.offer || null;
  renderVault(s.originDisplay, s.notFillable);
  screen('vault');
  if (s.notice) showAlert(s.notice);
  // The focus goes to Search, never to Save or Update: an Enter meant for
  // something else must not answer an offer.
  $('search').focus();
}

// ---------------------------------------------------------------------
// Unlock and lock

$('unlock-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const p = $('password');
  if (!p.value) {
    p.setAttribute('aria-invalid', 'true');
    showAlert('Enter your vault password.');
    p.focus();
    return;
  }
  const btn = $('unlock');
  btn.disabled = true;
  show($('unlock-progress'), true);
  try {
    await send({ op: 'unlock', password: p.value });
    p.value = '';
    announce('Unlocked.');
    await load();
  } catch (e) {
    if (e.kind === 'wrong_password') {
      p.setAttribute('aria-invalid', 'true');
      showAlert('Wrong password. Try again.');
      p.select();
      p.focus();
    } else {
      handle(e);
    }
  } finally {
    btn.disabled = false;
    show($('unlock-progress'), false);
  }
});

$('password').addEventListener('input', () => $('password').removeAttribute('aria-invalid'));

$('lock').addEventListener('click', async () => {
  try {
    await send({ op: 'lock' });
    showUnlock('Keyhold is locked, in the terminal too. Enter your vault password to unlock it again.');
    announce('Locked.');
  } catch (e) {
    handle(e);
  }
});

$('retry').addEventListener('click', () => { screen('loading'); load(); });

// ---------------------------------------------------------------------
// The vault: site, candidates, search

function renderVault(originDisplay, notFillable) {
  const h = $('site-h');
  const note = $('site-note');
  if (ui.target) {
    h.textContent = originDisplay || ui.target.origin;
    if (!ui.fillable) {
      note.textContent = notFillable || 'Keyhold does not fill this frame: the page around it is of another site.';
    } else {
      note.textContent = ui.target.frameId !== 0 ? 'A frame inside this page: Keyhold fills it only when the page around it is of the same site.' : '';
    }
    show(note, !!note.textContent);
  } else {
    h.textContent = 'No site to fill in this tab';
    note.textContent = 'Keyhold fills only web pages (http and https). Search to copy a login instead.';
    show(note, true);
  }
  show($('generate'), !!ui.target && ui.fillable);
  show($('generate-hint'), !!ui.target && ui.fillable);
  show($('for-site'), !!ui.target);
  renderOffer();
  renderLists();
}

function matchesQuery(it, q) {
  if (!q) return true;
  const t = `${it.title || ''} ${it.username || ''} ${it.url || ''}`.toLowerCase();
  return t.includes(q);
}

function renderLists() {
  const q = $('search').value.trim().toLowerCase();
  const list = $('candidates');
  list.replaceChildren();
  const shown = ui.candidates.filter((it) => matchesQuery(it, q));
  for (const it of shown) list.append(itemRow(it, ui.fillable));
  show($('no-candidates'), shown.length === 0);
  $('no-candidates').textContent = q && ui.candidates.length ? 'No login for this site matches your search.' : 'No login matches this site.';
}

function renderResults(items) {
  const seen = new Set(ui.candidates.map((it) => it.id));
  const rest = items.filter((it) => !seen.has(it.id));
  const list = $('results');
  list.replaceChildren();
  for (const it of rest) list.append(itemRow(it, it.fillable === true && !!ui.target && ui.fillable));
  show($('no-results'), rest.length === 0);
  show($('search-section'), true);
}

// itemRow: one item as a group named by its title, with its buttons.
// Fill is offered only for an item that matches the site (the host
// checks it again before it gives the secret).
function itemRow(it, fillable) {
  const title = it.title || it.url || 'Untitled';
  const actions = el('div', { class: 'actions' });
  if (fillable) actions.append(el('button', { type: 'button', class: 'primary small', text: 'Fill', on: { click: (e) => fill(it, e.currentTarget) } }));
  if (it.username) actions.append(el('button', { type: 'button', class: 'secondary small', text: 'Copy username', on: { click: (e) => copy(it, 'username', e.currentTarget) } }));
  if (it.password !== false) actions.append(el('button', { type: 'button', class: 'secondary small', text: 'Copy password', on: { click: (e) => copy(it, 'password', e.currentTarget) } }));
  if (it.totp) actions.append(el('button', { type: 'button', class: 'secondary small', text: 'Copy TOTP', on: { click: (e) => copy(it, 'totp', e.currentTarget) } }));
  return el('li', null, el('div', { class: 'item', attrs: { role: 'group', 'aria-label': title } },
    el('p', { class: 'title', text: title }),
    it.username ? el('p', { class: 'user', text: it.username }) : null,
    actions));
}

$('search').addEventListener('input', () => {
  renderLists();
  clearTimeout(ui.searchTimer);
  const q = $('search').value.trim();
  if (!q) {
    show($('search-section'), false);
    $('results').replaceChildren();
    return;
  }
  ui.searchTimer = setTimeout(() => search(q), 150);
});

async function search(q) {
  const seq = ++ui.searchSeq;
  try {
    const r = await send({ op: 'search', query: q, target: ui.target });
    if (seq !== ui.searchSeq) return;
    renderResults(Array.isArray(r.items) ? r.items : []);
  } catch (e) {
    handle(e);
  }
}

// ---------------------------------------------------------------------
// Fill, copy, generate

async function busy(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    await fn();
  } catch (e) {
    handle(e);
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
  }
}

function fill(it, btn) {
  return busy(btn, async () => {
    await send({ op: 'fill', id: it.id, target: ui.target });
    announce(`Filled ${it.title || 'the login'}.`);
    if (!ui.inTab) window.close();
  });
}

const FIELD_NAMES = { username: 'Username', password: 'Password', totp: 'One-time code' };

function copy(it, field, btn) {
  return busy(btn, async () => {
    const r = await send({ op: 'copy', id: it.id, field });
    const after = r.clearAfter > 0 ? ` The clipboard will be cleared in ${r.clearAfter} seconds.` : '';
    announce(`${FIELD_NAMES[field]} copied.${after}`);
  });
}

$('generate').addEventListener('click', (e) => busy(e.currentTarget, async () => {
  const r = await send({ op: 'generate', target: ui.target });
  announce(`A new password was filled into ${r.filled === 1 ? 'the new-password field' : `${r.filled} fields`}. Keyhold offers to save it.`);
  await load();
}));

$('options').addEventListener('click', () => chrome.runtime.openOptionsPage());

// ---------------------------------------------------------------------
// The offer to save or update

// The offer names the site that sent the form, as the browser recorded
// it, so the user sees which page is asking (a lookalike shows its
// punycode).
function renderOffer() {
  const o = ui.offer;
  show($('offer'), !!o);
  if (!o) return;
  const site = displayHost(o.origin);
  if (o.action === 'update') {
    $('offer-h').textContent = 'Update the saved password?';
    $('offer-text').textContent = `${site} sent a new password for ${o.title || 'a saved login'}${o.username ? ` (${o.username})` : ''}. Update the saved one with it?`;
    $('offer-yes').textContent = 'Update';
  } else {
    $('offer-h').textContent = 'Save this login?';
    $('offer-text').textContent = `${o.username || 'No username'} on ${site}`;
    $('offer-yes').textContent = 'Save';
  }
}

// displayHost shows an origin's host (and port) as a person reads it: the
// Unicode name, followed by the ASCII (punycode) form it really is when
// the two differ — "bücher.example (xn--bcher-kva.example)", as the site
// heading shows origins.
function displayHost(originText) {
  let u;
  try {
    u = new URL(originText);
  } catch {
    return originText;
  }
  const ascii = u.hostname;
  const port = u.port ? `:${u.port}` : '';
  let unicode = ascii;
  try {
    unicode = ascii.split('.').map((l) => (l.startsWith('xn--') ? punycodeDecode(l.slice(4)) : l)).join('.');
  } catch {
    unicode = ascii;
  }
  return unicode === ascii ? `${ascii}${port}` : `${unicode}${port} (${ascii}${port})`;
}

// punycodeDecode decodes one label's punycode (RFC 3492), after "xn--".
// It throws on anything malformed; the caller then shows the ASCII form.
function punycodeDecode(input) {
  const base = 36;
  const tMin = 1;
  const tMax = 26;
  const adapt = (delta, points, first) => {
    let d = first ? Math.floor(delta / 700) : delta >> 1;
    d += Math.floor(d / points);
    let k = 0;
    while (d > ((base - tMin) * tMax) >> 1) {
      d = Math.floor(d / (base - tMin));
      k += base;
    }
    return k + Math.floor(((base - tMin + 1) * d) / (d + 38));
  };
  if (input.length > 63) throw new Error('label too long');
  const out = [];
  const b = Math.max(input.lastIndexOf('-'), 0);
  for (let j = 0; j < b; j++) {
    const c = input.charCodeAt(j);
    if (c >= 0x80) throw new Error('not ASCII');
    out.push(c);
  }
  let n = 128;
  let bias = 72;
  let i = 0;
  for (let idx = b > 0 ? b + 1 : 0; idx < input.length;) {
    const old = i;
    let w = 1;
    for (let k = base; ; k += base) {
      if (idx >= input.length) throw new Error('truncated');
      const c = input.charCodeAt(idx++);
      let digit = base;
      if (c >= 48 && c <= 57) digit = c - 22;
      else if (c >= 65 && c <= 90) digit = c - 65;
      else if (c >= 97 && c <= 122) digit = c - 97;
      if (digit >= base) throw new Error('bad digit');
      i += digit * w;
      const t = k <= bias ? tMin : k >= bias + tMax ? tMax : k - bias;
      if (digit < t) break;
      w *= base - t;
      if (w > 0x10ffff * base) throw new Error('overflow');
    }
    const len = out.length + 1;
    bias = adapt(i - old, len, old === 0);
    n += Math.floor(i / len);
    i %= len;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) throw new Error('not a character');
    out.splice(i, 0, n);
    i++;
  }
  return String.fromCodePoint(...out);
}

async function answer(choice, btn) {
  await busy(btn, async () => {
    await send({ op: 'offer', tabId: ui.offer.tabId, choice });
    announce(choice === 'save' ? 'Login saved.' : choice === 'update' ? 'Password updated.' : 'Not saved.');
    ui.offer = null;
    renderOffer();
    if (choice !== 'dismiss') await load();
    else $('search').focus();
  });
}

$('offer-yes').addEventListener('click', (e) => answer(ui.offer && ui.offer.action === 'update' ? 'update' : 'save', e.currentTarget));
$('offer-no').addEventListener('click', (e) => answer('dismiss', e.currentTarget));

// ---------------------------------------------------------------------

(async () => {
  screen('loading');
  ui.tabId = await findTab();
  await load();
})();
