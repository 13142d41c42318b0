#!/usr/bin/env bash
# Times the Slurm chain against one process on the same simulated sample, on a throw-away
# Slurm (scripts/slurm-test-cluster.sh: two emulated nodes on this host), and the per-stage
# costs that BENCHMARKS.md's cluster scaling estimate uses. Needs root and a release build:
#   cargo build --release -p desi-ard && bash scripts/bench/cluster_chain.sh [OBJECTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2400}
BIN=${DESI_ARD_BIN:-$PWD/target/release/desi-ard}
W=${BENCH_DIR:-/tmp/desi-ard-cluster-bench}
export SLURM_TEST_DIR=$W/slurm SLURM_TEST_PORT=${SLURM_TEST_PORT:-18817}
export SLURM_CONF=$SLURM_TEST_DIR/slurm.conf
rm -rf "$W"; mkdir -p "$W"
command -v slurmctld >/dev/null || bash scripts/slurm-test-cluster.sh install
"$BIN" simulate "$W/raw" --objects "$N" --seed 42 --quiet
t() { local t0=$(date +%s.%N); "$@" > "$W/last.log" 2>&1 || { cat "$W/last.log"; exit 1; }; awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'; }
echo "one process, $(nproc) cores, $N galaxies:"
echo "  ingest (physics + emb_pca, incl. learning the basis and finalize): $(t "$BIN" ingest "$W/raw" "$W/one" --quiet) s"
echo "  finalize again:                     $(t "$BIN" finalize "$W/one") s"
echo "  topology --subvolumes 4 (all + merge): $(t "$BIN" topology "$W/one" --subvolumes 4) s"
echo "  merge again:                        $(t "$BIN" topology "$W/one" --subvolumes 4 --merge) s"
bash scripts/slurm-test-cluster.sh up 2 >/dev/null
trap 'bash scripts/slurm-test-cluster.sh down' EXIT
t0=$(date +%s.%N)
"$BIN" cluster plan "$W/raw" "$W/slurm-ard" --nodes 2 --shards 4 --subvolumes 4 --cpus-per-task 1 --mem 3G --time 01:00:00 --submit > "$W/plan.log"
merge=$(awk '/submitted merge as job/ {print $NF}' "$W/plan.log")
while :; do
  st=$(scontrol show job "$merge" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
  case "$st" in COMPLETED) break;; FAILED|CANCELLED|TIMEOUT) echo "merge job: $st"; exit 1;; esac
  sleep 0.5
done
echo "Slurm chain (2 emulated nodes x 2 CPUs on this $(nproc)-core host, 4 shards, 4 sub-volumes): $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
for f in "$W"/slurm-ard/cluster/logs/*.out; do echo "  $(basename "$f"): $(tail -n 1 "$f")"; done
"$BIN" cluster status "$W/slurm-ard"
