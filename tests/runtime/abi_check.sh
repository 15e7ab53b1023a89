#!/usr/bin/env bash
# runtime_abi: re-dumps the SDK ABI from the probe library and compares it
# with the committed baseline (sdk/abi/comfy-abi-<major>.xml) using
# libabigail.  Usage: abi_check.sh PROBE_SO BASELINE_XML HEADERS_DIR
#
# When abidiff sees any difference, abi_compat.py applies comfy.h's rule
# (structs only grow at the end, enums only gain values, typedefs keep
# their types): a compatible change passes with a note asking for the
# baseline to be refreshed
#   cmake --build build --target comfyd-abi-baseline
# and anything else fails.
set -u
probe=$1 baseline=$2 headers=$3
if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
  echo "SKIPPED: abidw/abidiff not installed (Debian package abigail-tools)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
abidw --no-corpus-path --no-show-locs --no-comp-dir-path --headers-dir "$headers" \
      --out-file "$tmp/current.xml" "$probe" || { echo "abidw failed"; exit 1; }
abidiff "$baseline" "$tmp/current.xml" > "$tmp/diff.txt" 2>&1
rc=$?
if (( rc & 3 )); then
  cat "$tmp/diff.txt"
  echo "FAIL: abidiff could not compare (status $rc)"
  exit 1
fi
if (( rc == 0 )); then
  echo "ABI check passed: identical to the baseline"
  exit 0
fi
# abidiff reports any growth of a struct as incompatible; our ABI allows
# appending (size-prefixed structs), so the verdict is abi_compat.py's.
cat "$tmp/diff.txt"
if ! python3 "$(dirname "$0")/abi_compat.py" "$baseline" "$tmp/current.xml"; then
  echo "FAIL: incompatible change to the comfyd SDK ABI (see above)."
  echo "Either undo it, or bump COMFY_ABI_MAJOR and write a new baseline."
  exit 1
fi
echo "ABI check passed: compatible change (fields or values appended)."
echo "Refresh the baseline:  cmake --build build --target comfyd-abi-baseline"
exit 0
