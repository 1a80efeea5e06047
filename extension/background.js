// Keyhold extension: the background service worker.
//
// It holds the one connection to the local Keyhold (the native host
// `app.keyhold.host`), and it is the only part of the extension that
// fills a page. A fill starts from a user gesture in the extension's own
// interface — the popup, the keyboard shortcut, or the browser's context
// menu — and nothing a page does can start, observe or redirect one:
//
// - The origin a login is matched against is the browser's record of the
//   target frame (chrome.webNavigation), never a value a page or a content
//   script reports. The host refuses a secret for an item that does not
//   match that origin.
// - The fill is injected into one document only (pinned by its
//   documentId, so a navigation in between makes it fail), in the
//   extension's isolated world, and the injected code checks the
//   document's origin once more before it touches a field.
// - There is no user interface in the page at all: nothing to cover, make
//   transparent, move under the pointer or click with a forged event.
//
// Content scripts may send one message, `submitted` (a login form was
// sent), whose origin is again taken from the browser's sender record.
// Every other message is accepted only from the extension's own pages.
'use strict';

if (typeof importScripts === 'function') importScripts('inject.js');

const HOST = 'app.keyhold.host';
const EXT_ORIGIN = new URL(chrome.runtime.getURL('/')).origin;

// Limits on what is sent to the host, in UTF-8 bytes as the host counts
// them: longer values are not logins, and a page must not make the host
// parse large messages.
const MAX_USERNAME = 1024;
const MAX_PASSWORD = 4096;
// An offer to save is dropped after this long without an answer.
const OFFER_TTL_MS = 30 * 60 * 1000;
// After a save_check for a tab, that tab's next submitted form is looked
// at only after this long: a page cannot keep the host busy.
const SUBMIT_COOLDOWN_MS = 2000;

const encoder = new TextEncoder();

// fits: s is a well-formed string (no lone surrogates, which the host
// refuses) of at most max UTF-8 bytes. A UTF-8 encoding is never shorter
// than the UTF-16 length, which rules out long strings before encoding.
function fits(s, max) {
  if (typeof s !== 'string' || s.length > max) return false;
  if (typeof s.isWellFormed === 'function' && !s.isWellFormed()) return false;
  return encoder.encode(s).length <= max;
}

// ---------------------------------------------------------------------
// Errors

// KeyholdError carries a kind from the host protocol (locked, no_vault,
// wrong_password, not_found, origin, invalid, conflict, unavailable,
// internal) or one of the extension's own: host_missing, no_target,
// no_fields, changed. The message is written for the user.
class KeyholdError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const HOST_MISSING = 'Keyhold is not connected to this browser. Run "keyhold browser install" in a terminal, then try again.';

function errorReply(err) {
  if (err instanceof KeyholdError) return { ok: false, error: { kind: err.kind, message: err.message } };
  return { ok: false, error: { kind: 'internal', message: 'Something went wrong in the extension. Try again.' } };
}

// ---------------------------------------------------------------------
// The native host: one port, requests matched to replies by id.

const host = {
  port: null,
  nextId: 1,
  pending: new Map(), // id → {resolve, reject, timer}
};

function connectHost() {
  if (host.port) return host.port;
  let port;
  try {
    port = chrome.runtime.connectNative(HOST);
  } catch {
    throw new KeyholdError('host_missing', HOST_MISSING);
  }
  port.onMessage.addListener((msg) => {
    if (!msg || typeof msg !== 'object') return;
    let id = msg.id;
    // A request the host could not read far enough to find its id is
    // answered with id 0: it fails the oldest request still waiting (the
    // likeliest one, and the host names no other), rather than leaving
    // it to time out.
    if (id === 0 && msg.ok === false && !host.pending.has(0)) id = host.pending.keys().next().value;
    if (!host.pending.has(id)) return;
    const p = host.pending.get(id);
    host.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.ok === true) {
      p.resolve(msg);
    } else {
      const e = msg.error && typeof msg.error === 'object' ? msg.error : {};
      const kind = typeof e.kind === 'string' ? e.kind : 'internal';
      const text = typeof e.message === 'string' && e.message ? e.message : 'Keyhold could not do that. Try again.';
      p.reject(new KeyholdError(kind, text));
    }
  });
  port.onDisconnect.addListener(() => {
    // Reading lastError marks it handled. "Specified native messaging host
    // not found" and "Access to the specified native messaging host is
    // forbidden" both mean the install is missing or for another id; an
    // exit of a running host reads "Native host has exited".
    const why = chrome.runtime.lastError ? String(chrome.runtime.lastError.message || '') : '';
    if (host.port === port) host.port = null;
    const err = /exited/i.test(why)
      ? new KeyholdError('host_missing', 'Keyhold stopped unexpectedly. Try again; if it keeps happening, run "keyhold browser install" again.')
      : new KeyholdError('host_missing', HOST_MISSING);
    for (const [id, p] of host.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      host.pending.delete(id);
    }
  });
  host.port = port;
  return port;
}

