#!/usr/bin/env bash
# Two builds of keyhold side by side, in one hyperfine run per figure, on
# the same 10,000 items: the everyday commands through the agent, a bulk
# import, folder sync and server sync. Use it to show that a change is no
# slower than the code before it; only the ratio of the two medians taken
# in one run means anything on a shared machine.
#
#   bench/ab/run.sh BASE              # BASE: a git revision, e.g. HEAD~5 or a tag
#   RUNS=20 N=10000 bench/ab/run.sh BASE
#
# Each build gets its own vault copies, its own agent and its own
# keyhold-server (SQLite, loopback). Figures:
#   show, search, add    through the unlocked agent
#   import               CSV into an empty vault (cheap KDF: the import's work)
#   folder-enable        `sync enable --folder`: the first snapshot of 10k items
#   folder-setup         a new device set up from that folder
#   server-setup         a new device set up from a server holding 10k items
#
# Settings (environment): N (10000), RUNS (15), RUNS_SLOW (5), AB_DIR
# (scratch, /tmp/keyhold-ab-bench), LOAD_MAX (1.5: wait until the 1-minute
# load average is below it, at most 600 s; 0 does not wait).
set -euo pipefail
BASE=${1:?usage: bench/ab/run.sh BASE-REVISION}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-10000}
RUNS=${RUNS:-15}
RUNS_SLOW=${RUNS_SLOW:-5}
LOAD_MAX=${LOAD_MAX:-1.5}
D=${AB_DIR:-/tmp/keyhold-ab-bench}
export PATH="$PATH:/usr/local/go/bin" LC_ALL=C.UTF-8
for t in hyperfine go python3 curl git; do
    command -v "$t" >/dev/null || { echo "missing $t (Debian: hyperfine, golang, python3, curl, git)" >&2; exit 2; }
done

pids=()
cleanup() {
    for b in old new; do
        [[ -x $D/$b/keyhold && -d $D/$b/agentvault ]] && "$D/$b/keyhold" --vault "$D/$b/agentvault" lock >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup
rm -rf "$D"
mkdir -p "$D/old" "$D/new" "$D/src-old"

echo "building $BASE and the working tree" >&2
(cd "$REPO" && git archive "$BASE") | tar -x -C "$D/src-old"
(cd "$D/src-old" && CGO_ENABLED=0 go build -o "$D/old/keyhold" ./cmd/keyhold && CGO_ENABLED=0 go build -o "$D/old/keyhold-server" ./cmd/keyhold-server)
(cd "$REPO" && CGO_ENABLED=0 go build -o "$D/new/keyhold" ./cmd/keyhold && CGO_ENABLED=0 go build -o "$D/new/keyhold-server" ./cmd/keyhold-server)

python3 - "$N" >"$D/entries.csv" <<'PY'
import random, sys
n = int(sys.argv[1]); r = random.Random(42)
print("title,username,password,url,notes")
for i in range(n):
    pw = "".join(r.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(20))
    print(f"g{i%10}/entry-{i:05d},user{i}@example.org,{pw},https://site{i}.example/login,note {i}")
PY
printf 'ab-bench-password-1\n' >"$D/pw"
export KEYHOLD_PASSWORD_FILE=$D/pw KEYHOLD_KEYSTORE=file XDG_RUNTIME_DIR=$D/run \
    XDG_STATE_HOME=$D/state XDG_CONFIG_HOME=$D/config XDG_DATA_HOME=$D/data XDG_CACHE_HOME=$D/cache
mkdir -p -m 700 "$D/run" "$D/state" "$D/config" "$D/data" "$D/cache"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for b in old new; do
    B=$D/$b K=$D/$b/keyhold
    # Both builds start from the same kind of vault, made by their own init.
    "$K" --vault "$B/empty" init --kdf-memory 8 --kdf-time 1 --kdf-threads 1 >/dev/null 2>&1
    cp -a "$B/empty" "$B/full"
    "$K" --vault "$B/full" import --format csv "$D/entries.csv" >/dev/null 2>&1
    cp -a "$B/full" "$B/agentvault"
    "$K" --vault "$B/agentvault" unlock --timeout 60m >/dev/null 2>&1
    echo 0 >"$B/counter"
    # A folder holding the 10k vault, for setting up new devices from it.
    cp -a "$B/full" "$B/foldervault"; mkdir "$B/folder"
    "$K" --vault "$B/foldervault" sync enable --folder "$B/folder" >/dev/null 2>&1
    "$K" --vault "$B/foldervault" kit --text >"$B/folderkit"
    # A server whose account holds the 10k items.
    port=$(freeport)
    "$B/keyhold-server" serve --listen "127.0.0.1:$port" --data "$B/server" --insecure-http --free-max-devices 0 \
        >"$B/server.log" 2>&1 &
    pids+=($!)
    echo "http://127.0.0.1:$port" >"$B/url"
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    cp -a "$B/full" "$B/servervault"
    "$K" --vault "$B/servervault" sync enable --server "$(cat "$B/url")" --device-name seed >/dev/null 2>&1
    "$K" --vault "$B/servervault" kit --text >"$B/serverkit"
done
[[ $("$D/old/keyhold" --vault "$D/old/agentvault" list | wc -l) == "$N" ]] || { echo "the old build's vault does not hold $N items" >&2; exit 1; }
# Item ids differ between the two imports; titles, types and users do not.
cmp -s <("$D/old/keyhold" --vault "$D/old/agentvault" list | awk '{print $1, $2, $3}') \
    <("$D/new/keyhold" --vault "$D/new/agentvault" list | awk '{print $1, $2, $3}') ||
    { echo "the two builds list different items" >&2; exit 1; }

if [[ $LOAD_MAX != 0 ]]; then
    for _ in $(seq 60); do awk -v m="$LOAD_MAX" '{exit !($1 >= m)}' /proc/loadavg || break; sleep 10; done
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $N items; base $(cd "$REPO" && git rev-parse --short "$BASE"), new $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet || echo +changes)"

