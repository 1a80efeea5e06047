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

  // visible: the field is one a person can see and use. It is enabled
  // and editable, has a real size, lies (at least partly) inside the
  // viewport and inside every clipping ancestor, is not hidden by CSS,
  // opacity (its own or an ancestor's), a clip-path, mask or filter,
  // aria-hidden or inert, and nothing that shows is laid over it. A login
  // is never filled into anything else: a hidden field is how a page
  // would collect a secret the user did not see go in.
  function visible(el) {
    if (el.disabled || el.readOnly) return false;
    const r = el.getBoundingClientRect();
    if (r.width < MIN_SIZE || r.height < MIN_SIZE) return false;
    // The part inside the viewport (of this frame) must be a real size.
    const vw = document.documentElement.clientWidth || window.innerWidth;
    const vh = document.documentElement.clientHeight || window.innerHeight;
    const view = {
      left: Math.max(r.left, 0), top: Math.max(r.top, 0),
      right: Math.min(r.right, vw), bottom: Math.min(r.bottom, vh),
    };
    if (view.right - view.left < MIN_SIZE || view.bottom - view.top < MIN_SIZE) return false;
    if (typeof el.checkVisibility === 'function' &&
        !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true, contentVisibilityAuto: true })) return false;
    let opacity = 1;
    let clip = view;
    for (let n = el; n; n = parentAcross(n)) {
      const s = getComputedStyle(n);
      if (s.visibility === 'hidden' || s.visibility === 'collapse' || s.display === 'none') return false;
      opacity *= parseFloat(s.opacity);
      if (!(opacity >= MIN_OPACITY)) return false;
      if (n.getAttribute('aria-hidden') === 'true' || n.hasAttribute('inert')) return false;
      // A clip-path, mask or filter can hide the field while its box
      // stays where it was (clip-path: inset(50%), filter: opacity(0)):
      // a login form has no need of them.
      if (!none(s.clipPath) || !none(s.maskImage) || !none(s.webkitMaskImage) || !none(s.filter) ||
          !none(s.webkitMaskBoxImageSource)) return false;
      if (s.clip && s.clip !== 'auto' && (s.position === 'absolute' || s.position === 'fixed')) {
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
    return !covered(el, clip);
  }

  const none = (v) => v === undefined || v === null || v === '' || v === 'none';

  // covered: something that shows lies over the field at one of several
  // points of its visible box (the centre and four points inset from the
  // corners). At each point the browser's hit test, in the field's own
  // tree (a shadow root hit-tests its own elements), lists the elements
  // from the top; every one above the field must show nothing (it is
  // transparent, hidden, or paints no background or content). Elements
  // that take no pointer events are missing from that list, so they are
  // looked for separately (coveredByInert). Away from the centre, a small
  // control over the field (at most 30 % of its width: the button that
  // shows a password, an icon in the field) is part of the field's look,
  // not a cover; anything over the centre is.
  function covered(el, box) {
    const w = box.right - box.left;
    const h = box.bottom - box.top;
    const points = [[0.5, 0.5], [0.2, 0.25], [0.8, 0.25], [0.2, 0.75], [0.8, 0.75]]
      .map(([fx, fy]) => [box.left + fx * w, box.top + fy * h]);
    const fieldWidth = el.getBoundingClientRect().width;
    const hides = (n, centre) => shows(n) && (centre || n.getBoundingClientRect().width > 0.3 * fieldWidth);
    const root = el.getRootNode();
    const hitTest = typeof root.elementsFromPoint === 'function' ? root : document;
    const own = (n) => n === el || el.contains(n) || isLabelOf(n, el);
    for (const [i, [x, y]] of points.entries()) {
      const stack = hitTest.elementsFromPoint(x, y);
      let reached = false;
      for (const n of stack) {
        if (own(n)) {
          reached = true;
          break;
        }
        if (n.contains(el) || (n.shadowRoot && n.shadowRoot.contains(el)) || hostOf(el, n)) continue; // an ancestor (or a shadow host) of the field
        if (hides(n, i === 0)) return true;
      }
      // Not hit at all: the field takes no pointer events (a person
      // could not click it) or is hidden under something the hit test
      // stops at.
      if (!reached) return true;
    }
    return coveredByInert(el, points, hides);
  }

  // hostOf: n is a shadow host on the field's way up to the document.
  function hostOf(el, n) {
    for (let x = parentAcross(el); x; x = parentAcross(x)) if (x === n) return true;
    return false;
  }

  function isLabelOf(n, el) {
    if (!el.labels) return false;
    for (const l of el.labels) if (l === n || l.contains(n)) return true;
    return false;
  }

  // shows: the element paints something a person sees at a point inside
  // its box: it is visible and not (nearly) transparent, and it has a
  // background, a border, text of its own, or replaced content (an
  // image, a frame, a canvas, a control).
  function shows(n) {
    const s = getComputedStyle(n);
    if (s.visibility !== 'visible') return false;
    if (!(opacityOf(n) >= MIN_OPACITY)) return false;
    if (/^(IMG|VIDEO|CANVAS|IFRAME|EMBED|OBJECT|INPUT|TEXTAREA|SELECT|BUTTON)$/.test(n.tagName)) return true;
    if (typeof SVGGraphicsElement === 'function' && n instanceof SVGGraphicsElement) return true;
    if (!transparent(s.backgroundColor) || !none(s.backgroundImage)) return true;
    if (!none(s.boxShadow) || !none(s.backdropFilter)) return true;
    for (const side of ['Top', 'Right', 'Bottom', 'Left']) {
      if (parseFloat(s[`border${side}Width`]) > 0 && s[`border${side}Style`] !== 'none' && !transparent(s[`border${side}Color`])) return true;
    }
    for (const c of n.childNodes) if (c.nodeType === Node.TEXT_NODE && c.nodeValue.trim()) return true;
    return false;
  }

  function transparent(color) {
    if (!color || color === 'transparent') return true;
    const m = /rgba?\(([^)]*)\)/.exec(color);
    if (!m) return false;
    const parts = m[1].split(/[\s,\/]+/).filter(Boolean);
    return parts.length >= 4 && parseFloat(parts[3]) === 0;
  }

  // coveredByInert: an element that takes no pointer events
  // (pointer-events: none) is left out of every hit test, yet it shows
  // like any other: a cover of that kind over one of the points, painted
  // above the field, hides it. Painted above: it is positioned without a
  // negative z-index, or comes after the field in the document.
  let inertCovers = null;
  function coveredByInert(el, points, hides) {
    if (inertCovers === null) {
      inertCovers = [];
      const walk = (root) => {
        const w = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
        for (let n = w.currentNode; n; n = w.nextNode()) {
          if (n.nodeType === Node.ELEMENT_NODE && getComputedStyle(n).pointerEvents === 'none' && shows(n)) inertCovers.push(n);
          if (n.shadowRoot) walk(n.shadowRoot);
        }
      };
      walk(document);
    }
    for (const n of inertCovers) {
      if (n === el || n.contains(el) || el.contains(n) || hostOf(el, n) || isLabelOf(n, el)) continue;
      const b = n.getBoundingClientRect();
      if (!points.some((pt) => inBox(pt, b))) continue;
      if (paintedAbove(n, el) && hides(n, inBox(points[0], b))) return true;
    }
    return false;
  }

  const inBox = ([x, y], b) => x >= b.left && x < b.right && y >= b.top && y < b.bottom;

  function opacityOf(el) {
    let o = 1;
    for (let n = el; n; n = parentAcross(n)) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  }

  function paintedAbove(n, el) {
    let positioned = false;
    for (let x = n; x && !x.contains(el); x = parentAcross(x)) {
      const s = getComputedStyle(x);
      const z = parseInt(s.zIndex, 10);
      if (z < 0) return false;
      if (s.position !== 'static') positioned = true;
    }
    if (positioned) return true;
    if (n.getRootNode() !== el.getRootNode()) return true;
    return !!(el.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING);
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

  let fields = allInputs().filter(visible).map((el) => ({ el, kind: kind(el), form: formOf(el) }));
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

  // chooseForm: the form to fill. The form of the focused element when
  // it holds fields of the kinds asked for; else, with something focused,
  // the form whose field lies nearest to it; with nothing focused, the
  // form of the first such field (a password field first). A login never
  // goes to another form than the one the user is in.
  function chooseForm(kinds) {
    const wanted = fields.filter((f) => kinds.includes(f.kind));
    if (!wanted.length) return null;
    const a = focused();
    if (a && a !== document.body && a !== document.documentElement) {
      const fa = formOf(a);
      if (wanted.some((f) => f.form === fa)) return fa;
      const ar = a.getBoundingClientRect();
      let best = null;
      let bestD = Infinity;
      for (const f of wanted) {
        const d = distance(ar, f.el.getBoundingClientRect());
        if (d < bestD) {
          best = f.form;
          bestD = d;
        }
      }
      return best;
    }
    const first = wanted.find((f) => f.kind === kinds[0]) || wanted[0];
    return first.form;
  }

  function distance(a, b) {
    const dx = Math.max(0, b.left - a.right, a.left - b.right);
    const dy = Math.max(0, b.top - a.bottom, a.top - b.bottom);
    return Math.hypot(dx, dy);
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

  // From here on only the chosen form's fields count.
  const scopeKinds = req.op === 'generate' ? ['new-password'] : ['password', 'username', 'otp'];
  const form = chooseForm(scopeKinds);
  fields = fields.filter((f) => f.form === form);

  if (req.op === 'generate') {
    if (typeof req.password !== 'string' || !req.password) return { filled: 0 };
    const targets = of('new-password');
    if (!targets.length) return { filled: 0 };
    for (const f of targets) set(f.el, req.password);
    const u = usernameFor(targets[0]);
    for (const f of targets) leave(f.el);
    targets[targets.length - 1].el.focus({ preventScroll: true });
    return { filled: targets.length, username: u ? String(u.el.value || '').slice(0, 1024) : '' };
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
