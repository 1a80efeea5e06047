#!/usr/bin/env bash
# keyhold list against pass ls on the same 10,000 entries, in one hyperfine
# run, and the ratio. Quicker than the full peer benchmark (bench/run.sh):
# the pass store is made by encrypting the entries with gpg in one process
# (pass ls reads only the file names), and the keyhold vault uses the
# weakest KDF (`list` through the agent never derives a key).
#
#   bench/list/run.sh                 # build, make both stores, measure
#   KEYHOLD_OLD=/path/to/keyhold bench/list/run.sh   # also time another build
#                                     # (its own agent, on a copy of the vault)
#
# Settings (environment): N (10000), RUNS (30), PEERS (the peer scripts,
# default <repo>/../shared/bench/peers), LIST_DIR (scratch, /tmp/keyhold-list-bench),
# KEEP_UNLOCKED=1 (leave the agent running afterwards, to profile by hand).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS=${PEERS:-$REPO/../shared/bench/peers}
N=${N:-10000}
RUNS=${RUNS:-30}
D=${LIST_DIR:-/tmp/keyhold-list-bench}
export PATH="$PATH:/usr/local/go/bin" LC_ALL=C.UTF-8
for t in hyperfine pass gpg go python3; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y hyperfine pass)" >&2; exit 2; }
done

KH=$D/bin/keyhold
V=$D/vault
cleanup() {
    [[ ${KEEP_UNLOCKED:-0} == 1 ]] && return 0
    [[ -x $KH && -d $V ]] && "$KH" --vault "$V" lock >/dev/null 2>&1 || true
    [[ -n ${KEYHOLD_OLD:-} && -d $V-old ]] && "$KEYHOLD_OLD" --vault "$V-old" lock >/dev/null 2>&1 || true
    [[ -d $D/gnupg ]] && gpgconf --homedir "$D/gnupg" --kill all 2>/dev/null || true
}
trap cleanup EXIT
cleanup
[[ -d $D/gnupg ]] && gpgconf --homedir "$D/gnupg" --kill all 2>/dev/null || true
rm -rf "$D"
mkdir -p "$D/bin" "$D/home" "$D/gnupg" "$D/plain"
chmod 700 "$D/gnupg"

(cd "$REPO" && CGO_ENABLED=0 go build -o "$KH" ./cmd/keyhold)

# The same entries as the peer benchmarks: entry i is g{i%10}/entry-{i:05d}.
python3 "$PEERS/gen_entries.py" "$N" tsv "$D/entries.tsv"

# pass: one gpg-encrypted file per entry, as `pass insert -m` writes it.
export GNUPGHOME=$D/gnupg HOME=$D/home
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-gen-key 'listbench <listbench@bench.invalid>' default default never 2>/dev/null
FPR=$(gpg --list-keys --with-colons | awk -F: '/^fpr/{print $10; exit}')
export PASSWORD_STORE_DIR=$D/store
pass init "$FPR" >/dev/null
awk -F'\t' -v d="$D/plain" '{f = d "/" $1 "/" $2; system("mkdir -p " d "/" $1);
    printf "%s\nusername: %s\nurl: %s\nnotes: %s\n", $5, $3, $4, $6 > f; close(f)}' "$D/entries.tsv"
(cd "$D/plain" && find . -type f | sed 's|^\./||' | sort >"$D/files" &&
    gpg --batch --quiet --yes --recipient "$FPR" --encrypt-files <"$D/files")
(cd "$D/plain" && find . -name '*.gpg' | while read -r f; do mkdir -p "$PASSWORD_STORE_DIR/$(dirname "$f")"; mv "$f" "$PASSWORD_STORE_DIR/$f"; done)
rm -rf "$D/plain"
echo "pass store: $(find "$PASSWORD_STORE_DIR" -name '*.gpg' | wc -l) entries"

# keyhold: the same entries imported from CSV; title = group/title, as pass' path.
awk -F'\t' 'BEGIN{OFS=","; print "title,username,password,url,notes"}
    {for (i = 1; i <= 6; i++) gsub(/"/, "\"\"", $i);
     printf "\"%s/%s\",\"%s\",\"%s\",\"%s\",\"%s\"\n", $1, $2, $3, $5, $4, $6}' \
    "$D/entries.tsv" >"$D/entries.csv"
printf 'list-bench-password-1\n' >"$D/pw"
export KEYHOLD_PASSWORD_FILE=$D/pw KEYHOLD_KEYSTORE=file XDG_RUNTIME_DIR=$D/run \
    XDG_STATE_HOME=$D/state XDG_CONFIG_HOME=$D/config XDG_DATA_HOME=$D/data XDG_CACHE_HOME=$D/cache
mkdir -p -m 700 "$D/run" "$D/state" "$D/config" "$D/data" "$D/cache"
K=("$KH" --vault "$V")
"${K[@]}" init --kdf-memory 64 --kdf-time 1 --kdf-threads 1 >/dev/null 2>&1
"${K[@]}" import --format csv "$D/entries.csv" >/dev/null
if [[ -n ${KEYHOLD_OLD:-} ]]; then
    # The older build gets its own copy of the vault and its own agent,
    # so its figure is its agent's and its client's together.
    cp -a "$V" "$V-old"
    "$KEYHOLD_OLD" --vault "$V-old" unlock --timeout 30m >/dev/null 2>&1
fi
"${K[@]}" unlock --timeout 30m >/dev/null 2>&1
echo "keyhold vault: $("${K[@]}" list | wc -l) entries"
unset KEYHOLD_PASSWORD_FILE   # from here on, only the agent can answer
if [[ -n ${KEYHOLD_OLD:-} ]]; then
    cmp -s <("${K[@]}" list) <("$KEYHOLD_OLD" --vault "$V-old" list) ||
        { echo "keyhold list prints something else than KEYHOLD_OLD's" >&2; exit 1; }
fi

cmds=("$KH --vault $V list" "pass ls")
names=("keyhold list" "pass ls")
if [[ -n ${KEYHOLD_OLD:-} ]]; then
    cmds+=("$KEYHOLD_OLD --vault $V-old list"); names+=("keyhold list (KEYHOLD_OLD)")
fi
args=()
for i in "${!cmds[@]}"; do args+=(--command-name "${names[$i]}" "${cmds[$i]}"); done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; keyhold $(cd "$REPO" && git rev-parse --short HEAD)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$D/list.json" "${args[@]}"
python3 - "$D/list.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
k, p = r["keyhold list"]["median"], r["pass ls"]["median"]
print(f"medians: keyhold list {k*1e3:.1f} ms, pass ls {p*1e3:.1f} ms: pass ls / keyhold list = {p/k:.2f}x")
o = r.get("keyhold list (KEYHOLD_OLD)")
if o:
    print(f"KEYHOLD_OLD list {o['median']*1e3:.1f} ms: {o['median']/k:.2f}x the time of this build")
PY