// call sends one request and resolves with the host's reply ({ok:true,…})
// or rejects with a KeyholdError. A lost connection is made again on the
// next call.
function call(op, fields, timeoutMs) {
  return new Promise((resolve, reject) => {
    let port;
    try {
      port = connectHost();
    } catch (e) {
      reject(e);
      return;
    }
    const id = host.nextId++;
    const timer = setTimeout(() => {
      host.pending.delete(id);
      reject(new KeyholdError('unavailable', 'Keyhold did not answer in time. Try again.'));
    }, timeoutMs || 15000);
    host.pending.set(id, { resolve, reject, timer });
    try {
      const msg = { v: 1, id, op };
      for (const [k, val] of Object.entries(fields || {})) if (!(k in msg)) msg[k] = val;
      port.postMessage(msg);
    } catch {
      clearTimeout(timer);
      host.pending.delete(id);
      if (host.port === port) host.port = null;
      reject(new KeyholdError('host_missing', HOST_MISSING));
    }
  });
}

// ---------------------------------------------------------------------
// Options (chrome.storage.local), read at each use: a service worker may
// be restarted at any time and keeps nothing in memory.

async function options() {
  const o = await chrome.storage.local.get({ exact: false, offerSave: true });
  return { exact: o.exact === true, offerSave: o.offerSave !== false };
}

// ---------------------------------------------------------------------
// Targets: which frame of a tab a fill goes to, and its origin.

// webOrigin returns the http(s) origin of url, or '' for any other page
// (data:, blob:, file:, about:, the browser's own pages), which never
// receive a fill.
function webOrigin(url) {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return '';
    return u.origin;
  } catch {
    return '';
  }
}

// anyOrigin returns the origin of any URL ("null" for opaque ones such as
// data: or file:), for the host to judge.
function anyOrigin(url) {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}

// ancestorsOf returns the origins of every frame that contains frame f,
// the top page first, by the browser's parentFrameId chain. A frame
// without a web origin (about:blank, data:, a sandbox) is "null", which
// the host refuses as an ancestor: it cannot say which site it is.
function ancestorsOf(frames, f) {
  const out = [];
  const seen = new Set([f.frameId]);
  let p = f.parentFrameId;
  while (typeof p === 'number' && p >= 0) {
    const parent = frames.find((x) => x.frameId === p);
    if (!parent || seen.has(p)) {
      out.push('null');
      break;
    }
    seen.add(p);
    out.push(anyOrigin(parent.url));
    p = parent.parentFrameId;
  }
  return out.reverse();
}

// targetOf builds a target from the browser's own record of the frame:
// {tabId, frameId, documentId, origin, topOrigin, ancestorOrigins}. The
// probe's results only choose the frame; the origins never come from
// the page.
async function targetOf(tabId, frameId, documentId) {
  const frames = (await chrome.webNavigation.getAllFrames({ tabId })) || [];
  const f = frames.find((x) => x.frameId === frameId);
  if (!f || (documentId && f.documentId && f.documentId !== documentId)) {
    throw new KeyholdError('changed', 'The page changed. Open Keyhold again.');
  }
  const top = frames.find((x) => x.frameId === 0);
  return {
    tabId,
    frameId,
    documentId: f.documentId || '',
    origin: webOrigin(f.url),
    // The top page's origin as the browser has it, whatever its scheme,
    // and every frame between it and this one: the host fills a frame
    // only when each of them is of the same site.
    topOrigin: top ? anyOrigin(top.url) : 'null',
    ancestorOrigins: frameId === 0 ? [] : ancestorsOf(frames, f),
  };
}

