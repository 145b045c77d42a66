#!/usr/bin/env bash
# Puts NVIDIA's NVRTC (CUDA 13.0, from its PyPI wheel) in .cache/nvrtc/ and prints the folder holding
# libnvrtc.so.13. NVRTC needs no GPU and no driver: with it, `cargo test -p kiln-cuda` compiles every kernel
# Kiln generates (crates/kiln-cuda/tests/nvrtc_compile.rs) on machines without CUDA. Prints nothing and exits 0
# when the wheel cannot be fetched (offline): that test then reports itself skipped, with the reason.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=.cache/nvrtc
lib=$dir/nvidia/cu13/lib
if [[ ! -f $lib/libnvrtc.so.13 ]]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
    -d "$dir" "nvidia-cuda-nvrtc==13.0.88" >/dev/null 2>&1 || exit 0
  (cd "$dir" && for w in nvidia_cuda_nvrtc-*.whl; do python3 -m zipfile -e "$w" . >/dev/null 2>&1; done)
fi
[[ -f $lib/libnvrtc.so.13 ]] && (cd "$lib" && ln -sf libnvrtc.so.13 libnvrtc.so && pwd)
exit 0
