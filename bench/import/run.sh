#!/bin/sh
# Import benchmark: keyhold import of 10k KeePass (KDBX 4) entries and of
# the same 10k rows as CSV, next to keepassxc-cli import of the same
# entries as KeePass XML. Wall time and peak RSS from /usr/bin/time -v,
# median of RUNS runs each, real binaries, one whole process per run.
#
#   bench/import/run.sh                # N=10000 RUNS=5
#   N=1000 RUNS=3 bench/import/run.sh  # a quick look
#
# Environment: N (10000), RUNS (5), KDBX_TIME_MS (100: keepassxc-cli's
# target decryption time for the KDBX it makes, i.e. the AES-KDF rounds
# keyhold must run to open it), LOAD_MAX (1.5: wait for the 1-minute load
# average to fall below it; 0 does not wait), LOAD_WAIT_S (600), OUT
# (a directory for the results; default a temporary one).
set -eu

N=${N:-10000}
RUNS=${RUNS:-5}
KDBX_TIME_MS=${KDBX_TIME_MS:-100}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT_S=${LOAD_WAIT_S:-600}

repo=$(cd "$(dirname "$0")/../.." && pwd)
for tool in keepassxc-cli /usr/bin/time go; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (Debian: keepassxc, time, golang)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
OUT=${OUT:-$work/results}
mkdir -p "$OUT"

echo "building keyhold and the generator" >&2
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/keyhold" ./cmd/keyhold && CGO_ENABLED=0 go build -o "$work/gen" ./bench/import/gen)
KH=$work/keyhold

echo "generating $N entries" >&2
"$work/gen" -n "$N" -xml "$work/entries.xml" -csv "$work/entries.csv"
PW='bench source pw 1'
printf '%s\n' "$PW" > "$work/source-pw"
printf '%s\n%s\n' "$PW" "$PW" > "$work/source-pw-twice"
keepassxc-cli import -q -p -t "$KDBX_TIME_MS" "$work/entries.xml" "$work/entries.kdbx" < "$work/source-pw-twice" 2>/dev/null
kdbx_version=$(od -An -tu2 -j8 -N4 "$work/entries.kdbx" | awk '{print $2 "." $1}')
kdbx_kdf=$(keepassxc-cli db-info -q "$work/entries.kdbx" < "$work/source-pw" | sed -n 's/^KDF: //p')

# A template vault with a cheap key derivation, so that the import's own
# work is measured, not the vault's unlock; each run imports into a fresh
# copy of it.
export HOME="$work/home" XDG_RUNTIME_DIR="$work/run" XDG_DATA_HOME="" DBUS_SESSION_BUS_ADDRESS="" KEYHOLD_KEYSTORE=""
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf 'bench vault password 42\n' > "$work/vault-pw"
export KEYHOLD_PASSWORD_FILE="$work/vault-pw"
"$KH" init --vault "$work/template" --kdf-memory 8 --kdf-time 1 --kdf-threads 1 >/dev/null 2>&1

if [ "$LOAD_MAX" != 0 ]; then
	waited=0
	while awk -v max="$LOAD_MAX" '{exit !($1 >= max)}' /proc/loadavg && [ "$waited" -lt "$LOAD_WAIT_S" ]; do
		sleep 10; waited=$((waited + 10))
	done
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# measure NAME PREP CMD: runs PREP then CMD (under /usr/bin/time -v) RUNS
# times; prints "NAME median_seconds max_rss_kib".
measure() {
	name=$1 prep=$2 cmd=$3
	: > "$OUT/$name.runs"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		sh -c "$prep"
		/usr/bin/time -v -o "$OUT/$name.time" sh -c "$cmd" > "$OUT/$name.out" 2> "$OUT/$name.err" || {
			echo "run.sh: $name failed:" >&2; cat "$OUT/$name.err" >&2; exit 1; }
		awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (j = 1; j <= n; j++) s = s * 60 + p[j]; w = s }
			/Maximum resident set size/ { r = $2 } END { print w, r }' "$OUT/$name.time" >> "$OUT/$name.runs"
		i=$((i + 1))
	done
	sort -n "$OUT/$name.runs" | awk -v name="$name" '{ w[NR] = $1; if ($2 > r) r = $2 }
		END { m = (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2; print name, m, r }'
}

fresh="rm -rf $work/v && cp -r $work/template $work/v"
{
	measure keyhold_kdbx "$fresh" "$KH --vault $work/v import --format kdbx --source-password-file $work/source-pw $work/entries.kdbx"
	measure keyhold_csv "$fresh" "$KH --vault $work/v import --format csv $work/entries.csv"
	measure keepassxc_import "rm -f $work/out.kdbx" "keepassxc-cli import -q -p -t $KDBX_TIME_MS $work/entries.xml $work/out.kdbx < $work/source-pw-twice"
} > "$OUT/summary.txt"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The imports must have imported everything.
"$KH" --vault "$work/v" list > "$work/list.txt" 2>/dev/null || true
grep -q "imported $N items" "$OUT/keyhold_kdbx.err" || { echo "run.sh: the KDBX import did not import $N items:" >&2; cat "$OUT/keyhold_kdbx.err" >&2; exit 1; }
grep -q "imported $N items" "$OUT/keyhold_csv.err" || { echo "run.sh: the CSV import did not import $N items:" >&2; cat "$OUT/keyhold_csv.err" >&2; exit 1; }

kx=$(awk '$1 == "keepassxc_import" { print $2 }' "$OUT/summary.txt")
echo
echo "Import of $N entries ($RUNS runs each, median wall time, largest peak RSS)"
echo "$(uname -m), $(nproc) cores, go $(go env GOVERSION), $(keepassxc-cli --version | head -1 | sed 's/^/keepassxc-cli /')"
echo "source KDBX: $kdbx_version written by keepassxc-cli import, KDF $kdbx_kdf ($KDBX_TIME_MS ms target); $(stat -c %s "$work/entries.kdbx") bytes"
echo "vault: keyhold init --kdf-memory 8 --kdf-time 1 --kdf-threads 1 (cheap, so the import itself is measured)"
echo "load average before: $load_before; after: $load_after"
echo
printf '| %-44s | %10s | %12s | %18s |\n' "command" "wall time" "peak RSS" "time / keepassxc"
printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "------------" "--------------" "--------------------"
while read -r name wall rss; do
	case $name in
	keyhold_kdbx) label="keyhold import --format kdbx ($N)" ;;
	keyhold_csv) label="keyhold import --format csv ($N)" ;;
	keepassxc_import) label="keepassxc-cli import (KeePass XML, $N)" ;;
	esac
	printf '| %-44s | %8.2f s | %8.1f MiB | %17.2fx |\n' "$label" "$wall" "$(echo "$rss" | awk '{print $1/1024}')" "$(awk -v a="$wall" -v b="$kx" 'BEGIN{print a/b}')"
done < "$OUT/summary.txt"