# ab NAME RUNS PREPARE-TEMPLATE COMMAND-TEMPLATE: @B@ is the build's directory.
ab() {
    local name=$1 runs=$2 prep=$3 cmd=$4 args=()
    for b in old new; do
        args+=(--command-name "$b")
        [[ -n $prep ]] && args+=(--prepare "${prep//@B@/$D/$b}")
        args+=("${cmd//@B@/$D/$b}")
    done
    # hyperfine pairs each --prepare with its command in order.
    hyperfine --style basic --warmup 1 --runs "$runs" --export-json "$D/$name.json" "${args[@]}" >"$D/$name.txt" 2>&1 ||
        { cat "$D/$name.txt" >&2; exit 1; }
    python3 - "$name" "$D/$name.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[2]))["results"]}
print(f"{sys.argv[1]:<20} old {r['old']*1e3:9.1f} ms   new {r['new']*1e3:9.1f} ms   new/old {r['new']/r['old']:.2f}")
PY
}

unset KEYHOLD_PASSWORD_FILE # the agent answers the everyday commands
k=$((N * 4242 / 10000))     # g2/entry-04242 for 10k; search matches its ten neighbours
title=$(printf 'g%d/entry-%05d' $((k % 10)) "$k")
ab show "$RUNS" "" "@B@/keyhold --vault @B@/agentvault show $title --field password"
ab search "$RUNS" "" "@B@/keyhold --vault @B@/agentvault search ${title:3:9}"
ab add "$RUNS" "" "n=\$(cat @B@/counter); echo \$((n+1)) >@B@/counter; printf 'pw-\$n' | @B@/keyhold --vault @B@/agentvault add login g2/new-\$n --username u --password-stdin"
export KEYHOLD_PASSWORD_FILE=$D/pw
ab import "$RUNS_SLOW" "rm -rf @B@/imp && cp -a @B@/empty @B@/imp" "@B@/keyhold --vault @B@/imp import --format csv $D/entries.csv"
ab folder-enable "$RUNS_SLOW" "rm -rf @B@/fe @B@/fef && cp -a @B@/full @B@/fe && mkdir @B@/fef" "@B@/keyhold --vault @B@/fe sync enable --folder @B@/fef"
ab folder-setup "$RUNS_SLOW" "rm -rf @B@/fs" "@B@/keyhold setup --kit \$(cat @B@/folderkit) --folder @B@/folder --vault @B@/fs"
ab server-setup "$RUNS_SLOW" "rm -rf @B@/ss" "@B@/keyhold setup --kit \$(cat @B@/serverkit) --server \$(cat @B@/url) --vault @B@/ss --device-name bench"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw hyperfine output in $D/*.txt" >&2
