#!/usr/bin/env bash
# Whole-process benchmarks of keyhold, measured the way the peer benchmarks
# measure keepassxc-cli, pass and gopass: the same generated entries, the same
# `measure` helper (hyperfine medians + peak RSS of the largest process), the
# same results.tsv, so keyhold's rows sit next to the peers' in one report.
#
#   bench/keyhold.sh                 ~5-10 min on 2 cores
#   PEERS=/path/to/peers bench/keyhold.sh
#
# Settings (environment): everything common.sh reads (RUNS, RUNS_SLOW,
# RSS_RUNS, PEERBENCH_DIR, PEERBENCH_RESULTS, MASTER_PW), and
#   PEERS        the peer scripts (default: <repo>/../shared/bench/peers)
#   N_HUGE       entries of the big vault (default 100000)
#   LOAD_MAX     wait until the 1-min load average is below this (default 1.5; 0 = don't wait)
#   LOAD_WAIT_S  wait at most this long for it (default 1200)
#   GOBENCH      0 skips the `go test -bench` step (default 1)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS:-$REPO/../shared/bench/peers}
[[ -f $PEERS/common.sh ]] || { echo "peer scripts not found in $PEERS: set PEERS" >&2; exit 2; }
# shellcheck source=/dev/null
source "$PEERS/common.sh"
export PATH="$PATH:/usr/local/go/bin"
need hyperfine; need go

N_HUGE=${N_HUGE:-100000}
D=$PB/keyhold
KH=$PB/keyhold-bin/keyhold
KDFTIME=$PB/keyhold-bin/kdftime   # keys.Derive alone (bench/kdftime), for the KDF split
PW_FILE=$D/pw.txt

# The vaults an agent may hold unlocked; all are locked on exit, whatever happens.
AGENT_VAULTS=("$D/v10k" "$D/v100k")
lock_all() {
    local v
    for v in "${AGENT_VAULTS[@]}"; do
        [[ -d $v ]] && "$KH" --vault "$v" lock >/dev/null 2>&1 || true
    done
}
trap lock_all EXIT

# wait_for_quiet: the machine is shared; timing on a loaded machine measures
# the other jobs.  Poll the 1-min load average every 30 s.
wait_for_quiet() {
    local max=${LOAD_MAX:-1.5} limit=${LOAD_WAIT_S:-1200} waited=0 load
    [[ $max == 0 ]] && return 0
    while :; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$max" 'BEGIN{exit !(l < m)}'; then
            log "load $load < $max after ${waited}s of waiting"
            break
        fi
        if ((waited >= limit)); then
            log "load still $load after ${waited}s: measuring anyway (noted in meta)"
            break
        fi
        log "load $load >= $max: waiting 30 s"
        sleep 30; waited=$((waited + 30))
    done
    meta keyhold.load_at_start "$(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load averages before the keyhold measurements; ${waited}s waited; $(nproc) cores)"
}

# paired NAME N 'A' 'B': run A then B, alternately, N times (after one warm-up
# of each), timing every run; meta gets the medians of A, B and of A-B per
# pair.  Alternating cancels most of the drift of a shared machine, which
# a difference of two hyperfine medians taken minutes apart does not.
paired() {
    local name=$1 n=$2 a=$3 b=$4 i t0 t1 t2
    log "paired $name ($n pairs): [$a] vs [$b]"
    sh -c "$a" >/dev/null 2>&1 </dev/null; sh -c "$b" >/dev/null 2>&1 </dev/null
    : >"$RES/$name.pairs"
    for ((i = 0; i < n; i++)); do
        t0=$(now_ns); sh -c "$a" >/dev/null 2>&1 </dev/null
        t1=$(now_ns); sh -c "$b" >/dev/null 2>&1 </dev/null
        t2=$(now_ns)
        echo "$(((t1 - t0) / 1000)) $(((t2 - t1) / 1000))" >>"$RES/$name.pairs"
    done
    meta "pair.$name" "$("$PY" -c 'import statistics as s,sys
p=[tuple(int(x) for x in l.split()) for l in open(sys.argv[1])]
a=s.median(x for x,_ in p)/1e3; b=s.median(y for _,y in p)/1e3
d=s.median((x-y) for x,y in p)/1e3; r=s.median(x/y for x,y in p)
print(f"A {a:.1f} ms, B {b:.1f} ms, A-B {d:+.1f} ms, A/B {r:.2f}x (medians of {len(p)} alternating pairs, wall incl. sh -c)")' "$RES/$name.pairs") | A: $a | B: $b"
}