// framing: the request fields that tell the host where the target frame
// sits.
const framing = (target) => ({ top_origin: target.topOrigin, ancestor_origins: target.ancestorOrigins });

// probe asks every frame of the tab what it holds (login fields, the
// focused field) and chooses the frame to fill: a frame that has the
// keyboard focus in a login field, then the top frame if it has login
// fields, then a frame of the top page's own origin that has any. A frame
// of another origin is chosen only when the user is typing in it (and the
// host then decides whether its site may be filled there). A page can
// influence only this choice, and only among its own frames; what may
// fill there is decided by the frames' origins, from the browser.
async function probe(tabId) {
  let results;
  let frames;
  try {
    results = await chrome.scripting.executeScript({
      target: { tabId, allFrames: true },
      func: keyholdFrame,
      args: [{ op: 'probe' }],
    });
    frames = (await chrome.webNavigation.getAllFrames({ tabId })) || [];
  } catch {
    return null;
  }
  const top = frames.find((x) => x.frameId === 0);
  const topOrigin = top ? webOrigin(top.url) : '';
  const originOf = (frameId) => {
    const f = frames.find((x) => x.frameId === frameId);
    return f ? webOrigin(f.url) : '';
  };
  let best = null;
  let bestScore = 0;
  for (const r of results || []) {
    const p = r.result;
    if (!p || typeof p !== 'object') continue;
    const sameAsTop = r.frameId === 0 || (topOrigin !== '' && originOf(r.frameId) === topOrigin);
    let score = 0;
    if (p.active && p.focus) score = 5;
    else if (p.fields > 0 && r.frameId === 0) score = 4;
    else if (p.active && sameAsTop) score = 3;
    else if (p.fields > 0 && sameAsTop) score = 2;
    if (score > bestScore) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}

// chooseTarget returns the target for a tab: the probed frame, or the top
// frame when no frame has a login field (the popup still shows the site's
// logins to copy).
async function chooseTarget(tabId) {
  const best = await probe(tabId);
  if (best) return targetOf(tabId, best.frameId, best.documentId);
  return targetOf(tabId, 0, '');
}

// inject runs keyholdFrame in the target's document only.
async function inject(target, req) {
  const t = target.documentId
    ? { tabId: target.tabId, documentIds: [target.documentId] }
    : { tabId: target.tabId, frameIds: [target.frameId] };
  let results;
  try {
    results = await chrome.scripting.executeScript({ target: t, func: keyholdFrame, args: [req] });
  } catch {
    throw new KeyholdError('changed', 'The page changed before Keyhold could fill it. Try again.');
  }
  const r = results && results[0] && results[0].result;
  if (!r || typeof r !== 'object') throw new KeyholdError('changed', 'The page changed before Keyhold could fill it. Try again.');
  return r;
}

function requireOrigin(target) {
  if (!target.origin) {
    throw new KeyholdError('no_target', 'Keyhold fills only web pages (http and https). This page cannot receive a login.');
  }
}

// ---------------------------------------------------------------------
// Filling

// fillItem asks the host for one item's secrets for the target's origin
// (the host refuses an item that does not match it) and fills them in.
async function fillItem(target, id) {
  requireOrigin(target);
  const o = await options();
  const s = await call('fill', Object.assign({ item: id, origin: target.origin, exact: o.exact }, framing(target)));
  const r = await inject(target, {
    op: 'fill',
    origin: target.origin,
    username: typeof s.username === 'string' ? s.username : '',
    password: typeof s.password === 'string' ? s.password : '',
    totp: typeof s.totp === 'string' ? s.totp : '',
  });
  if (r.refused) throw new KeyholdError('changed', 'The page changed before Keyhold could fill it. Try again.');
  if (!r.filled) {
    if (r.found > 0) throw new KeyholdError('no_fields', 'This login has nothing for the fields on this page. A one-time-code field needs a login with a TOTP secret.');
    throw new KeyholdError('no_fields', 'Keyhold found no visible login field to fill on this page.');
  }
  return r;
}

async function candidates(target) {
  requireOrigin(target);
  const o = await options();
  return call('candidates', Object.assign({ origin: target.origin, exact: o.exact }, framing(target)));
}

// fillBest fills the first candidate for the tab's chosen frame: the
// keyboard shortcut and the context menu. When the vault is locked, or
// nothing matches, it opens the popup, which says why and lets the user
// unlock or choose.
async function fillBest(tabId, frameId) {
  try {
    const target = frameId === undefined ? await chooseTarget(tabId) : await targetOf(tabId, frameId, '');
    const c = await candidates(target);
    if (c.fillable === false) throw new KeyholdError('origin', typeof c.message === 'string' && c.message ? c.message : 'Keyhold does not fill this frame.');
    const items = Array.isArray(c.items) ? c.items : [];
    if (items.length === 0) throw new KeyholdError('not_found', 'No login matches this site.');
    await fillItem(target, items[0].id);
  } catch (e) {
    // The popup explains: it asks to unlock, lists what there is, or
    // shows this message once.
    const kind = e instanceof KeyholdError ? e.kind : 'internal';
    if (kind !== 'locked' && kind !== 'not_found') {
      const text = e instanceof KeyholdError ? e.message : 'Keyhold could not fill this page. Try again from here.';
      await chrome.storage.session.set({ [noticeKey(tabId)]: text });
    }
    await openPopup();
  }
}

const noticeKey = (tabId) => `notice:${tabId}`;

async function openPopup() {
  try {
    await chrome.action.openPopup();
  } catch {
    // The window is not focused (the browser opens the popup only in the
    // focused window): the user opens it from the toolbar, where the
    // notice waits.
  }
}

chrome.commands.onCommand.addListener((command, tab) => {
  if (command !== 'fill-login') return;
  const run = async () => {
    let t = tab;
    if (!t || t.id === undefined) [t] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
    if (t && t.id !== undefined) await fillBest(t.id);
  };
  run();
});

// The context menu entry appears on editable fields; the browser tells us
// which frame was clicked.
function createMenu() {
  chrome.contextMenus.removeAll(() => {
    chrome.contextMenus.create({ id: 'fill-login', title: 'Fill login from Keyhold', contexts: ['editable'] }, () => void chrome.runtime.lastError);
  });
}

chrome.runtime.onInstalled.addListener(createMenu);
chrome.runtime.onStartup.addListener(createMenu);

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId !== 'fill-login' || !tab || tab.id === undefined) return;
  fillBest(tab.id, typeof info.frameId === 'number' ? info.frameId : 0);
});

