#!/usr/bin/env bash
# ON the GPU machine: the Kiln vs PyTorch benchmark (bench/gpu/bench.py; docs/gpu-testing.md).
#   source .device/boot.sh; bash scripts/gpu/run-bench.sh [bench.py flags…]
# Writes benchmarks.{md,json} and bench.log under $OUT.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
out=${OUT:-$root/bench-out}
mkdir -p "$out"
# shellcheck source=env.sh
source scripts/gpu/env.sh
command -v node >/dev/null || { echo "run-bench: node is not on PATH; start the command with 'source .device/boot.sh;'" >&2; exit 2; }
python3 bench/gpu/bench.py --out "$out" "$@" 2>&1 | tee "$out/bench.log"
exit "${PIPESTATUS[0]}"