# ---------------------------------------------------------------- build + data
lock_all   # an agent left from an earlier run would hold a vault about to be deleted
rm -rf "$D" && mkdir -p "$D" "$(dirname "$KH")"
log "build keyhold"
(cd "$REPO" && CGO_ENABLED=0 go build -o "$KH" ./cmd/keyhold &&
    CGO_ENABLED=0 go build -o "$KDFTIME" ./bench/kdftime)
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
meta keyhold.version "keyhold $rev ($(go version | awk '{print $3}'), CGO_ENABLED=0), $(stat -c %s "$KH") bytes"
# start-up: the package inits that take longest (what --help costs before main)
GODEBUG=inittrace=1 "$KH" --help 2>&1 >/dev/null |
    awk '/^init /{ms=$5; print ms, $2}' | sort -g -r | head -5 |
    awk '{printf "%s%s %s ms", (NR>1?"; ":""), $2, $1}' >"$D/inittrace.txt"
meta keyhold.inittrace_top5 "$(cat "$D/inittrace.txt") (GODEBUG=inittrace=1 keyhold --help, clock time per package init)"

printf '%s\n' "$MASTER_PW" >"$PW_FILE"
chmod 600 "$PW_FILE"

# gen_entries.py TSV -> keyhold CSV; title = group/title, so it equals pass' path.
to_csv() { # to_csv N OUT
    "$PY" "$BENCH_DIR/gen_entries.py" "$1" tsv "$D/entries-$1.tsv"
    awk -F'\t' 'BEGIN{OFS=","; print "title,username,password,url,notes"}
        {for (i = 1; i <= 6; i++) gsub(/"/, "\"\"", $i);
         printf "\"%s/%s\",\"%s\",\"%s\",\"%s\",\"%s\"\n", $1, $2, $3, $5, $4, $6}' \
        "$D/entries-$1.tsv" >"$2"
    rm -f "$D/entries-$1.tsv"
}
to_csv "$N_LARGE" "$D/large.csv"

wait_for_quiet

K="$KH --vault"            # K DIR COMMAND...
kdf_of() { # kdf_of VAULT -> "argon2id t=3 m=256MiB p=4"
    $K "$1" status --json | "$PY" -c 'import json,sys
k = json.load(sys.stdin)["kdf"]
print("%s t=%d m=%dMiB p=%d" % (k["algorithm"], k["time"], k["memory_mib"], k["threads"]))'
}
KP="$KH --password-file $PW_FILE --vault"

