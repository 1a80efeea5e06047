// Keyhold extension: the capture script, in every http(s) frame.
//
// It does one thing: when the user sends a login form (the form's submit,
// a click on its submit button, or Enter in one of its fields) it tells
// the background the username and password that were typed, so that
// Keyhold can offer — in its own popup, never in the page — to save a new
// login or update a changed password. It sends nothing else, shows
// nothing in the page, and reports a form only when the user sent it:
// the event is the browser's own (isTrusted) and comes with a user
// activation (a page's script can call form.requestSubmit() or
// button.click() and get a trusted submit event, but not a key press or
// click of the user's), and each value reported is the one the user's
// own typing left in its field (a page that sets or changes a value from
// script gets nothing reported). The origin of the login is not part of
// the message: the background takes it from the browser's record of the
// sending frame.
'use strict';

(() => {
  const SUBMIT_WORDS = /log.?in|sign.?in|sign.?up|register|create|continue|next|submit|save|change|update|join|enter/i;
  let last = { key: '', at: 0 };

  const isInput = (n) => n instanceof HTMLInputElement;
  const isPassword = (n) => isInput(n) && n.type === 'password';
  const isUserField = (n) => isInput(n) && ['text', 'email', 'tel'].includes(n.type);

  // parentAcross steps to the parent element, crossing a shadow root to
  // its host.
  function parentAcross(n) {
    if (n.parentElement) return n.parentElement;
    const root = n.getRootNode();
    return root instanceof ShadowRoot ? root.host : null;
  }

  // inputsUnder: every input under root, in document order, open shadow
  // roots included.
  function inputsUnder(root) {
    const out = [];
    const walk = (r) => {
      const w = document.createTreeWalker(r, NodeFilter.SHOW_ELEMENT);
      for (let n = w.currentNode; n; n = w.nextNode()) {
        if (isInput(n)) out.push(n);
        if (n.shadowRoot) walk(n.shadowRoot);
      }
    };
    walk(root);
    return out;
  }

  // scopeOf: the inputs that were sent together with el — those of its
  // form (found across shadow roots), or of the whole page when it has
  // no form element.
  function scopeOf(el) {
    let form = el.form || null;
    for (let n = el; n && !form; n = parentAcross(n)) if (n instanceof HTMLFormElement) form = n;
    return inputsUnder(form || document);
  }

  // typed remembers, per field, the value the user's last own input
  // event left in it. A value the page set or changed afterwards differs
  // from it and is not the user's.
  const typed = new WeakMap();
  const byUser = (n) => n.value !== '' && typed.get(n) === n.value;

  // pick returns {username, password} from a set of inputs, or null when
  // neither was typed. With new-password fields (sign-up, change of
  // password) the new password is the one to keep. Only fields whose
  // value the user typed count.
  function pick(inputs) {
    const pws = inputs.filter((n) => isPassword(n) && byUser(n));
    const ac = (n) => (n.getAttribute('autocomplete') || '').toLowerCase();
    const firstPw = inputs.find(isPassword);
    let password = '';
    if (pws.length) {
      const fresh = pws.filter((n) => ac(n).includes('new-password'));
      if (fresh.length) password = fresh[0].value;
      else if (pws.length === 3) password = pws[1].value;
      else if (pws.length === 2 && pws[0].value !== pws[1].value) password = pws[1].value;
      else password = pws[pws.length - 1].value;
    }
    const before = firstPw ? inputs.slice(0, inputs.indexOf(firstPw)) : inputs;
    const users = before.filter((n) => isUserField(n) && byUser(n));
    const named = users.filter((n) => /username|email/.test(ac(n)));
    const u = named[0] || users[users.length - 1];
    const username = u ? u.value : '';
    if (!password && !username) return null;
    return { username, password };
  }

  // fromUser: the browser says the user is acting now (a key press or
  // click of theirs, moments ago); a page's script cannot make that so.
  const fromUser = (e) => e.isTrusted && !!navigator.userActivation && navigator.userActivation.isActive === true;

  function report(el) {
    const scope = scopeOf(el);
    const got = pick(scope);
    if (!got) return;
    // A username alone, from a form without a password field, is the
    // first page of a two-step login: the background keeps it for the
    // password page that follows.
    if (!got.password && scope.some(isPassword)) return;
    const key = `${got.username}\u0000${got.password}`;
    const now = Date.now();
    if (key === last.key && now - last.at < 2000) return;
    last = { key, at: now };
    try {
      chrome.runtime.sendMessage({ type: 'submitted', username: got.username, password: got.password }).catch(() => {});
    } catch {
      // The extension was reloaded; this page's copy of the script is stale.
    }
  }

  // The element an event really reached, inside open shadow roots.
  const origin = (e) => (e.composedPath && e.composedPath()[0]) || e.target;

  window.addEventListener('input', (e) => {
    const t = origin(e);
    if (!isInput(t)) return;
    if (e.isTrusted) typed.set(t, t.value);
    else typed.delete(t);
  }, true);

  window.addEventListener('submit', (e) => {
    if (!fromUser(e) || !(e.target instanceof HTMLFormElement)) return;
    const first = Array.from(e.target.elements).find(isInput);
    if (first) report(first);
  }, true);

  window.addEventListener('click', (e) => {
    if (!fromUser(e)) return;
    const path = e.composedPath ? e.composedPath() : [e.target];
    const b = path.find((n) => n instanceof HTMLButtonElement ||
      (isInput(n) && (n.type === 'submit' || n.type === 'image')) ||
      (n instanceof Element && n.getAttribute('role') === 'button'));
    if (!b) return;
    const submitLike = (b instanceof HTMLButtonElement && b.type === 'submit' && b.form) ||
      isInput(b) || SUBMIT_WORDS.test(`${b.textContent || ''} ${b.getAttribute('aria-label') || ''} ${b.value || ''}`);
    if (submitLike) report(b);
  }, true);

  window.addEventListener('keydown', (e) => {
    if (!fromUser(e) || e.key !== 'Enter') return;
    const t = origin(e);
    if (isPassword(t) || isUserField(t)) report(t);
  }, true);
})();
