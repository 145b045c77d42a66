#!/usr/bin/env bash
# ON the GPU machine: the one command of the GPU test suite (docs/gpu-testing.md).
#   source .device/boot.sh; bash scripts/gpu/run-suite.sh [gpu-suite flags…]
# e.g. `--parts node` or `--parts light-fp32,light-fp16,test-models-fp32,test-models-fp16,errors` to split the run.
# Prints the summary; writes gpu-suite.{json,txt,log} and conformance-cuda.{json,md} under $OUT.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
# shellcheck source=env.sh
source scripts/gpu/env.sh
command -v node >/dev/null || { echo "run-suite: node is not on PATH; start the command with 'source .device/boot.sh;'" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "run-suite: nvidia-smi not available"
node packages/conformance/dist/gpu-suite.mjs --corpus "${KILN_ONNX_CORPUS:-/tmp/kiln-corpus}" --out "$out" "$@" 2>&1 | tee "$out/gpu-suite.log"
exit "${PIPESTATUS[0]}"
