#!/usr/bin/env bash
# One-time set-up of desi-ard's derived data: the SSP library files.
#
# The E-MILES spectra (Vazdekis et al. 2016) carry a request to cite but no open
# licence, so the repository does not hold them. This script fetches the ppxf==8.2.6
# source distribution from PyPI (it ships ppxf/miles_models/), converts it with
# `desi-ard setup-templates` into the project's compact file, and caches the result:
#   ${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}/ssp/emiles-ssp-v1.fits
# The independent mock's BC03 SSPs (Bruzual & Charlot 2003, the MPA-JHU set) come the
# same way from the sdss-mangadap==4.5.0 wheel (121.5 MB; BSD-3 code, the models keep
# their authors' terms) into .../ssp/bc03-mpajhu-ssp-v1.fits, and its MaStar SSPs
# (Maraston et al. 2020) into .../ssp/mastar-ssp-v1.fits.
# Nothing is downloaded at run time afterwards. Re-running is a no-op.
#
# Usage: scripts/setup.sh [PATH-TO-desi-ard-BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}"
OUT="$CACHE/ssp/emiles-ssp-v1.fits"
OUT_BC03="$CACHE/ssp/bc03-mpajhu-ssp-v1.fits"
OUT_MASTAR="$CACHE/ssp/mastar-ssp-v1.fits"
if [[ -s "$OUT" && -s "$OUT_BC03" && -s "$OUT_MASTAR" ]]; then
  echo "setup: templates present: $OUT, $OUT_BC03, $OUT_MASTAR"
  exit 0
fi
BIN="${1:-}"
if [[ -z "$BIN" ]]; then
  cargo build --quiet -p desi-ard
  BIN="${CARGO_TARGET_DIR:-target}/debug/desi-ard"
fi
DL="$CACHE/downloads"
mkdir -p "$DL" "$CACHE/ssp"
PY="$(command -v python3 || command -v python)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [[ ! -s "$OUT_BC03" || ! -s "$OUT_MASTAR" ]]; then
  WHEEL="$DL/sdss_mangadap-4.5.0-py3-none-any.whl"
  if [[ ! -s "$WHEEL" ]]; then
    echo "setup: fetching the sdss-mangadap==4.5.0 wheel from PyPI (BC03 SSPs for the independent mock, ~120 MB)"
    "$PY" -m pip download --quiet --no-deps --only-binary :all: sdss-mangadap==4.5.0 -d "$DL"
  fi
  echo "b8478bb24c32fe736fa6a2881805458719281862313838f8b032f3c10527ff34  $WHEEL" | sha256sum -c --quiet - \
    || { echo "setup: $WHEEL has an unexpected checksum" >&2; exit 1; }
  # Only the BC03 and MaStar SSP folders are taken out of the wheel.
  "$PY" - "$WHEEL" "$WORK/mangadap-wheel" <<'PYEOF'
import sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
for folder in ("bc03_mpajhu", "mastar_ssp_v1.0"):
    prefix = f"mangadap/data/spectral_templates/{folder}/"
    wanted = [n for n in wheel.namelist() if n.startswith(prefix)]
    if not wanted:
        sys.exit(f"setup: {sys.argv[1]} has no {prefix}")
    wheel.extractall(sys.argv[2], members=wanted)
PYEOF
  TPL="$WORK/mangadap-wheel/mangadap/data/spectral_templates"
  if [[ ! -s "$OUT_BC03" ]]; then
    "$BIN" setup-templates --bc03-dir "$TPL/bc03_mpajhu" --out "$OUT_BC03"
    echo "setup: BC03 library written: $OUT_BC03"
  fi
  # MaStar's luminosities per solar mass are scaled on BC03 (ssp::mastar), so it comes second.
  "$BIN" setup-templates --mastar-dir "$TPL/mastar_ssp_v1.0" --bc03 "$OUT_BC03" --out "$OUT_MASTAR"
  echo "setup: MaStar library written: $OUT_MASTAR"
  rm -rf "$WORK/mangadap-wheel"
fi
if [[ -s "$OUT" ]]; then
  echo "setup: templates present: $OUT"
  exit 0
fi
SDIST="$DL/ppxf-8.2.6.tar.gz"
if [[ ! -s "$SDIST" ]]; then
  echo "setup: fetching the ppxf==8.2.6 sdist from PyPI (E-MILES SSPs, ~25 MB)"
  "$PY" -m pip download --quiet --no-deps --no-binary :all: ppxf==8.2.6 -d "$DL"
fi
# sha256 of ppxf-8.2.6.tar.gz as served by PyPI, checked so a changed file is noticed.
EXPECTED_SHA=e51249d28f12eb41c6dce325a17c7bd554b546e73de930a59f7b29b02f35c8c3
echo "$EXPECTED_SHA  $SDIST" | sha256sum -c --quiet - || { echo "setup: $SDIST has an unexpected checksum" >&2; exit 1; }
tar -xzf "$SDIST" -C "$WORK" ppxf-8.2.6/ppxf/miles_models
"$BIN" setup-templates --miles-dir "$WORK/ppxf-8.2.6/ppxf/miles_models" --out "$OUT"
echo "setup: templates written: $OUT"
