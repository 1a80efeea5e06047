#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as independent,
# real programs: zbarimg (an independent QR decoder), pdftoppm/pdftotext
# (rendering the printed kit), Xvfb + xclip (a real clipboard), Ghostscript
# and qpdf (PDFs made and encrypted by other producers), PostgreSQL's
# server binaries (the server tests start a throwaway cluster; nothing is
# left running), gpg and age (decrypting the kit emails independently), keepassxc-cli
# (KeePass databases made and opened by KeePassXC itself), GNOME Keyring with
# secret-tool and dbus (a real Secret Service for the key-store tests),
# Syncthing (two real instances carry a sync folder), Node.js (runs the
# vault's core compiled to js/wasm, as a browser would) and Chromium (the
# web vault's end-to-end tests drive Debian's own browser build headless;
# nothing downloads a browser of its own), and xdotool (the extension's
# keyboard-shortcut tests press real keys in Chromium under Xvfb). Safe to run again:
# it installs only what is missing. Needs root (or sudo) and Debian's package registry.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have zbarimg   || need+=(zbar-tools)
have pdftoppm  || need+=(poppler-utils)
have Xvfb      || need+=(xvfb)
have xclip     || need+=(xclip)
have gs        || need+=(ghostscript)
have qpdf      || need+=(qpdf)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
have gpg       || need+=(gnupg)
have age       || need+=(age)
have keepassxc-cli        || need+=(keepassxc)
have gnome-keyring-daemon || need+=(gnome-keyring)
have dbus-launch          || need+=(dbus-x11)
have secret-tool          || need+=(libsecret-tools)
have dbus-run-session     || need+=(dbus)
have syncthing            || need+=(syncthing)
have node                 || need+=(nodejs)
have chromium             || need+=(chromium)
have xdotool              || need+=(xdotool)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