// ---------------------------------------------------------------------
// Save and update offers

const offerKey = (tabId) => `offer:${tabId}`;

async function getOffer(tabId) {
  const k = offerKey(tabId);
  const o = (await chrome.storage.session.get(k))[k];
  if (!o) return null;
  if (Date.now() - o.at > OFFER_TTL_MS) {
    await clearOffer(tabId);
    return null;
  }
  return o;
}

// An offer holds a password until it is answered: an alarm drops it when
// its time is up, whether or not anyone looks at it again (the service
// worker may sleep in between; alarms wake it).
async function setOffer(tabId, offer) {
  await chrome.storage.session.set({ [offerKey(tabId)]: offer });
  await chrome.alarms.create(offerKey(tabId), { when: offer.at + OFFER_TTL_MS });
  await showBadge(tabId, true);
}

async function clearOffer(tabId) {
  await chrome.storage.session.remove(offerKey(tabId));
  await chrome.alarms.clear(offerKey(tabId));
  await showBadge(tabId, false);
}

chrome.alarms.onAlarm.addListener((alarm) => {
  const m = /^(offer|user):(\d+)$/.exec(alarm.name);
  if (!m) return;
  const tabId = Number(m[2]);
  if (m[1] === 'offer') clearOffer(tabId).catch(() => {});
  else chrome.storage.session.remove(alarm.name).catch(() => {});
});

async function showBadge(tabId, on) {
  try {
    await chrome.action.setBadgeBackgroundColor({ tabId, color: '#1d4ed8' });
    await chrome.action.setBadgeText({ tabId, text: on ? '1' : '' });
    await chrome.action.setTitle({ tabId, title: on ? 'Keyhold: save this login?' : 'Keyhold' });
  } catch {
    // The tab is gone.
  }
}

