#!/usr/bin/env bash
# A Python venv with the astronomers' own tools, for the peer tests that open the
# ARD with them: pyarrow, DuckDB, hats + lsdb (HATS), h5py, pPXF 9.5.2, desispec (reads the
# simulator's files), faiss-cpu 1.12.0 (similarity search). Prints the venv's python. Re-running is a no-op.
set -euo pipefail
CACHE="${DESI_ARD_CACHE:-$HOME/.cache/desi-ard}"
VENV="$CACHE/peers-venv"
STAMP="$VENV/.desi-ard-peers-v1"
if [[ ! -f "$STAMP" ]]; then
  PY="$(command -v python3 || command -v python)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --upgrade pip >&2
  "$VENV/bin/pip" install --quiet "hats==0.11.1" "lsdb==0.11.1" "duckdb==2.0.1" pyarrow h5py numpy \
      "desispec==0.70.0" "redrock==0.21.0" astropy >&2
  touch "$STAMP"
fi
# pPXF 9.5.2: the physics layer's comparison peer (benchmark and scripts/peers/ppxf_fit.py).
if ! "$VENV/bin/python" -c "import ppxf, capfit" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet "ppxf==9.5.2" >&2
fi
# faiss-cpu: the similarity search's comparison peer (tests and benchmark).
if ! "$VENV/bin/python" -c "import faiss" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet "faiss-cpu==1.12.0" >&2
fi
echo "$VENV/bin/python"
