#!/usr/bin/env bash
# ON the GPU machine (after `source .device/boot.sh; source scripts/gpu/env.sh`): the timing cache's GPU figures.
#   bash scripts/gpu/timing-cache.sh <model.onnx> <shapes>   e.g. /tmp/r50.onnx input:128x3x224x224
# 1. cold build (empty cache) and warm rebuild (same cache): build_ms, tactic_time_ms, hits, misses;
# 2. the cache bundled (`kiln cache bundle`), installed in a fresh per-user cache folder (`kiln cache install`) and a
#    build in a new process that finds every layer in the installed tier (no GPU timing).
set -uo pipefail
model=${1:?model.onnx}
shapes=${2:?shapes}
K="node dist-gpu/kiln.mjs"
summary() { python3 -c 'import json,sys; j=json.load(sys.stdin); t=j["timing_cache"]; print(f"{sys.argv[1]}: build {j["build_ms"]/1e3:.2f} s, timing tactics {j["tactic_time_ms"]/1e3:.2f} s, hits {t["hits"]}, misses {t["misses"]}")' "$1"; }
rm -rf /tmp/kiln-tc && mkdir -p /tmp/kiln-tc/a /tmp/kiln-tc/b
export XDG_CACHE_HOME=/tmp/kiln-tc/a
$K build "$model" --backend cuda --fp16 --shapes "$shapes" -o /tmp/kiln-tc/cold.plan --json --quiet | summary "cold (empty cache)"
$K build "$model" --backend cuda --fp16 --shapes "$shapes" -o /tmp/kiln-tc/warm.plan --json --quiet | summary "warm (same cache)"
cache=$($K cache path --backend cuda)
device=$($K cache show "$cache" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device"]["identity"])')
$K cache bundle --device "$device" --from "$cache" -o /tmp/kiln-tc/gpu.kilnbundle
export XDG_CACHE_HOME=/tmp/kiln-tc/b
$K cache install /tmp/kiln-tc/gpu.kilnbundle
$K build "$model" --backend cuda --fp16 --shapes "$shapes" -o /tmp/kiln-tc/bundle.plan --json --quiet | summary "fresh process, installed bundle"
