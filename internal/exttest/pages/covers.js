// Hides the login form from the user in the way ?case= names, while its
// fields keep their size, stay enabled and (but for the fixed cases)
// where they were:
//   fixed-right, fixed-below — fixed beyond the right or bottom edge of
//                              the viewport;
//   clip-path                — clip-path: inset(50%) on the form;
//   filter                   — filter: opacity(0) on the form;
//   inert-cover              — an opaque white sheet over the form that
//                              takes no pointer events (clicks go through
//                              to the fields, the hit test skips it);
//   tiles                    — two opaque sheets side by side over the
//                              form, meeting in the middle of the fields
//                              (neither covers a whole field);
//   controls                 — nothing hidden, but, as many login forms
//                              have, a "Show" button laid over the right
//                              end of the password field and an icon that
//                              lets clicks through over the left end of
//                              the email field;
//   none                     — nothing hidden.
(() => {
  const c = new URLSearchParams(location.search).get("case") || "none";
  document.documentElement.className = c;
  const sheet = (left, top, width, height, cls) => {
    const d = document.createElement("div");
    d.className = "cover " + cls;
    Object.assign(d.style, { left: left + "px", top: top + "px", width: width + "px", height: height + "px" });
    document.body.append(d);
  };
  const r = document.getElementById("form").getBoundingClientRect();
  const x = r.left + scrollX;
  const y = r.top + scrollY;
  if (c === "inert-cover") sheet(x - 5, y - 5, r.width + 10, r.height + 10, "inert-cover");
  if (c === "controls") {
    const p = document.getElementById("pass").getBoundingClientRect();
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Show";
    b.className = "cover";
    // A quarter of the field's width, at its end: over the inset corners
    // where the extension looks, but not over the centre.
    const bw = Math.round(p.width * 0.27);
    Object.assign(b.style, { left: (p.right + scrollX - bw - 2) + "px", top: (p.top + scrollY + 2) + "px", width: bw + "px", height: (p.height - 4) + "px", margin: "0", padding: "0" });
    document.body.append(b);
    const u = document.getElementById("user").getBoundingClientRect();
    sheet(u.left + scrollX + 2, u.top + scrollY + 2, Math.round(u.width * 0.25), u.height - 4, "inert-cover");
  }
  if (c === "tiles") {
    // Split down the middle of the fields (both are as wide as each
    // other, one above the other).
    const p = document.getElementById("pass").getBoundingClientRect();
    const split = Math.round(p.left + scrollX + p.width / 2);
    sheet(x - 5, y - 5, split - x + 5, r.height + 10, "");
    sheet(split, y - 5, x + r.width + 5 - split, r.height + 10, "");
  }
})();
