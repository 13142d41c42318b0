#!/usr/bin/env bash
# Peak memory of one ingest worker on a 6,000-target pixel (issue 15, item 6): simulate
# the pixel, then ingest it with one thread under /usr/bin/time -v, without and with
# the physics layer, for the given chunk sizes (the last is "one chunk": the pixel's
# coadds whole, as before chunking). Prints one Markdown row per run.
#
#   bash scripts/bench/ingest_memory.sh [BIN] [WORK]
#
# BIN defaults to the release binary, WORK (≈ 3 GB of simulated FITS) to /tmp/ingest-memory.
# THREADS (default 1), CHUNKS (default "256 100000") and PHYSICS ("no yes") choose the runs:
# the physics layer takes ≈ 0.23 s per spectrum per thread, ≈ 24 min for the pixel on one.
set -euo pipefail
BIN="${1:-${CARGO_TARGET_DIR:-target}/release/desi-ard}"
WORK="${2:-/tmp/ingest-memory}"
RAW="$WORK/raw"
if [ ! -d "$RAW/healpix" ]; then
    "$BIN" simulate "$RAW" --objects 6000 --pixels 27245 --quiet
fi
echo "| layers | --chunk-rows | threads | wall | peak RSS |"
echo "|---|---|---|---|---|"
THREADS="${THREADS:-1}"
for physics in ${PHYSICS:-no yes}; do
    layers=""
    [ "$physics" = no ] && layers="--no-physics"
    for chunk in ${CHUNKS:-256 100000}; do
        ARD="$WORK/ard"
        rm -rf "$ARD"
        # shellcheck disable=SC2086
        /usr/bin/time -v "$BIN" ingest "$RAW" "$ARD" --workers "$THREADS" --quiet --chunk-rows "$chunk" $layers \
            > "$WORK/out.log" 2> "$WORK/time.log"
        rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.log")
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.log")
        name=${layers:-"with physics"}
        awk -v n="$name" -v c="$chunk" -v t="$THREADS" -v w="$wall" -v k="$rss_kb" \
            'BEGIN { printf "| %s | %s | %s | %s | %.2f GB |\n", n, c, t, w, k / 1048576 }'
    done
done
