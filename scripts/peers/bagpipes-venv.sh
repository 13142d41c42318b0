#!/usr/bin/env bash
# A separate venv with the SED layer's comparison peer, Bagpipes 1.3.6 + nautilus-sampler
# 1.0.6 (GPL: run as a peer, never linked or ported). Only the benchmark uses it
# (crates/ard-sed/benches/sed_fit.rs); prints the venv's python. Re-running is a no-op.
set -euo pipefail
CACHE="${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}"
VENV="$CACHE/bagpipes-venv"
if ! "$VENV/bin/python" -c "import bagpipes, nautilus" >/dev/null 2>&1; then
  PY="$(command -v python3 || command -v python)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "bagpipes==1.3.6" "nautilus-sampler==1.0.6" >&2
fi
echo "$VENV/bin/python"
