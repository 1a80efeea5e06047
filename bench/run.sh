#!/usr/bin/env bash
# keyhold and its peers in one session, so the ratios come from one run.
#
#   sudo bench/run.sh               install the peers if needed, run keepassxc (10),
#                                   pass (20), gopass (30), keyhold; then the reports (~35-45 min)
#   REUSE_10K=1 bench/run.sh        keep pass' 10k store from an earlier run (saves ~6 min)
#   bench/run.sh keyhold            only keyhold (the peers' rows already in results.tsv stay)
#   bench/run.sh 20 keyhold         some steps: 00 (install), 10, 20, 30, 40, keyhold
#
# The peer scripts are not copied here: they run from $PEERS (default
# <repo>/../shared/bench/peers) and write to $PEERBENCH_RESULTS (default
# /tmp/peerbench/results), where keyhold.sh adds its rows.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEERS=${PEERS:-$REPO/../shared/bench/peers}
export PEERS
[[ -f $PEERS/common.sh ]] || { echo "peer scripts not found in $PEERS: set PEERS" >&2; exit 2; }
# shellcheck source=/dev/null
source "$PEERS/common.sh"

steps=("$@")
if [[ ${#steps[@]} -eq 0 ]]; then
    steps=(10 20 30 keyhold)
    # install only what is missing (00-install.sh is idempotent but runs apt)
    if ! command -v keepassxc-cli >/dev/null || ! command -v pass >/dev/null ||
        ! [[ -x $PB/gobin/gopass && -x $PB/gobin/gohello ]]; then
        steps=(00 "${steps[@]}")
    fi
fi

# The machine may be shared: start when it is quiet (keyhold.sh waits again
# before its own measurements).
wait_quiet() {
    local max=${LOAD_MAX:-1.5} limit=${LOAD_WAIT_S:-1200} waited=0
    [[ $max == 0 ]] && return 0
    while ! awk -v m="$max" '{exit !($1 < m)}' /proc/loadavg && ((waited < limit)); do
        log "load $(cut -d' ' -f1 /proc/loadavg) >= $max: waiting 30 s"
        sleep 30; waited=$((waited + 30))
    done
    meta run.load_at_start "$(cut -d' ' -f1-3 /proc/loadavg) (before the peers; ${waited}s waited)"
}

cd "$PEERS"
for s in "${steps[@]}"; do
    case $s in
    keyhold)
        log "=== bench/keyhold.sh"
        bash "$REPO/bench/keyhold.sh" 2>&1 | tee "$RES/log-keyhold.sh.txt"
        ;;
    00)
        log "=== 00-install.sh"
        bash ./00-install.sh 2>&1 | tee "$RES/log-00-install.sh.txt"
        ;;
    *)
        script=$(ls "$s"-*.sh)
        [[ $s == 10 ]] && wait_quiet
        log "=== $script"
        bash "$script" 2>&1 | tee "$RES/log-$script.txt"
        ;;
    esac
done
meta run.date "$(date -u +%FT%TZ) on $(uname -srm), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
"$PY" "$PEERS/summarize.py" report "$RES" >/dev/null
"$PY" "$REPO/bench/compare.py" "$RES"
log "reports: $RES/report.md (every row) and $RES/keyhold-report.md (keyhold vs peers, targets)"
