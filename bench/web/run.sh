#!/usr/bin/env bash
# The web vault in Chromium, in one run (see web_test.go and
# docs/BENCHMARKS.md "Web vault"): cold load, unlock at t=3, 256 MiB, p=4
# with 10,000 items against the native key derivation, search per
# keystroke, opening an item, a browser edit reaching `keyhold sync
# --watch`, and the tab's memory.
#
#   bench/web/run.sh                       10,000 items (a few minutes)
#   ITEMS=1000 bench/web/run.sh            a quick look
#   bench/web/run.sh --json /tmp/web.json  also the figures as JSON
#
# Needs Debian's chromium (scripts/deps.sh installs it). Results go to
# stdout, progress to stderr.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
json=""
if [[ ${1:-} == --json ]]; then json=$2; fi
echo "keyhold $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), $(go version | cut -d' ' -f3), $(chromium --version 2>/dev/null | head -1)" >&2
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
KEYHOLD_WEB_BENCH=1 KEYHOLD_WEB_BENCH_ITEMS=${ITEMS:-10000} KEYHOLD_WEB_BENCH_JSON=$json \
  CGO_ENABLED=0 go test -v -count=1 -timeout 30m -run TestWebBench ./bench/web
