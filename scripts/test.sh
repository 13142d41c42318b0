#!/usr/bin/env bash
# The full test suite, on a fresh machine: builds (cfitsio and HDF5 from source),
# runs clippy (warnings are errors), the one-time set-up (E-MILES templates from the ppxf==8.2.6 sdist on PyPI),
# sets up a Python venv with the peers the tests compare against (pyarrow, DuckDB,
# hats/lsdb, h5py, desispec), then runs every test.
# Needs: cargo (Rust >= 1.88), a C compiler and make, python3 with pip and venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(bash scripts/ensure-cmake.sh):$PATH"
bash scripts/heal-build-cache.sh "${CARGO_TARGET_DIR:-target}"
bash scripts/prune-build-cache.sh "${CARGO_TARGET_DIR:-target}"
cargo build --workspace --all-targets
# Lints are part of the suite (workspace [lints] in Cargo.toml): any warning fails.
cargo clippy --workspace --all-targets -- -D warnings
bash scripts/setup.sh "${CARGO_TARGET_DIR:-target}/debug/desi-ard"
PEER_PY="$(bash scripts/python-peers.sh)"
export DESI_ARD_PEER_PYTHON="$PEER_PY"
export DESI_ARD_PYTHON="$PEER_PY"
cargo test --workspace --no-fail-fast "$@"
