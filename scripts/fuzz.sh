#!/usr/bin/env bash
# Runs every fuzz target for a while (FUZZTIME, default 30s each) and keeps
# the corpus: the inputs the fuzzer found interesting are copied from Go's
# cache into each package's testdata/fuzz/<Target>/, where `go test` runs
# them as regression cases forever after.
#   scripts/fuzz.sh                  all targets
#   scripts/fuzz.sh ./internal/kit   one package
#   scripts/fuzz.sh ./internal/transfer/kdbx   the KeePass reader
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
cache=$(go env GOCACHE)/fuzz
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=($(go list ./...))
for pkg in "${pkgs[@]}"; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  path=$(go list -f '{{.ImportPath}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $path $target ($FUZZTIME)" >&2
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME"
    if [ -d "$cache/$path/$target" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      # Keep at most 50 entries a target: enough to pin down coverage,
      # small enough to review.
      ls "$cache/$path/$target" | head -50 | while read -r f; do
        cp -n "$cache/$path/$target/$f" "$dir/testdata/fuzz/$target/$f"
      done
    fi
  done
done
