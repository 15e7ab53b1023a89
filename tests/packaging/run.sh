#!/usr/bin/env bash
# Builds the Debian packages from a copy of the tree, installs them into a
# fresh root with dpkg --root, and checks the installed result:
#   1. the installed comfyd with only comfyd-nodepack-core serves exactly the
#      core pack's classes (as listed in its Comfyd-Node-Classes field);
#   2. each further comfyd-nodepack-* package, once installed, adds its
#      classes to that same running comfyd after a SIGHUP (the dpkg
#      trigger's `systemctl reload`), after the classes it served before;
#   3. the example pack builds against the installed comfyd-dev with
#      pkg-config into a pack directory of the running comfyd, and its node
#      appears in /object_info after a SIGHUP;
#   4. lintian reports no errors.
# Skips (exit 0 with a message) where dpkg-buildpackage is missing.
# Usage: tests/packaging/run.sh [WORKDIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
  echo "packaging: skipped (dpkg-buildpackage/debhelper not installed)"
  exit 0
fi
work=${1:-$(mktemp -d)}
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "packaging: FAIL: $*"; exit 1; }

echo "packaging: building packages in $work"
rm -rf "$work/src" && mkdir -p "$work/src"
(cd "$src" && git ls-files -z --cached --others --exclude-standard | \
  tar --null -T - -cf -) | tar -xf - -C "$work/src"
cp -r "$src/packaging/debian" "$work/src/debian"
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" \
  dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || { tail -40 "$work/build.log"; fail "dpkg-buildpackage"; }
ls "$work"/*.deb

triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
root="$work/root"
rm -rf "$root" && mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
dpkg_root() {
  # Scripts run without chroot (the fresh root has no shell); nothing
  # outside the root is touched: DPKG_ROOT is set for them.
  dpkg --root="$root" --force-script-chrootless --force-depends \
       --force-not-root --log=/dev/null "$@" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg $*"; }
}
dpkg_root -i "$work"/comfyd_*.deb "$work"/comfyd-nodepack-core_*.deb
bin="$root/usr/bin/comfyd"
packdir="$root/usr/lib/$triplet/comfyd/nodepacks"
[ -x "$bin" ] || fail "comfyd not installed"
[ -f "$packdir/core.so" ] || fail "core.so not installed"
[ -f "$root/etc/comfyd/comfyd.yaml" ] || fail "default config not installed"
dpkg-deb -f "$work"/comfyd_*.deb Provides | grep -q 'comfyd-nodepack-abi-1' || fail "Provides"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # start PORT: runs the installed comfyd on the installed pack dir
  mkdir -p "$work/base"
  "$bin" --base-directory "$work/base" --port "$1" --nodepack-dir "$packdir" \
    ${EXTRA_PACKDIR:+--nodepack-dir "$EXTRA_PACKDIR"} >"$work/comfyd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$1/system_stats" >/dev/null && return 0; sleep 0.1; done
  cat "$work/comfyd.log"; fail "installed comfyd did not start"
}
stop() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; }
classes_in_order() { curl -sf "http://127.0.0.1:$1/object_info" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))'; }
classes_served() { classes_in_order "$1" | sort; }
classes_declared() { dpkg-deb -f "$1" Comfyd-Node-Classes | tr ',' '\n' | tr -d ' ' | sed '/^$/d' | sort; }

# One comfyd serves from here on; packs arrive with a SIGHUP, as the
# trigger's reload sends.  $work/hello is a further pack directory, empty
# until the example pack is built into it.
rm -rf "$work/hello" && mkdir -p "$work/hello"
port=$(free_port); EXTRA_PACKDIR="$work/hello" start "$port"
diff <(classes_served "$port") <(classes_declared "$work"/comfyd-nodepack-core_*.deb) \
  || fail "served classes differ from comfyd-nodepack-core's Comfyd-Node-Classes"
echo "packaging: core only: $(classes_served "$port" | wc -l) classes, as declared"

reload() {  # reload PORT WHAT WANTED_FILE: SIGHUP, then wait for the classes
  local before
  before=$(classes_in_order "$1")
  kill -HUP "${pids[-1]}"
  for _ in $(seq 100); do
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/comfyd.log"; fail "comfyd died on SIGHUP"; }
    [ -z "$(comm -13 <(classes_served "$1") <(sort "$3"))" ] && break
    sleep 0.1
  done
  missing=$(comm -13 <(classes_served "$1") <(sort "$3"))
  [ -z "$missing" ] || { tail -20 "$work/comfyd.log"; fail "$2: classes not served after SIGHUP: $missing"; }
  local after
  after=$(classes_in_order "$1")
  [[ "$after"$'\n' == "$before"$'\n'* ]] || fail "$2: the classes served before the reload moved"
}

for deb in "$work"/comfyd-nodepack-*.deb; do
  case "$deb" in *comfyd-nodepack-core_*|*-dbgsym_*) continue ;; esac
  dpkg_root -i "$deb"
  classes_declared "$deb" >"$work/want"
  reload "$port" "$(basename "$deb")" "$work/want"
  echo "packaging: $(basename "$deb"): its $(wc -l <"$work/want") classes appear after SIGHUP"
done

dpkg_root -i "$work"/comfyd-dev_*.deb
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/lib/$triplet/pkgconfig"
pkg-config --exists comfyd-sdk || fail "comfyd-sdk.pc not found in the installed comfyd-dev"
[ "$(pkg-config --variable=abi_major comfyd-sdk)" = 1 ] || fail "abi_major variable"
ex="$root/usr/share/doc/comfyd-dev/examples/hello-pack"
[ -d "$ex" ] || fail "example pack sources not installed"
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
  $(pkg-config --cflags comfyd-sdk) "$ex"/*.c -o "$work/hello.so.tmp" || fail "hello-pack build"
mv "$work/hello.so.tmp" "$work/hello/hello.so"
"$bin" --list-node-classes --nodepack-dir "$work/hello" 2>/dev/null \
  | awk '{ print $2 }' >"$work/want"
[ -s "$work/want" ] || fail "hello-pack lists no node classes"
reload "$port" hello-pack "$work/want"
n=$(curl -sf "http://127.0.0.1:$port/object_info" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for v in d.values() if v["python_module"].endswith("hello")))')
[ "$n" -ge 1 ] || fail "hello-pack node not served"
echo "packaging: hello-pack built against the installed SDK serves $n node(s) after SIGHUP"
grep -q "Rescan added node pack" "$work/comfyd.log" || fail "the log does not list what the rescans added"
stop

if command -v lintian >/dev/null; then
  lintian --no-tag-display-limit "$work"/*.changes >"$work/lintian.txt" 2>&1 || true
  grep -E '^[EW]:' "$work/lintian.txt" || true
  if grep -q '^E:' "$work/lintian.txt"; then fail "lintian errors"; fi
  echo "packaging: lintian: $(grep -c '^E:' "$work/lintian.txt" || true) errors, $(grep -c '^W:' "$work/lintian.txt" || true) warnings"
fi
echo "packaging: all checks passed"
