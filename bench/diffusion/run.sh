#!/bin/sh
# Diffusion benchmark: full-width SD1.5, 512x512, 20 steps, CFG 7, euler
# (normal schedule), through comfyd's HTTP API (POST /prompt, /ws progress):
# seconds per step, VAE decode seconds, whole workflow, peak RSS; then the
# same through a stable-diffusion.cpp CLI binary on the same checkpoint,
# settings and thread count, and the ratios.
#
#   bench/diffusion/run.sh [SDCPP_BIN]
#
# SDCPP_BIN: an sd.cpp CLI (sd-cli / sd) built outside this repository;
# omitted, only comfyd runs.  Environment:
#   COMFYD_BUILD  build dir holding comfyd, nodepacks/, comfyd-mkcheckpoint
#                 (default: build); NO_COMFYD=1 runs sd.cpp alone
#   CKPT          checkpoint (default /tmp/comfyd-bench/parity-sd15-full.safetensors,
#                 made by comfyd-mkcheckpoint --arch sd15 --width full --dtype f16
#                 --seed 1 when absent; about 2 GB, never commit it)
#   THREADS (default nproc), SIZE (512), STEPS (20), CFG (7), SEED (42),
#   SAMPLER (euler), SCHEDULER (normal)
# SDXL at 1024x1024: ARCH=sdxl SIZE=1024 bench/diffusion/run.sh [SDCPP_BIN]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${COMFYD_BUILD:-$repo/build}" && pwd)
arch=${ARCH:-sd15}
ckpt=${CKPT:-/tmp/comfyd-bench/parity-$arch-full.safetensors}
threads=${THREADS:-$(nproc)}

if [ ! -f "$ckpt" ]; then
  [ -x "$build/comfyd-mkcheckpoint" ] || { echo "no $build/comfyd-mkcheckpoint; build first" >&2; exit 1; }
  mkdir -p "$(dirname "$ckpt")"
  "$build/comfyd-mkcheckpoint" --arch "$arch" --width full --dtype f16 --seed 1 --out "$ckpt"
fi

set -- ${1:+--sdcpp "$1"}
if [ "${NO_COMFYD:-0}" != 1 ]; then
  [ -x "$build/comfyd" ] || { echo "no $build/comfyd; build first (scripts/build)" >&2; exit 1; }
  set -- "$@" --build "$build"
fi
exec python3 "$here/bench.py" "$@" --ckpt "$ckpt" --threads "$threads" \
  --size "${SIZE:-512}" --steps "${STEPS:-20}" --cfg "${CFG:-7}" --seed "${SEED:-42}" \
  --sampler "${SAMPLER:-euler}" --scheduler "${SCHEDULER:-normal}"
