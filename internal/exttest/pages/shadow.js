// A sign-in form inside an open shadow root, as web-component sites
// build them; with ?nested=1 the password field sits in a shadow root of
// its own inside the form's (component libraries wrap each input so).
const nested = new URLSearchParams(location.search).has("nested");
customElements.define("login-fields", class extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<label for="pass">Password</label> <input id="pass" type="password" autocomplete="current-password">`;
  }
});
customElements.define("login-box", class extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    const pass = nested ? `<login-fields></login-fields>`
      : `<label for="pass">Password</label> <input id="pass" type="password" autocomplete="current-password">`;
    root.innerHTML = `<form id="form" action="/done" method="post">
      <label for="user">Email</label> <input id="user" type="email" autocomplete="username">
      ${pass}
      <button type="submit">Sign in</button></form>`;
  }
});
