#!/bin/sh
# API benchmark: requests/s and p50/p99 latency for GET /object_info,
# GET /queue, POST /prompt (trivial graph) and GET /view of a ~1 MB PNG,
# plus comfyd's RSS idle and under load.  Uses wrk.
#
#   bench/api/run.sh [BUILD_DIR]      (default: build; env DURATION=5 CONNS=16)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-${COMFYD_BUILD:-$repo/build}}" && pwd)
dur=${DURATION:-5}
conns=${CONNS:-16}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$build/comfyd" ] || { echo "no $build/comfyd; build first" >&2; exit 1; }

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/user" "$tmp/output"
# a ~1 MB PNG of noise (incompressible)
python3 - "$tmp/output/big.png" <<'PY'
import os, struct, sys, zlib
w = h = 600
raw = b"".join(b"\0" + os.urandom(w * 3) for _ in range(h))
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$build/comfyd" --base-directory "$tmp" --port "$port" --queue-max 10000000 \
    --dont-print-server >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
url="http://127.0.0.1:$port"
for i in $(seq 100); do curl -sf "$url/prompt" >/dev/null && break; sleep 0.05; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
sleep 0.5
idle=$(rss)
peak=$idle

run() {  # name, wrk args...
    name=$1; shift
    out=$(wrk -t2 -c"$conns" -d"${dur}s" --latency "$@" &
          wpid=$!
          while kill -0 $wpid 2>/dev/null; do r=$(rss); [ "$r" -gt "$(cat "$tmp/peak" 2>/dev/null || echo 0)" ] && echo "$r" > "$tmp/peak"; sleep 0.2; done
          wait $wpid)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx/ {print $4}')
    printf "| %-28s | %10s | %9s | %9s | %6s |\n" "$name" "$rps" "$p50" "$p99" "${errs:-0}"
}

echo "comfyd API benchmark: wrk -t2 -c$conns -d${dur}s, $(nproc) cores, build $build"
echo
echo "| route                        |   req/s    |    p50    |    p99    | non-2xx |"
echo "|------------------------------|------------|-----------|-----------|--------|"
run "GET /object_info" "$url/object_info"
run "GET /queue" "$url/queue"
run "POST /prompt (trivial graph)" -s "$here/post_prompt.lua" "$url/prompt"
run "GET /view (1 MB PNG)" "$url/view?filename=big.png&type=output"
peak=$(cat "$tmp/peak" 2>/dev/null || echo "$idle")
echo
echo "RSS idle: $((idle / 1024)) MiB; peak under load: $((peak / 1024)) MiB"
echo "object_info body: $(curl -s "$url/object_info" | wc -c) bytes; big.png: $(stat -c %s "$tmp/output/big.png") bytes"