# ---------------------------------------------------------------- 1. create (default KDF: calibrated here)
measure keyhold_init "$RUNS_SLOW" "rm -rf $D/init" "$KP $D/init init"
# The template every other vault is copied from: one init with the default
# (calibrated) KDF, so the empty, 10k and 100k vaults share account and KDF.
$KP "$D/empty" init >/dev/null 2>&1
kdf=$(kdf_of "$D/empty")
meta keyhold.kdf "$kdf (init default, calibrated on this machine)"
calib=$(kdf_of "$D/init")
KDF_ARGS=$($K "$D/empty" status --json | "$PY" -c 'import json,sys
k = json.load(sys.stdin)["kdf"]
print("-t %d -m %d -p %d" % (k["time"], k["memory_mib"], k["threads"]))')
meta keyhold.kdf_ms_warm "$("$KDFTIME" $KDF_ARGS -n 7) (bench/kdftime $KDF_ARGS -n 7: keys.Derive 7 times in one process, median; memory already mapped after the first)"
# What a command pays: one derivation in a fresh process, whose Argon2 memory
# must first be faulted in (a bare Go process otherwise; subtract go_hello).
measure keyhold_kdf_alone "$RUNS_SLOW" "" "$KDFTIME $KDF_ARGS"
meta keyhold.kdf_init_runs "last measured init chose $calib; the template vault chose $kdf"

# ---------------------------------------------------------------- 2. import 10k (one key derivation included)
measure keyhold_import_10k "$RUNS_SLOW" "rm -rf $D/imp && cp -a $D/empty $D/imp" \
    "$KP $D/imp import --format csv $D/large.csv"
mv "$D/imp" "$D/v10k"
meta keyhold.file_10k "$(du -sk "$D/v10k" | cut -f1) KiB vault directory (vault.db + device.json), CSV $(stat -c %s "$D/large.csv") bytes"

# ---------------------------------------------------------------- 3. without the agent: KDF + work
measure keyhold_unlock_show "$RUNS_SLOW" "" "$KP $D/v10k show $SHOW_PATH --field password"
measure keyhold_unlock_search "$RUNS_SLOW" "" "$KP $D/v10k search $SEARCH_TERM"
# same account and KDF, no items: start-up + KDF + the smallest check
measure keyhold_unlock_verify_empty "$RUNS_SLOW" "" "$KP $D/empty verify"
# unlock+show minus KDF: the same KDF on both sides, alternated
paired keyhold_unlock_show_vs_verify_empty 15 \
    "$KP $D/v10k show $SHOW_PATH --field password" "$KP $D/empty verify"
paired keyhold_unlock_show_vs_kdf 15 \
    "$KP $D/v10k show $SHOW_PATH --field password" "$KDFTIME $KDF_ARGS"
measure keyhold_help "$RUNS" "" "$KH --help"
measure keyhold_status_10k "$RUNS" "" "$K $D/v10k status"
[[ -x $PB/gobin/gohello ]] && measure go_hello "$RUNS" "" "gohello"
if command -v perf >/dev/null && perf stat -e page-faults true >/dev/null 2>&1; then
    pf() { perf stat -x, -r 10 -e task-clock,page-faults "$@" 2>&1 >/dev/null | awk -F, '{printf "%s%s %s%s", (NR>1?", ":""), $1, ($2 != "" ? $2 " " : ""), $3}'; }
    meta keyhold.perfstat_help "$(pf "$KH" --help) (perf stat -r 10: keyhold --help)"
    [[ -x $PB/gobin/gohello ]] && meta keyhold.perfstat_gohello "$(pf "$PB/gobin/gohello") (perf stat -r 10: bare Go binary)"
fi

# ---------------------------------------------------------------- 4. with the agent (10k)
t0=$(now_ns)
$KP "$D/v10k" unlock --timeout 30m 2>/dev/null
meta keyhold.unlock_10k "$(( ($(now_ns) - t0) / 1000000 )) ms for one \`keyhold unlock\` of the 10k vault (KDF + agent start, one run)"
n=$($K "$D/v10k" list | wc -l)
m=$($K "$D/v10k" search "$SEARCH_TERM" | wc -l)
meta keyhold.items_10k "$n items listed, search $SEARCH_TERM matches $m"
[[ $m == 10 ]] || { echo "search matched $m, not 10" >&2; exit 1; }

measure keyhold_show "$RUNS" "" "$K $D/v10k show $SHOW_PATH --field password"
measure keyhold_search "$RUNS" "" "$K $D/v10k search $SEARCH_TERM"
# a new title per run (a counter file, bumped untimed by --prepare; `read` is a shell builtin)
echo 0 >"$D/ctr"
measure keyhold_add "$RUNS" "echo \$((\$(cat $D/ctr) + 1)) >$D/ctr" \
    "read n <$D/ctr; printf 'newsecret\n' | $K $D/v10k add login g2/new-entry-\$n --username newuser --password-stdin"
measure keyhold_list "$RUNS" "" "$K $D/v10k list"
# paired against the peers' 10k stores, when 10-keepassxc.sh / 20-pass.sh left them
if [[ -f $PB/pass/store10k.done ]] && command -v pass >/dev/null; then
    PS="HOME=$PB/pass/home GNUPGHOME=$PB/pass/gnupg PASSWORD_STORE_DIR=$PB/pass/store10k"
    paired pass_show_vs_keyhold_show 15 "$PS pass show $SHOW_PATH" "$K $D/v10k show $SHOW_PATH --field password"
    paired pass_find_vs_keyhold_search 15 "$PS pass find $SEARCH_TERM" "$K $D/v10k search $SEARCH_TERM"
    gpgconf --homedir "$PB/pass/gnupg" --kill all 2>/dev/null || true
fi
if [[ -f $PB/kx/large-argon.kdbx ]] && command -v keepassxc-cli >/dev/null; then
    paired kx_argon_show_vs_keyhold_show 7 \
        "printf '%s\\n' $MASTER_PW | keepassxc-cli show -q -a Password $PB/kx/large-argon.kdbx $SHOW_PATH" \
        "$K $D/v10k show $SHOW_PATH --field password"
fi
pid=$($K "$D/v10k" status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["agent"]["pid"])')
meta keyhold.agent_rss_10k "$(awk '/VmHWM/{printf "%.1f MiB", $2/1024}' "/proc/$pid/status") peak RSS of the agent holding the 10k vault (daemon, not in the per-command figure)"
$K "$D/v10k" lock >/dev/null 2>&1

# ---------------------------------------------------------------- 5. 100k vault
log "100k: $N_HUGE entries -> CSV -> import"
to_csv "$N_HUGE" "$D/huge.csv"
cp -a "$D/empty" "$D/v100k"
t0=$(now_ns)
/usr/bin/time -f %M -o "$D/import100k.rss" $KP "$D/v100k" import --format csv "$D/huge.csv" 2>/dev/null
ms=$(( ($(now_ns) - t0) / 1000000 ))
meta keyhold.import_100k "$ms ms, peak RSS $(awk '{printf "%.0f MiB", $1/1024}' "$D/import100k.rss") (one import of $N_HUGE entries, one KDF included, single run)"
meta keyhold.file_100k "$(du -sk "$D/v100k" | cut -f1) KiB vault directory"
$KP "$D/v100k" unlock --timeout 30m 2>/dev/null
m=$($K "$D/v100k" search "$SEARCH_TERM" | wc -l)
[[ $m == 10 ]] || { echo "100k search matched $m, not 10" >&2; exit 1; }
measure keyhold_search_100k "$RUNS" "" "$K $D/v100k search $SEARCH_TERM"
measure keyhold_show_100k "$RUNS" "" "$K $D/v100k show $SHOW_PATH --field password"
pid=$($K "$D/v100k" status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["agent"]["pid"])')
meta keyhold.agent_rss_100k "$(awk '/VmHWM/{printf "%.1f MiB", $2/1024}' "/proc/$pid/status") peak RSS of the agent holding the 100k vault"
lock_all

# ---------------------------------------------------------------- 6. in-process figures (go test -bench)
if [[ ${GOBENCH:-1} != 0 ]]; then
    log "go test -bench (internal/vault, internal/keys)"
    (cd "$REPO" && go test -run XXX -bench . -benchtime 20x ./internal/vault ./internal/keys) \
        >"$RES/keyhold_gobench.txt" 2>&1
    grep -E '^(Benchmark|ok|FAIL)' "$RES/keyhold_gobench.txt" >&2
fi
meta keyhold.load_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"
log "keyhold done"
