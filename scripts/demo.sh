#!/usr/bin/env bash
# The main job on the built-in sample, on a fresh machine: build, set up the
# templates once, then `desi-ard demo`: simulate the default DESI-format sample,
# ingest it into an ARD (HATS Parquet + HDF5), run example queries, plot a spectrum.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(bash scripts/ensure-cmake.sh):$PATH"
bash scripts/heal-build-cache.sh "${CARGO_TARGET_DIR:-target}"
cargo build --release -p desi-ard
BIN="${CARGO_TARGET_DIR:-target}/release/desi-ard"
bash scripts/setup.sh "$BIN"
"$BIN" demo --dir "${1:-demo-out}"
