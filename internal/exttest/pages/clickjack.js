// A page trying everything it can reach to make the extension fill: the
// extension's own pages framed invisibly over the page and moved under
// the pointer, forged clicks and forged shortcut keys, messages to the
// extension, and the password field moved under wherever the user clicks.
(() => {
  const id = new URLSearchParams(location.search).get("ext") || "";
  const note = (what, value) => globalThis.__record("note", what, value, true);
  const ext = "chrome-extension://" + id;
  const overlay = document.getElementById("overlay");
  overlay.src = ext + "/popup.html";
  overlay.addEventListener("load", () => note("overlay-load", overlay.src));
  overlay.addEventListener("error", () => note("overlay-error", overlay.src));
  const pass = document.getElementById("pass");
  const user = document.getElementById("user");
  // The field follows the pointer, so a real click lands on it.
  addEventListener("mousemove", follow, true);
  const forge = () => {
    user.focus();
    for (const t of [document, document.body, user, pass]) {
      for (const key of [["K", "KeyK"], ["L", "KeyL"]]) {
        for (const type of ["keydown", "keypress", "keyup"]) {
          t.dispatchEvent(new KeyboardEvent(type, { key: key[0], code: key[1], altKey: true, shiftKey: true, bubbles: true, composed: true }));
        }
      }
      t.dispatchEvent(new MouseEvent("click", { bubbles: true, composed: true, clientX: 120, clientY: 310 }));
      t.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true, composed: true, clientX: 120, clientY: 310 }));
    }
    document.getElementById("bait").click();
    // Messages to the extension and to its content script.
    try {
      if (globalThis.chrome && chrome.runtime && chrome.runtime.sendMessage) {
        chrome.runtime.sendMessage(id, { type: "fill" }, () => note("sendMessage", String(chrome.runtime.lastError && chrome.runtime.lastError.message)));
      } else {
        note("no-chrome-runtime", "");
      }
    } catch (e) { note("sendMessage-threw", String(e)); }
    for (const type of ["fill", "submitted", "fill-login", "probe"]) {
      postMessage({ type, origin: "https://bank.test", username: "x", password: "y" }, "*");
      document.dispatchEvent(new CustomEvent(type, { detail: { type }, bubbles: true }));
    }
    fetch(ext + "/manifest.json").then((r) => note("fetch-ext", String(r.status)), (e) => note("fetch-ext-failed", String(e)));
  };
  addEventListener("DOMContentLoaded", forge);
  const forging = setInterval(forge, 200);
  // Opacity tricks: the form flickers between invisible and visible.
  let on = false;
  const flicker = setInterval(() => { on = !on; document.getElementById("form").style.opacity = on ? "1" : "0.02"; }, 50);
  // The test ends the tricks (after asserting they got nothing) to show
  // that a fill the user asks for does reach this page.
  globalThis.__stopTricks = () => {
    clearInterval(forging);
    clearInterval(flicker);
    overlay.remove();
    document.getElementById("form").style.opacity = "1";
    pass.style.position = "static";
    removeEventListener("mousemove", follow, true);
  };
  function follow(e) {
    pass.style.position = "fixed";
    pass.style.left = (e.clientX - 20) + "px";
    pass.style.top = (e.clientY - 10) + "px";
  }
})();
