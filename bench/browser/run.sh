#!/usr/bin/env bash
# The browser extension's fill latency, in one run (see
# internal/exttest/bench_test.go): a vault of 10,000 logins made with the
# real CLI, the agent unlocked, Chromium on an Xvfb display with the
# unpacked extension and the real native host; the fill shortcut
# (Alt+Shift+L) pressed with xdotool 50 times on a login page, timed from
# just before the key press to the test server receiving the page's first
# input event that carries the password. Then the native host's resident
# memory while idle.
#
#   bench/browser/run.sh                      10,000 logins, 50 presses
#   ITEMS=1000 PRESSES=20 bench/browser/run.sh  a quick look
#
# Needs chromium, xvfb, xdotool and xclip (scripts/deps.sh installs them).
# Results go to stdout, progress to stderr.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
echo "keyhold $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), $(go version | cut -d' ' -f3), $(chromium --version 2>/dev/null | head -1)" >&2
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
KEYHOLD_BROWSER_BENCH=1 KEYHOLD_BROWSER_BENCH_ITEMS=${ITEMS:-10000} KEYHOLD_BROWSER_BENCH_PRESSES=${PRESSES:-50} \
  CGO_ENABLED=0 go test -count=1 -timeout 30m -run '^TestFillLatencyBench$' -v ./internal/exttest |
  sed -e '/^=== RUN/d' -e '/^PASS$/d'
