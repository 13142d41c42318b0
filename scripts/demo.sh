#!/usr/bin/env bash
# The main job on the built-in sample, on a fresh machine: build, set up the
# templates once, simulate the default DESI-format sample into demo-out/raw and read
# it back (camera merge + redshift join) with a per-file summary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p desi-ard
BIN="${CARGO_TARGET_DIR:-target}/release/desi-ard"
bash scripts/setup.sh "$BIN"
OUT="${1:-demo-out}"
if [[ ! -d "$OUT/raw/healpix" ]]; then
  "$BIN" simulate "$OUT/raw"
fi
"$BIN" read "$OUT/raw"
