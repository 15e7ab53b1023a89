#!/bin/sh
# Headless-browser check of the ComfyUI web frontend against comfyd: boots
# the official frontend (comfyui-frontend-package 1.27.10) from
# --front-end-root in Chromium, checks for console errors and failing API
# requests, that the node library has comfyd's nodes, and that a
# LoadImage -> ImageInvert -> SaveImage graph queued from the UI shows its
# result.  Screenshots and report.json go to OUT_DIR.
#
#   tests/frontend/run.sh [BUILD_DIR] [OUT_DIR]
#
# Needs: chromium (Debian), python3 with websocket-client, and either
# COMFYD_FRONTEND_DIR (the package's static folder) or pip to fetch the
# wheel (cached under ~/.cache/comfyd).  Exits 77 (skip) when chromium is
# missing.  Slow (~30 s): not part of ctest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-${COMFYD_BUILD:-$repo/build}}" && pwd)
out=${2:-$build/frontend-test}
mkdir -p "$out"
out=$(cd "$out" && pwd)

chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$chrome" ] || { echo "frontend test skipped: no chromium" >&2; exit 77; }
[ -x "$build/comfyd" ] || { echo "no $build/comfyd; build first" >&2; exit 1; }

version=1.27.10
static=${COMFYD_FRONTEND_DIR:-}
if [ -z "$static" ]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/comfyd/frontend-$version
    if [ ! -f "$cache/comfyui_frontend_package/static/index.html" ]; then
        mkdir -p "$cache"
        python3 -m pip download -q --no-deps "comfyui-frontend-package==$version" -d "$cache"
        python3 -c "import sys, zipfile, glob; zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]).extractall(sys.argv[1])" "$cache"
    fi
    static=$cache/comfyui_frontend_package/static
fi

tmp=$(mktemp -d)
mkdir -p "$tmp/user/default" "$tmp/input" "$tmp/output"
# a returning user: no first-run template dialog over the screenshots
echo '{"Comfy.TutorialCompleted": true}' > "$tmp/user/default/comfy.settings.json"
python3 - "$tmp/input/frontend_test.png" <<'PY'
import struct, sys, zlib
w, h = 64, 48
raw = b"".join(b"\0" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(w))
              for y in range(h))
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
    ">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
cdp=$(free_port)
"$build/comfyd" --base-directory "$tmp" --port "$port" --front-end-root "$static" \
    >"$out/comfyd.log" 2>&1 &
spid=$!
# The frontend also calls out to public hosts (release checks, ...): the
# resolver rules answer every name but loopback with "not found" inside
# Chromium, so no lookup or connection ever leaves this machine.
"$chrome" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost" \
    --disable-background-networking --disable-component-update --no-first-run \
    --remote-debugging-port="$cdp" --user-data-dir="$tmp/chrome" about:blank \
    >"$out/chromium.log" 2>&1 &
cpid=$!
# Cleanup keeps the check's exit status: Chromium's helper processes may
# still write into the profile for a moment after the browser exits, so
# removing it is retried and never fails the test.
cleanup() {
    rc=$?
    kill $cpid $spid 2>/dev/null || true
    wait $cpid $spid 2>/dev/null || true
    for i in 1 2 3 4 5; do rm -rf "$tmp" 2>/dev/null && break; sleep 1; done
    exit $rc
}
trap cleanup EXIT
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/prompt" >/dev/null && break; sleep 0.05; done
python3 "$here/check.py" "http://127.0.0.1:$port" "$cdp" "$out"
