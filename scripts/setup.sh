#!/usr/bin/env bash
# One-time set-up of desi-ard's derived data: the E-MILES SSP template file.
#
# The E-MILES spectra (Vazdekis et al. 2016) carry a request to cite but no open
# licence, so the repository does not hold them. This script fetches the ppxf==8.2.6
# source distribution from PyPI (it ships ppxf/miles_models/), converts it with
# `desi-ard setup-templates` into the project's compact file, and caches the result:
#   ${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}/ssp/emiles-ssp-v1.fits
# Nothing is downloaded at run time afterwards. Re-running is a no-op.
#
# Usage: scripts/setup.sh [PATH-TO-desi-ard-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}"
OUT="$CACHE/ssp/emiles-ssp-v1.fits"
if [[ -s "$OUT" ]]; then
  echo "setup: templates present: $OUT"
  exit 0
fi
BIN="${1:-}"
if [[ -z "$BIN" ]]; then
  cargo build --quiet -p desi-ard
  BIN="${CARGO_TARGET_DIR:-target}/debug/desi-ard"
fi
DL="$CACHE/downloads"
mkdir -p "$DL" "$CACHE/ssp"
SDIST="$DL/ppxf-8.2.6.tar.gz"
if [[ ! -s "$SDIST" ]]; then
  echo "setup: fetching the ppxf==8.2.6 sdist from PyPI (E-MILES SSPs, ~25 MB)"
  PY="$(command -v python3 || command -v python)"
  "$PY" -m pip download --quiet --no-deps --no-binary :all: ppxf==8.2.6 -d "$DL"
fi
# sha256 of ppxf-8.2.6.tar.gz as served by PyPI, checked so a changed file is noticed.
EXPECTED_SHA=e51249d28f12eb41c6dce325a17c7bd554b546e73de930a59f7b29b02f35c8c3
echo "$EXPECTED_SHA  $SDIST" | sha256sum -c --quiet - || { echo "setup: $SDIST has an unexpected checksum" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$SDIST" -C "$WORK" ppxf-8.2.6/ppxf/miles_models
"$BIN" setup-templates --miles-dir "$WORK/ppxf-8.2.6/ppxf/miles_models" --out "$OUT"
echo "setup: templates written: $OUT"
