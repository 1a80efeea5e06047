#!/usr/bin/env bash
# Packages the browser extension (extension/) for the browsers' stores and
# for loading by hand:
#   dist/keyhold-extension-chromium.zip   Chrome, Chromium, Edge, Brave
#   dist/keyhold-extension-firefox.zip    Firefox (its manifest derived
#                                         from Chromium's)
# The zips hold exactly the files the keyhold binary embeds, in sorted
# order with one fixed time: building twice gives the same bytes.
#   scripts/package-extension.sh [OUTDIR]     (default: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./extension/pack -out "${1:-dist}"
