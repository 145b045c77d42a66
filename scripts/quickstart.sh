#!/usr/bin/env bash
# Quick start from a fresh clone: install, build, build a plan for a bundled model on the CPU
# backend, run it, and print the benchmark summary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/pnpm.sh
pnpm install --frozen-lockfile
pnpm run build
out=.cache/quickstart
mkdir -p "$out"
model=test-models/residual_block.onnx
echo "== kiln build $model"
pnpm --silent kiln build "$model" -o "$out/residual_block.plan"
echo "== kiln run"
pnpm --silent kiln run "$out/residual_block.plan" --output-dir "$out/outputs"
echo "== kiln inspect"
pnpm --silent kiln inspect "$out/residual_block.plan"
echo "== kiln bench"
pnpm --silent kiln bench "$out/residual_block.plan" --iterations 200
