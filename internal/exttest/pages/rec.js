// The test pages' recorder: everything a page could learn about the
// values of its fields, reported to the test server (POST /report), so
// that a test can assert a secret never reached a page. It runs first in
// every page, before the page's own code, and watches: input, change,
// key, clipboard and focus events (capture phase on window, so events
// from open shadow roots arrive too, their real target from
// composedPath), every field's value by polling every 5 ms (a page can
// read a value without any event), and attribute changes (a
// MutationObserver on the document and on every shadow root).
(() => {
  "use strict";
  const queue = [];
  let timer = 0;
  const flush = () => {
    timer = 0;
    if (!queue.length) return;
    const batch = queue.splice(0);
    fetch("/report", { method: "POST", body: JSON.stringify(batch), keepalive: true }).catch(() => {});
  };
  const send = (kind, field, value, trusted) => {
    queue.push({
      kind, field: field || "", value: value == null ? "" : String(value), trusted: !!trusted,
      origin: location.origin, path: location.pathname, t: performance.timeOrigin + performance.now(),
    });
    // An input event carrying a value goes out at once (the latency
    // benchmark waits for it); the rest in small batches.
    if (kind === "input") flush();
    else if (!timer) timer = setTimeout(flush, 5);
  };
  globalThis.__record = send;
  const nameOf = (el) => (el && (el.id || el.name || el.getAttribute && el.getAttribute("aria-label") || el.tagName)) || "";
  const targetOf = (e) => (e.composedPath && e.composedPath()[0]) || e.target;
  for (const type of ["input", "change", "beforeinput", "keydown", "keypress", "keyup", "paste", "copy", "cut", "focusin", "focusout", "click", "submit"]) {
    addEventListener(type, (e) => {
      const el = targetOf(e);
      const value = el && "value" in el ? el.value : "";
      const extra = e.key ? e.key : e.data ? e.data : "";
      send(type, nameOf(el), extra && type.startsWith("key") ? extra : (type === "beforeinput" ? (e.data || "") : value), e.isTrusted);
    }, true);
  }
  const roots = new Set([document]);
  const last = new WeakMap();
  const observe = (root) => {
    new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.type === "attributes") send("attr", nameOf(m.target) + "@" + m.attributeName, m.target.getAttribute(m.attributeName), true);
        for (const n of m.addedNodes || []) if (n.shadowRoot) track(n.shadowRoot);
      }
    }).observe(root, { attributes: true, childList: true, subtree: true, characterData: true });
  };
  const track = (root) => {
    if (roots.has(root) && root !== document) return;
    roots.add(root);
    observe(root);
  };
  observe(document);
  // Shadow roots the page makes later (open or closed) are watched too.
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    queueMicrotask(() => track(root));
    return root;
  };
  const poll = () => {
    for (const root of roots) {
      for (const el of root.querySelectorAll("input, textarea")) {
        const v = el.value;
        if (last.get(el) !== v) {
          last.set(el, v);
          if (v !== "") send("poll", nameOf(el), v, true);
        }
      }
    }
  };
  setInterval(poll, 5);
  addEventListener("DOMContentLoaded", () => send("ready", "", document.title, true));
})();