// checkOffer asks the host whether a submitted login is new (save), a
// changed password (update), or already saved (none). A locked vault
// leaves the question for the popup, after the unlock.
async function checkOffer(offer) {
  try {
    const o = await options();
    const r = await call('save_check', { origin: offer.origin, username: offer.username, password: offer.password, exact: o.exact });
    const action = r.action === 'save' || r.action === 'update' ? r.action : 'none';
    return Object.assign({}, offer, { action, item: typeof r.item === 'string' ? r.item : '', title: typeof r.title === 'string' ? r.title : '' });
  } catch (e) {
    if (e instanceof KeyholdError && e.kind === 'locked') return Object.assign({}, offer, { action: 'check' });
    throw e;
  }
}

// checking: per tab, whether a save_check is being asked and until when
// the tab's next form waits (SUBMIT_COOLDOWN_MS after the answer). A
// form sent meanwhile is dropped: a page cannot queue up host work, and
// a person sends one login form at a time.
const checking = new Map(); // tabId → {busy, until}

// onSubmitted handles the capture script's one message. The origin is the
// sender frame's, as the browser reports it; the message gives only the
// two values typed.
async function onSubmitted(msg, sender) {
  const o = await options();
  if (!o.offerSave) return;
  const origin = webOrigin(sender.origin || sender.url || '');
  if (!origin || !sender.tab || sender.tab.id === undefined) return;
  const tabId = sender.tab.id;
  const userKey = `user:${tabId}`;
  if (!msg.password) {
    await chrome.storage.session.set({ [userKey]: { origin, username: msg.username, at: Date.now() } });
    await chrome.alarms.create(userKey, { when: Date.now() + OFFER_TTL_MS });
    return;
  }
  const c = checking.get(tabId);
  const now = Date.now();
  if (c && (c.busy || now < c.until)) return;
  checking.set(tabId, { busy: true, until: 0 });
  try {
    await checkSubmitted(tabId, origin, msg);
  } finally {
    checking.set(tabId, { busy: false, until: Date.now() + SUBMIT_COOLDOWN_MS });
  }
}

async function checkSubmitted(tabId, origin, msg) {
  const userKey = `user:${tabId}`;
  let username = msg.username;
  if (!username) {
    // The password page of a two-step login: the username came before.
    const u = (await chrome.storage.session.get(userKey))[userKey];
    if (u && u.origin === origin && Date.now() - u.at < OFFER_TTL_MS) username = u.username;
  }
  await chrome.storage.session.remove(userKey);
  await chrome.alarms.clear(userKey);
  const offer = await checkOffer({ origin, username, password: msg.password, at: Date.now() });
  if (offer.action === 'none') return;
  await setOffer(tabId, offer);
}

function validSubmitted(msg) {
  if (!msg || typeof msg !== 'object') return false;
  const keys = Object.keys(msg).sort().join(',');
  return keys === 'password,type,username' && msg.type === 'submitted' &&
    typeof msg.username === 'string' && typeof msg.password === 'string' &&
    (msg.password.length > 0 || msg.username.length > 0) &&
    fits(msg.password, MAX_PASSWORD) && fits(msg.username, MAX_USERNAME);
}

chrome.tabs.onRemoved.addListener((tabId) => {
  checking.delete(tabId);
  chrome.storage.session.remove([offerKey(tabId), `user:${tabId}`, noticeKey(tabId)]);
  chrome.alarms.clear(offerKey(tabId));
  chrome.alarms.clear(`user:${tabId}`);
});

// An open offer belongs to the site its form was sent from: when the tab
// goes on to another origin by the user's doing (a typed address, a
// link, a bookmark), the offer and the password it holds are dropped. The navigation the form's sending
// itself causes (its response, and the redirects that follow, which
// often lead to another host of the site) keeps it, so that the user
// can still answer it there.
chrome.webNavigation.onCommitted.addListener(async (d) => {
  if (d.frameId !== 0) return;
  // A page the user opened from the browser's own interface (typed, a
  // bookmark, the start page) starts afresh: no page can cause that.
  if (['typed', 'auto_bookmark', 'generated', 'keyword', 'start_page'].includes(d.transitionType)) checking.delete(d.tabId);
  const o = await getOffer(d.tabId);
  if (!o) return;
  if (webOrigin(d.url) === o.origin) return;
  const q = Array.isArray(d.transitionQualifiers) ? d.transitionQualifiers : [];
  const fromForm = d.transitionType === 'form_submit' || q.includes('server_redirect') || q.includes('client_redirect');
  if (fromForm && Date.now() - o.at < 60 * 1000) return;
  await clearOffer(d.tabId);
});

