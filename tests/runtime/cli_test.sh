#!/usr/bin/env bash
# runtime_cli: the comfyd binary's exit codes and start-up, without serving:
# bad flags and unreadable configs exit 2, --help/--version exit 0,
# --quick-test-for-ci starts (folders, packs) and exits 0.
# Usage: cli_test.sh COMFYD TEST_PACK_DIR
set -u
comfyd=$1 packs=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect() {  # expect CODE ARGS...
  local want=$1; shift
  "$comfyd" "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: comfyd $* exited $got, want $want"; cat "$tmp/out"; fails=$((fails + 1))
  fi
}
expect 2 --bogus
expect 2 --port
expect 2 --port notanumber
expect 2 --preview-method fancy
expect 2 stray-argument
expect 2 --config /nonexistent/comfyd.yaml
printf 'port: [1,\n' > "$tmp/bad.yaml"
expect 2 --config "$tmp/bad.yaml"
grep -q "bad.yaml" "$tmp/out" || { echo "FAIL: no file name in the YAML error"; fails=$((fails + 1)); }
expect 0 --help
grep -q -- "--nodepack-dir" "$tmp/out" || { echo "FAIL: --help lacks --nodepack-dir"; fails=$((fails + 1)); }
grep -q -- "--extra-model-paths-config" "$tmp/out" || { echo "FAIL: --help lacks a flag"; fails=$((fails + 1)); }
expect 0 --version
printf 'base-directory: %s\nnodepack-dir: [%s]\n' "$tmp/base" "$packs" > "$tmp/ok.yaml"
expect 0 --config "$tmp/ok.yaml" --quick-test-for-ci
grep -q "Loaded node pack rt_good 1.0: 4 nodes" "$tmp/out" ||
  { echo "FAIL: start-up log lacks the pack line"; cat "$tmp/out"; fails=$((fails + 1)); }
[ -d "$tmp/base/input" ] && [ -d "$tmp/base/output" ] && [ -d "$tmp/base/user" ] ||
  { echo "FAIL: folders not created"; fails=$((fails + 1)); }
# --log-stdout moves the log from stderr to stdout.
"$comfyd" --config "$tmp/ok.yaml" --quick-test-for-ci --log-stdout --disable-auto-launch \
  >"$tmp/stdout" 2>"$tmp/stderr"
grep -q "Loaded node pack rt_good" "$tmp/stdout" && ! grep -q "Loaded node pack" "$tmp/stderr" ||
  { echo "FAIL: --log-stdout"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ] && echo "CLI test passed"
[ "$fails" -eq 0 ]
