#!/usr/bin/env bash
# The full test suite, on a fresh machine: builds, runs the one-time set-up
# (E-MILES templates from the ppxf==8.2.6 sdist on PyPI), then every test.
# Needs: cargo (Rust ≥ 1.85), a C compiler and make (cfitsio is built from source),
# python3 with pip (only to fetch the sdist once).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --all-targets
bash scripts/setup.sh "${CARGO_TARGET_DIR:-target}/debug/desi-ard"
cargo test --workspace --no-fail-fast "$@"