// The badge of a tab is reset when it loads another page; an offer made
// on the page the form was sent from is still open, so show it again.
chrome.tabs.onUpdated.addListener(async (tabId, change) => {
  if (change.status !== 'complete') return;
  if (await getOffer(tabId)) await showBadge(tabId, true);
});

// ---------------------------------------------------------------------
// The popup's requests

// fromExtensionPage: the sender is one of this extension's own pages (the
// popup or the options page), not a content script in a web page.
function fromExtensionPage(sender) {
  if (!sender || sender.id !== chrome.runtime.id) return false;
  if (typeof sender.url !== 'string' || !sender.url.startsWith(`${EXT_ORIGIN}/`)) return false;
  if (sender.origin !== undefined && sender.origin !== EXT_ORIGIN) return false;
  return true;
}

// targetFor rebuilds the target the popup showed: the same document of
// the same tab, with its origin read again from the browser. A target
// that has navigated away is refused.
async function targetFor(t) {
  if (!t || typeof t !== 'object' || !Number.isInteger(t.tabId) || !Number.isInteger(t.frameId)) {
    throw new KeyholdError('no_target', 'Keyhold does not know which page to fill. Open it again from the page.');
  }
  const target = await targetOf(t.tabId, t.frameId, typeof t.documentId === 'string' ? t.documentId : '');
  if (t.origin !== target.origin) throw new KeyholdError('changed', 'The page changed. Open Keyhold again.');
  return target;
}

const str = (v, max) => (typeof v === 'string' && v.length <= max ? v : '');

async function status() {
  const s = await call('status', {});
  return s.state === 'unlocked' || s.state === 'locked' || s.state === 'no_vault' ? s.state : 'locked';
}

// popupState describes what the popup shows: the vault's state, the
// target (site) of the tab, its candidates, and a pending offer.
async function popupState(tabId) {
  const out = { state: '', target: null, originDisplay: '', items: [], fillable: true, notFillable: '', offer: null, notice: '' };
  if (Number.isInteger(tabId)) {
    const k = noticeKey(tabId);
    const n = (await chrome.storage.session.get(k))[k];
    if (typeof n === 'string') {
      out.notice = n;
      await chrome.storage.session.remove(k);
    }
  }
  try {
    out.state = await status();
  } catch (e) {
    if (e instanceof KeyholdError && e.kind === 'host_missing') {
      out.state = 'host_missing';
      out.message = e.message;
      return out;
    }
    throw e;
  }
  if (out.state !== 'unlocked') return out;
  if (Number.isInteger(tabId)) {
    try {
      const t = await chooseTarget(tabId);
      out.target = { tabId: t.tabId, frameId: t.frameId, documentId: t.documentId, origin: t.origin };
      if (t.origin) {
        const c = await candidates(t);
        out.originDisplay = typeof c.origin_display === 'string' ? c.origin_display : t.origin;
        out.items = Array.isArray(c.items) ? c.items : [];
        // A frame inside another site's page: its logins are listed (to
        // copy) but not filled, and the host says why.
        out.fillable = c.fillable !== false;
        if (!out.fillable) out.notFillable = typeof c.message === 'string' ? c.message : '';
      }
    } catch (e) {
      if (!(e instanceof KeyholdError) || e.kind === 'locked') throw e;
      out.target = null;
    }
    let offer = await getOffer(tabId);
    if (offer && offer.action === 'check') {
      offer = await checkOffer(offer);
      if (offer.action === 'none') await clearOffer(tabId);
      else await setOffer(tabId, offer);
    }
    if (offer && offer.action !== 'none' && offer.action !== 'check') {
      out.offer = { tabId, action: offer.action, origin: offer.origin, username: offer.username, title: offer.title };
    }
  }
  return out;
}

