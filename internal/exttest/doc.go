// Package exttest runs the browser extension end to end, as its users
// meet it: the real keyhold binary (built from this repository) making a
// vault, installing the native messaging host with `keyhold browser
// install --user-data-dir` and unlocking the agent with `keyhold unlock`;
// Debian's Chromium, with a window on an Xvfb display, loading the
// unpacked extension from extension/; and test pages served over HTTPS on
// loopback under made-up host names that Chromium resolves to 127.0.0.1.
//
// Chromium starts the native host itself, as it does for a user, so the
// host finds the agent the CLI started through the environment the two
// share (HOME, XDG_RUNTIME_DIR, XDG_STATE_HOME, DISPLAY). A key press made
// with xdotool on the Xvfb display is a real key press: it reaches the
// extension's keyboard shortcuts (chrome.commands), which key events sent
// through the DevTools protocol, or a headless browser, never do. Clicks
// in the popup go through the DevTools protocol's input domain, which the
// browser treats as the user's own (isTrusted).
//
// Every test page records every value its fields and listeners ever saw
// (input, change and key events, values read by polling, attribute
// changes seen by a MutationObserver) and reports them to the test server,
// so a test can assert that a secret never reached a page.
//
// The programs the harness drives (chromium, Xvfb, xdotool, xclip) come
// from scripts/deps.sh; a test that needs one skips when it is missing, or
// fails under CI (testenv.NeedProgram).
package exttest
