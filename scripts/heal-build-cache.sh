#!/usr/bin/env bash
# A Cargo target dir that was copied or moved keeps CMake caches that name the
# old location, and CMake then refuses to configure (hdf5-metno-src). Remove
# every CMake build dir whose cache was created somewhere else, so that the
# build script reconfigures it from scratch. Usage: heal-build-cache.sh TARGET_DIR
set -euo pipefail
target="${1:-target}"
[ -d "$target" ] || exit 0
target="$(cd "$target" && pwd -P)"
find "$target" -path '*/build/*/out/build/CMakeCache.txt' -print 2>/dev/null | while read -r cache; do
  dir="$(dirname "$cache")"
  made_in="$(sed -n 's/^CMAKE_CACHEFILE_DIR:INTERNAL=//p' "$cache")"
  if [ -n "$made_in" ] && [ "$made_in" != "$dir" ] && [ "$(realpath -m "$made_in")" != "$dir" ]; then
    echo "heal-build-cache: $dir was configured in $made_in; removing its build script output" >&2
    # The whole out/ of that build script goes, plus its fingerprint, so Cargo reruns it.
    out="$(dirname "$dir")"
    rm -rf "$out"
    script_dir="$(dirname "$out")"
    name="$(basename "$script_dir")"
    rm -rf "$(dirname "$(dirname "$script_dir")")/.fingerprint/$name"
  fi
done

# A target dir shared by checkouts at different paths (a CI clone and a working copy, via
# $HOME/.cache/desi-ard/target): Cargo fingerprints our crates by workspace-relative paths
# and mtimes, so a checkout with older files reuses test binaries built in the other one,
# whose env!("CARGO_MANIFEST_DIR") names the other checkout's test data. When the
# checkout changes, forget our crates' fingerprints (dependencies stay built).
root="$(pwd -P)"
stamp="$target/.desi-ard-checkout"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$root" ]; then
  echo "heal-build-cache: $target was last used by $(cat "$stamp"); rebuilding this workspace's crates" >&2
  for profile in "$target"/*/.fingerprint; do
    for c in crates/*/; do
      rm -rf "$profile/$(basename "$c")"-*
    done
  done
fi
echo "$root" > "$stamp"
