#!/usr/bin/env bash
# The native host's memory while idle: `keyhold native-host` started as a
# browser starts it, answering a few requests (status, candidates, search,
# fill, generate) from an agent holding a 10,000-item vault, then left
# idle. Prints the host's resident memory (VmRSS) and its peak (VmHWM).
# Target: under 20 MiB resident while idle.
#
#   bench/browser/hostmem.sh            # build, make the vault, measure
#
# Settings (environment): N (10000 items), IDLE (2, seconds idle before
# reading), HOSTMEM_DIR (scratch, /tmp/keyhold-hostmem-bench).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-10000}
IDLE=${IDLE:-2}
D=${HOSTMEM_DIR:-/tmp/keyhold-hostmem-bench}
export PATH="$PATH:/usr/local/go/bin" LC_ALL=C.UTF-8
for t in go python3; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
KH=$D/bin/keyhold
V=$D/vault
cleanup() { [[ -x $KH && -d $V ]] && "$KH" --vault "$V" lock >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
rm -rf "$D"
mkdir -p "$D/bin"
(cd "$REPO" && CGO_ENABLED=0 go build -o "$KH" ./cmd/keyhold)

printf 'hostmem-bench-password-1\n' >"$D/pw"
export KEYHOLD_PASSWORD_FILE=$D/pw KEYHOLD_KEYSTORE=file XDG_RUNTIME_DIR=$D/run HOME=$D/home \
    XDG_STATE_HOME=$D/state XDG_CONFIG_HOME=$D/config XDG_DATA_HOME=$D/data XDG_CACHE_HOME=$D/cache
mkdir -p -m 700 "$D/run" "$D/home" "$D/state" "$D/config" "$D/data" "$D/cache"
K=("$KH" --vault "$V")
python3 - "$N" >"$D/entries.csv" <<'PY'
import sys
print("title,username,password,url")
for i in range(int(sys.argv[1])):
    print(f"g{i%10}/entry-{i:05d},user{i:05d}@example.com,pw-{i:05d}-secret,https://login.site-{i:05d}.com/signin")
PY
"${K[@]}" init --kdf-memory 64 --kdf-time 1 --kdf-threads 1 >/dev/null 2>&1
"${K[@]}" import --format csv "$D/entries.csv" >/dev/null 2>&1
"${K[@]}" unlock --timeout 30m >/dev/null 2>&1
unset KEYHOLD_PASSWORD_FILE

python3 - "$KH" "$V" "$IDLE" <<'PY'
import json, struct, subprocess, sys, time
kh, vault, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
p = subprocess.Popen([kh, "--vault", vault, "native-host", "chrome-extension://dcefochpojkbelobkomknnhojhpichcd/"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
n = 0
def call(**req):
    global n
    n += 1
    req.update(v=1, id=n)
    b = json.dumps(req).encode()
    p.stdin.write(struct.pack("=I", len(b)) + b); p.stdin.flush()
    size = struct.unpack("=I", p.stdout.read(4))[0]
    r = json.loads(p.stdout.read(size))
    assert r["ok"], r
    return r
def mem():
    m = {}
    for line in open(f"/proc/{p.pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            m[k] = int(v.split()[0])
    return m
assert call(op="status")["state"] == "unlocked"
for i in range(5):
    c = call(op="candidates", origin=f"https://login.site-{i*1000:05d}.com", exact=False)
    item = c["items"][0]["id"]
    page = f"https://login.site-{i*1000:05d}.com"
    call(op="fill", item=item, origin=page, top_origin=page)
    call(op="search", query="entry-0", origin="https://example.com")
    call(op="generate")
time.sleep(idle)
m = mem()
print(f"native host after {n} requests, {idle:g}s idle: VmRSS {m['VmRSS']/1024:.1f} MiB "
      f"({m['RssAnon']/1024:.1f} MiB anonymous, {m['RssFile']/1024:.1f} MiB pages of the keyhold binary), "
      f"VmHWM (peak) {m['VmHWM']/1024:.1f} MiB (target: < 20 MiB resident)")
p.stdin.close()
p.wait(timeout=10)
PY
