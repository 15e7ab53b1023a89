#!/bin/sh
# Runs ComfyUI's execution test suite (tests/execution/test_execution.py)
# against comfyd.
#
#   tests/comfyui-suite/run.sh COMFYUI_DIR [extra pytest arguments]
#
# COMFYUI_DIR is a checkout of Comfy-Org/ComfyUI (only its tests/,
# comfy_execution/ and pytest.ini are used).  Without it the script says so
# and exits 0 (skipped).  It makes a venv outside this repository
# (COMFYD_SUITE_VENV, default ~/.cache/comfyd/suite-venv) with the suite's
# client-side dependencies (pytest, websocket-client, numpy, pillow; no
# torch), then runs the suite with the comfyd_suite plugin, which starts
# comfyd (COMFYD_BUILD/comfyd, default build/) with the core and testing
# packs in place of ComfyUI's main.py.  COMFYD_SUITE_TESTS picks other test
# files of the suite (default tests/execution/test_execution.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ] || [ ! -f "$1/tests/execution/test_execution.py" ]; then
    echo "comfyui-suite: skipped (give a ComfyUI checkout: $0 COMFYUI_DIR)"
    exit 0
fi
comfyui=$(cd "$1" && pwd)
shift
build=${COMFYD_BUILD:-$repo/build}
venv=${COMFYD_SUITE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/comfyd/suite-venv}
case "$venv" in "$repo"/*) echo "comfyui-suite: the venv must be outside the repository"; exit 2;; esac
if [ ! -x "$build/comfyd" ] || [ ! -f "$build/test-packs/testing/testing.so" ]; then
    echo "comfyui-suite: build comfyd and the testing pack first (cmake --build $build)"
    exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import pytest, websocket, numpy, PIL" 2>/dev/null ||
    "$venv/bin/pip" install -q pytest websocket-client numpy pillow
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
port=${COMFYD_SUITE_PORT:-18188}
cd "$comfyui"
COMFYD_BINARY="$build/comfyd" \
COMFYD_PACK_DIRS="$build/nodepacks:$build/test-packs/testing" \
PYTHONPATH="$here:$comfyui" \
    "$venv/bin/python" -m pytest -p comfyd_suite -q -p no:cacheprovider \
    ${COMFYD_SUITE_TESTS:-tests/execution/test_execution.py} --output_dir "$out" --port "$port" "$@"
