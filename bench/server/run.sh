#!/usr/bin/env bash
# Load benchmark of keyhold-server on SQLite and on PostgreSQL (see main.go).
#
#   bench/server/run.sh                           the defaults: 1,000 devices, 20 s per push phase,
#                                                 a 10,000-item vault, 1,000 idle streams (~5 min)
#   bench/server/run.sh --devices 200 --duration 5s --items 2000 --streams 200     a quick look
#   bench/server/run.sh --backends postgres --pg-params pool_max_conns=16
#   bench/server/run.sh --tmpfs                   databases in memory, no fsync: CPU cost only
#   bench/server/run.sh --json /tmp/server-bench.json
#   WAIT_LOAD=1.5 bench/server/run.sh             first wait (up to 15 min) for the 1-minute load
#                                                 average to fall below 1.5: the machine may be shared
#
# Results go to stdout, progress to stderr. Needs the PostgreSQL 15 server
# binaries (/usr/lib/postgresql/15/bin) for the postgres backend; as root,
# PostgreSQL runs as the postgres user.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(mktemp -d /tmp/keyhold-server-bench-bin.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
cd "$REPO"
CGO_ENABLED=0 go build -o "$BIN/keyhold-server" ./cmd/keyhold-server
CGO_ENABLED=0 go build -o "$BIN/server-bench" ./bench/server
if [[ -n ${WAIT_LOAD:-} ]]; then
    for _ in $(seq 180); do
        awk -v max="$WAIT_LOAD" '{ exit !($1 < max) }' /proc/loadavg && break
        sleep 5
    done
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
fi
echo "keyhold-server $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+changes'), $(go version | cut -d' ' -f3)" >&2
"$BIN/server-bench" --bin "$BIN/keyhold-server" "$@"
