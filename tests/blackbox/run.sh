#!/bin/sh
# Runs the black-box suite against BUILD_DIR's comfyd (ctest calls this as
# api_blackbox).  Exits 77 (skipped) when pytest, requests or
# websocket-client is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-${COMFYD_BUILD:-$here/../../build}}" && pwd)
python3 -c "import pytest, requests, websocket" 2>/dev/null || {
    echo "black-box tests skipped: pip install pytest requests websocket-client" >&2
    exit 77
}
[ -x "$build/comfyd" ] || { echo "no $build/comfyd" >&2; exit 1; }
cd "$here"
COMFYD_BUILD="$build" exec python3 -m pytest -q -p no:cacheprovider "$here"
