#!/usr/bin/env bash
# HDF5 is compiled from source (hdf5-metno's `static` feature), which needs
# cmake >= 3.26. Use the system's when new enough, else a private venv with the
# `cmake` wheel from PyPI (no root needed). Prints the folder to put first on PATH.
set -euo pipefail
CACHE="${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}"
if command -v cmake >/dev/null 2>&1; then
  v="$(cmake --version | head -1 | awk '{print $3}')"
  if printf '3.26\n%s\n' "$v" | sort -V -C; then dirname "$(command -v cmake)"; exit 0; fi
fi
VENV="$CACHE/tools/venv"
if [[ ! -x "$VENV/bin/cmake" ]]; then
  PY="$(command -v python3 || command -v python)"
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "cmake>=3.26,<4" >&2
fi
echo "$VENV/bin"
