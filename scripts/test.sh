#!/usr/bin/env bash
# Every test from a fresh clone: install, build, then cargo tests, vitest suites (conformance
# included) and the packaging test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/pnpm.sh
# NVRTC (from PyPI) lets the Rust tests compile every CUDA kernel Kiln generates, without a GPU; offline, that
# test reports itself skipped.
nvrtc=$(bash scripts/fetch-nvrtc.sh)
if [[ -n $nvrtc ]]; then export LD_LIBRARY_PATH=$nvrtc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
pnpm install --frozen-lockfile
pnpm run build
pnpm run test
