// Keyhold extension: the one function the background injects into a
// page's frame, in the extension's isolated world.
//
// chrome.scripting serialises keyholdFrame and runs it in the frame, so it
// must stand alone: it may use nothing defined outside its own body.
// It runs in the isolated world, where the page's scripts cannot reach
// its variables, replace the DOM prototypes it calls, or see its
// arguments.
//
// req.op:
//   'probe'    — report whether this frame holds login fields and
//                whether its focused element is one. No values leave it.
//   'fill'     — fill req.username / req.password / req.totp into the
//                visible login fields, after checking that this document
//                is still at req.origin.
//   'generate' — fill req.password into the visible new-password fields
//                (and their confirmations); return the username typed in
//                the same form, for the offer to save.
// It returns only counts and, for 'generate', that username: never a
// value the page holds in a password field.
'use strict';

// eslint-disable-next-line no-unused-vars
function keyholdFrame(req) {
  const USERNAME_HINT = /user|login|logon|e-?mail|account|ident|phone|mobile|signin|nick/i;
  const NOT_USERNAME = /search|query|captcha|code|otp|token|coupon|promo|zip|postal|city|street|address|first.?name|last.?name/i;
  const OTP_HINT = /one.?time|otp|totp|2fa|mfa|two.?factor|verification.?code|auth.*code|security.?code|token/i;
  const NEW_PASSWORD_HINT = /new|confirm|repeat|retype|again|verify|create|register|signup|sign-up/i;
  const MIN_SIZE = 4; // px: fields smaller than this are hidden in practice
  const MIN_OPACITY = 0.1; // effective opacity below this counts as invisible

  const tokens = (el) => (el.getAttribute('autocomplete') || '').toLowerCase().split(/\s+/).filter(Boolean);

  // Every input of the document, including those in open shadow roots
  // (closed ones are the page's own business and stay untouched).
  function allInputs() {
    const out = [];
    const walk = (root) => {
      const w = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
      for (let n = w.currentNode; n; n = w.nextNode()) {
        if (n instanceof HTMLInputElement) out.push(n);
        if (n.shadowRoot) walk(n.shadowRoot);
      }
    };
    walk(document);
    return out;
  }

  // parentAcross steps to the parent element, crossing a shadow root to
  // its host.
  function parentAcross(el) {
    if (el.parentElement) return el.parentElement;
    const root = el.getRootNode();
    return root instanceof ShadowRoot ? root.host : null;
  }

  // visible: the field is enabled, editable, has a real size inside the
  // page and inside every clipping ancestor, is not hidden by CSS, by
  // opacity (its own or an ancestor's), by aria-hidden or by inert. A
  // login is never filled into anything else: a hidden field is how a
  // page would collect a secret the user did not see go in.
  function visible(el) {
    if (el.disabled || el.readOnly) return false;
    const r = el.getBoundingClientRect();
    if (r.width < MIN_SIZE || r.height < MIN_SIZE) return false;
    if (r.right + window.scrollX <= 0 || r.bottom + window.scrollY <= 0) return false;
    if (typeof el.checkVisibility === 'function' &&
        !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true, contentVisibilityAuto: true })) return false;
    let opacity = 1;
    let clip = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    for (let n = el; n; n = parentAcross(n)) {
      const s = getComputedStyle(n);
      if (s.visibility === 'hidden' || s.visibility === 'collapse' || s.display === 'none') return false;
      opacity *= parseFloat(s.opacity);
      if (!(opacity >= MIN_OPACITY)) return false;
      if (n.getAttribute('aria-hidden') === 'true' || n.hasAttribute('inert')) return false;
      if (s.clip && s.clip !== 'auto' && s.position === 'absolute') {
        const c = n.getBoundingClientRect();
        if (c.width < MIN_SIZE || c.height < MIN_SIZE) return false;
      }
      if (n !== el && (s.overflowX !== 'visible' || s.overflowY !== 'visible')) {
        const b = n.getBoundingClientRect();
        clip = {
          left: Math.max(clip.left, b.left), top: Math.max(clip.top, b.top),
          right: Math.min(clip.right, b.right), bottom: Math.min(clip.bottom, b.bottom),
        };
        if (clip.right - clip.left < MIN_SIZE || clip.bottom - clip.top < MIN_SIZE) return false;
      }
    }
    // An opaque element laid over the whole field hides it as well as
    // CSS would (a form kept behind a cover). Transparent covers do not
    // count: they hide nothing from the user.
    const cx = (r.left + r.right) / 2;
    const cy = (r.top + r.bottom) / 2;
    if (cx >= 0 && cy >= 0 && cx < window.innerWidth && cy < window.innerHeight) {
      const root = el.getRootNode();
      const hit = typeof root.elementFromPoint === 'function' ? root.elementFromPoint(cx, cy) : null;
      if (hit && hit !== el && !el.contains(hit) && !hit.contains(el) && !(el.labels && Array.from(el.labels).includes(hit))) {
        const h = hit.getBoundingClientRect();
        if (h.left <= r.left && h.top <= r.top && h.right >= r.right && h.bottom >= r.bottom && opacityOf(hit) >= MIN_OPACITY) return false;
      }
    }
    return true;
  }

  function opacityOf(el) {
    let o = 1;
    for (let n = el; n; n = parentAcross(n)) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  }

  // labelText: the words a user sees for the field (its labels,
  // aria-label, placeholder), for recognising what it asks for.
  function labelText(el) {
    const parts = [el.getAttribute('aria-label') || '', el.getAttribute('placeholder') || ''];
    if (el.labels) for (const l of el.labels) parts.push(l.textContent || '');
    return parts.join(' ');
  }

  function hints(el) {
    return `${el.name || ''} ${el.id || ''} ${labelText(el)}`;
  }

  function kind(el) {
    const type = String(el.type || 'text').toLowerCase();
    const ac = tokens(el);
    if (type === 'password') {
      if (ac.includes('new-password')) return 'new-password';
      if (ac.includes('current-password')) return 'password';
      return NEW_PASSWORD_HINT.test(`${el.name || ''} ${el.id || ''} ${labelText(el)}`) ? 'new-password' : 'password';
    }
    if (!['text', 'email', 'tel', 'number'].includes(type)) return '';
    if (ac.includes('one-time-code')) return 'otp';
    if (ac.includes('username') || ac.includes('email')) return 'username';
    const h = hints(el);
    if (OTP_HINT.test(h) && type !== 'email') return 'otp';
    if (type === 'number') return '';
    // Any other autocomplete token (name, address, …) says what the field is.
    if (ac.some((t) => t !== 'on' && t !== 'off')) return 'text';
    if (type === 'email' || (USERNAME_HINT.test(h) && !NOT_USERNAME.test(h))) return 'username';
    return 'text';
  }

  // The focused element, looked up through open shadow roots.
  function focused() {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a;
  }

  // formOf: the form a field belongs to, looked for across shadow roots
  // (a component library may give each input a shadow root of its own
  // inside the form), or the document when it has none.
  function formOf(el) {
    if (el.form) return el.form;
    for (let n = parentAcross(el); n; n = parentAcross(n)) if (n instanceof HTMLFormElement) return n;
    return document;
  }

  const fields = allInputs().filter(visible).map((el) => ({ el, kind: kind(el), form: formOf(el) }));
  const of = (k) => fields.filter((f) => f.kind === k);

  if (req.op === 'probe') {
    const a = focused();
    const af = fields.find((f) => f.el === a);
    const login = (f) => f.kind === 'username' || f.kind === 'password' || f.kind === 'new-password' || f.kind === 'otp';
    return {
      active: !!(af && (login(af) || (af.kind === 'text' && fields.some((f) => f.form === af.form && login(f))))),
      focus: document.hasFocus(),
      fields: fields.filter(login).length,
    };
  }

  // The document must still be the one the background chose, at the
  // origin the host matched the login against.
  if (typeof req.origin !== 'string' || location.origin !== req.origin) return { refused: true, filled: 0 };

  // set types a value the way a user's typing would reach the page's
  // code: the value through the native setter (the isolated world's own
  // prototype, which page scripts cannot replace), then the events
  // frameworks listen to.
  const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const opts = { bubbles: true, composed: true };
  function set(el, value) {
    el.focus({ preventScroll: true });
    setter.call(el, value);
    el.dispatchEvent(new InputEvent('input', { bubbles: true, composed: true, inputType: 'insertReplacementText' }));
    el.dispatchEvent(new Event('change', opts));
  }
  function leave(el) {
    el.blur();
  }

  // username chooses the username field that belongs with pw (the
  // nearest one before it in the same form), or, with no password field
  // in sight (the first page of a two-step login), the first field that
  // asks for a username.
  function usernameFor(pw) {
    const named = of('username');
    if (!pw) return named[0] || null;
    const before = fields.slice(0, fields.indexOf(pw)).filter((f) => f.form === pw.form);
    const u = before.filter((f) => f.kind === 'username');
    if (u.length) return u[u.length - 1];
    const t = before.filter((f) => f.kind === 'text');
    if (t.length) return t[t.length - 1];
    return null;
  }

  if (req.op === 'generate') {
    if (typeof req.password !== 'string' || !req.password) return { filled: 0 };
    const targets = of('new-password');
    if (!targets.length) return { filled: 0 };
    for (const f of targets) set(f.el, req.password);
    const u = usernameFor(targets[0]);
    for (const f of targets) leave(f.el);
    targets[targets.length - 1].el.focus({ preventScroll: true });
    return { filled: targets.length, username: u ? String(u.el.value || '').slice(0, 512) : '' };
  }

  if (req.op !== 'fill') return { filled: 0 };
  const done = [];
  const pw = of('password')[0] || null;
  const user = usernameFor(pw);
  if (user && typeof req.username === 'string' && req.username) {
    set(user.el, req.username);
    done.push(user.el);
  }
  if (pw && typeof req.password === 'string' && req.password) {
    set(pw.el, req.password);
    done.push(pw.el);
  }
  const otp = of('otp');
  if (otp.length && typeof req.totp === 'string' && req.totp) {
    // One field for the code, or one box per digit.
    const boxes = otp.filter((f) => f.el.maxLength === 1);
    if (boxes.length >= req.totp.length && otp[0].el.maxLength === 1) {
      for (let i = 0; i < req.totp.length; i++) {
        set(boxes[i].el, req.totp[i]);
        done.push(boxes[i].el);
      }
    } else {
      set(otp[0].el, req.totp);
      done.push(otp[0].el);
    }
  }
  for (const el of done) leave(el);
  if (done.length) done[done.length - 1].focus({ preventScroll: true });
  return { filled: done.length, found: (pw ? 1 : 0) + (user ? 1 : 0) + otp.length };
}
