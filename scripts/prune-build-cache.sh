#!/usr/bin/env bash
# Every rebuild of a test or bench leaves its old executable (hundreds of MB
# when it links DataFusion) in target/debug/deps, and a reused target dir
# grows until the disk is full. Keep the two newest builds of each executable
# name (a crate's lib and bin tests share one name); Cargo relinks any it
# still needs. Usage: prune-build-cache.sh TARGET_DIR
set -euo pipefail
target="${1:-target}"
for deps in "$target"/debug/deps "$target"/release/deps; do
  [ -d "$deps" ] || continue
  find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.rlib' ! -name '*.rmeta' ! -name '*.d' -printf '%T@ %f\n' \
    | sort -rn \
    | awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name); if (++seen[name] > 2) print $2 }' \
    | while read -r stale; do rm -f "$deps/$stale"; done
done
