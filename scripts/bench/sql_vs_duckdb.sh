#!/usr/bin/env bash
# desi-ard sql (release CLI, whole command) vs DuckDB (in-process) on the same 5 M-row
# catalogue; best of 5 each. Usage: scripts/bench/sql_vs_duckdb.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/bench5m}"
PY="$(bash scripts/python-peers.sh)"
[[ -f "$OUT/catalog/desi_ard/dataset/_common_metadata" ]] || "$PY" scripts/bench/make_5m_catalog.py "$OUT"
BIN="${CARGO_TARGET_DIR:-target}/release/desi-ard"
for q in "SELECT spectype, avg(z) AS mz, count(*) AS n FROM catalog GROUP BY spectype" \
         "SELECT targetid, z, flux_r FROM catalog WHERE flux_r > 99.0"; do
  best=999
  for i in 1 2 3 4 5; do
    s=$(date +%s.%N); "$BIN" sql "$OUT" "$q" --format csv -o /tmp/desi-ard-bench.csv 2>/dev/null; e=$(date +%s.%N)
    best=$(python3 -c "print(min($best, $e - $s))")
  done
  echo "desi-ard  ${best}s  $q"
  "$PY" -c "
import duckdb,time
con=duckdb.connect(); con.execute('SET threads=2')
q='''$q'''.replace('FROM catalog', \"FROM read_parquet('$OUT/catalog/desi_ard/dataset/**/*.parquet')\")
best=1e9
for _ in range(5):
    t=time.perf_counter(); con.execute(q).fetchall(); best=min(best,time.perf_counter()-t)
print(f'duckdb    {best:.3f}s  $q')"
done
