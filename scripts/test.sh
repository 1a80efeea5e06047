#!/usr/bin/env bash
# The whole test suite: what .ci/run runs, and what a developer runs.
# It installs the programs the tests drive (scripts/deps.sh); under CI
# (CI non-empty) a test whose program is still missing fails instead of
# skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! scripts/deps.sh; then
  if [ -n "${CI:-}" ]; then
    echo "test: could not install the test dependencies (see above)" >&2
    exit 1
  fi
  echo "test: warning: some test dependencies are missing; those tests will skip" >&2
fi

echo "test: gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "test: these files need gofmt:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "test: go vet" >&2
go vet ./...
echo "test: cross-compiling keyhold for darwin and windows" >&2
for target in darwin/amd64 darwin/arm64 windows/amd64; do
  GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/keyhold
done
GOOS=windows CGO_ENABLED=0 go vet ./... # Windows code, and build tags on Unix-only helpers
echo "test: static server binaries" >&2
for cmd in ./cmd/keyhold-server ./cmd/keyhold-mailer; do
  [ -d "$cmd" ] || continue
  CGO_ENABLED=0 go build -o /dev/null "$cmd"
done
echo "test: go test" >&2
CGO_ENABLED=0 go test -count=1 -timeout 15m "$@" ./...