async function answerOffer(tabId, choice, title) {
  const offer = await getOffer(tabId);
  if (!offer) throw new KeyholdError('not_found', 'This offer is no longer open.');
  if (choice === 'dismiss') {
    await clearOffer(tabId);
    return {};
  }
  let r;
  if (choice === 'save' && offer.action === 'save') {
    const f = { origin: offer.origin, username: offer.username, password: offer.password };
    if (title) f.title = title;
    r = await call('save', f);
  } else if (choice === 'update' && offer.action === 'update') {
    const o = await options();
    r = await call('update', { item: offer.item, origin: offer.origin, username: offer.username, password: offer.password, exact: o.exact });
  } else {
    throw new KeyholdError('invalid', 'This offer is no longer open.');
  }
  await clearOffer(tabId);
  return { item: r.item };
}

// generate asks the host for a new password and fills it into the
// target's new-password fields; the login is then offered for saving, so
// a password the site accepted is not lost if the form's sending is not
// seen.
async function generate(target) {
  requireOrigin(target);
  // The host refuses a frame inside another site's page, as for a fill:
  // a page must not have a new password typed into a frame it controls
  // the look of.
  const g = await call('generate', Object.assign({ origin: target.origin }, framing(target)));
  const password = typeof g.password === 'string' ? g.password : '';
  if (!password) throw new KeyholdError('internal', 'Keyhold could not generate a password. Try again.');
  const r = await inject(target, { op: 'generate', origin: target.origin, password });
  if (r.refused) throw new KeyholdError('changed', 'The page changed before Keyhold could fill it. Try again.');
  if (!r.filled) throw new KeyholdError('no_fields', 'Keyhold found no visible new-password field on this page. Copy the password from your vault after saving instead.');
  const o = await options();
  if (o.offerSave) {
    const offer = await checkOffer({ origin: target.origin, username: fits(r.username, MAX_USERNAME) ? r.username : '', password, at: Date.now() });
    if (offer.action !== 'none') await setOffer(target.tabId, offer);
  }
  return { filled: r.filled };
}

async function handlePopup(msg) {
  switch (msg.op) {
    case 'state':
      return popupState(msg.tabId);
    case 'unlock': {
      if (typeof msg.password !== 'string' || !msg.password) throw new KeyholdError('invalid', 'Enter your vault password.');
      if (!fits(msg.password, MAX_PASSWORD)) {
        throw new KeyholdError('invalid', `The password is too long: Keyhold takes at most ${MAX_PASSWORD} bytes (UTF-8).`);
      }
      const r = await call('unlock', { password: msg.password }, 120000);
      return { state: r.state };
    }
    case 'lock': {
      const r = await call('lock', {});
      return { state: r.state };
    }
    case 'search': {
      const o = await options();
      const f = { query: str(msg.query, 256), exact: o.exact };
      // Without a web page in the tab, search still finds items to copy.
      if (msg.target) f.origin = (await targetFor(msg.target)).origin;
      const r = await call('search', f);
      return { items: Array.isArray(r.items) ? r.items : [] };
    }
    case 'fill': {
      const target = await targetFor(msg.target);
      const r = await fillItem(target, str(msg.id, 256));
      return { filled: r.filled };
    }
    case 'copy': {
      const field = ['username', 'password', 'totp'].includes(msg.field) ? msg.field : '';
      const r = await call('copy', { item: str(msg.id, 256), field });
      return { clearAfter: Number.isInteger(r.clear_after_s) ? r.clear_after_s : 0 };
    }
    case 'generate':
      return generate(await targetFor(msg.target));
    case 'offer':
      return answerOffer(msg.tabId, msg.choice, str(msg.title, 256));
    default:
      throw new KeyholdError('invalid', 'The extension sent an unknown request.');
  }
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (fromExtensionPage(sender)) {
    if (!msg || typeof msg !== 'object') return false;
    handlePopup(msg).then((r) => sendResponse(Object.assign({ ok: true }, r)), (e) => sendResponse(errorReply(e)));
    return true;
  }
  // A content script of this extension, in a web page: only `submitted`.
  if (sender && sender.id === chrome.runtime.id && sender.tab && validSubmitted(msg)) {
    onSubmitted(msg, sender).catch(() => {});
  }
  return false;
});
