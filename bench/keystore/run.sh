#!/usr/bin/env bash
# Measures what keeping the Secret Key in the system key store costs a
# command that unlocks the vault in-process: `keyhold show` with the
# Secret Key in GNOME Keyring (a private D-Bus session, as in the tests)
# against the same with it in device.json. Same vault, alternating runs.
#   bench/keystore/run.sh [RUNS]     (default 20)
set -euo pipefail
RUNS=${1:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/keyhold" ./cmd/keyhold)
cat > "$work/inner.sh" <<'INNER'
set -euo pipefail
eval "$(printf 'keyring-password' | gnome-keyring-daemon --unlock --components=secrets)"
kh="$WORK/keyhold"
printf 'correct horse battery staple 7\n' > "$WORK/pw"
export KEYHOLD_PASSWORD_FILE="$WORK/pw"
"$kh" --keystore file init --vault "$WORK/vf" --kdf-memory 64 --kdf-time 3 --kdf-threads 1 >/dev/null 2>&1
cp -r "$WORK/vf" "$WORK/vo"
"$kh" --vault "$WORK/vo" --keystore os status >/dev/null 2>&1
for v in vf vo; do "$kh" --vault "$WORK/$v" add login Site --username u >/dev/null 2>&1; done
ms() { local s e; s=$(date +%s%N); "$kh" --vault "$WORK/$1" show Site >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
: > "$WORK/file.txt"; : > "$WORK/os.txt"
for _ in $(seq "$RUNS"); do ms vf >> "$WORK/file.txt"; ms vo >> "$WORK/os.txt"; done
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
f=$(med "$WORK/file.txt"); o=$(med "$WORK/os.txt")
echo "keyhold show, Secret Key in device.json:   median ${f} ms ($RUNS runs)"
echo "keyhold show, Secret Key in GNOME Keyring: median ${o} ms ($RUNS runs)"
awk -v f="$f" -v o="$o" 'BEGIN { printf "ratio key store / file: %.2f (difference %d ms)\n", o / f, o - f }'
INNER
env -u DBUS_SESSION_BUS_ADDRESS RUNS="$RUNS" WORK="$work" HOME="$work/home" XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/run" \
  bash -c 'mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"; dbus-run-session -- bash "$WORK/inner.sh"' 2>&1 | grep -v "dbus-daemon"
