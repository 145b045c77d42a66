#!/usr/bin/env bash
# Here (the build machine): bundles and packs what a GPU run needs and stages it into .device/ with
# ../shared/device/stage.sh. Assumes the release addon is built (packages/binding/kiln.linux-x64-gnu.node).
#   bash scripts/gpu/stage.sh
# Then, with the device tool: carry [".device"], command
#   source .device/boot.sh; bash scripts/gpu/run-suite.sh
# (docs/gpu-testing.md has the details and the benchmark command).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
addon=packages/binding/kiln.linux-x64-gnu.node
corpus=${KILN_ONNX_CORPUS:-$root/../shared/onnx-backend-tests}
device_stage=$root/../shared/device/stage.sh
[[ -f $device_stage ]] || device_stage=/work/shared/device/stage.sh
limit_mib=40

[[ -f $addon ]] || { echo "stage: $addon is missing; build the release addon first (pnpm --filter @kiln/binding build)" >&2; exit 1; }
[[ -d $corpus/node && -d $corpus/light ]] || { echo "stage: no ONNX corpus at $corpus (set KILN_ONNX_CORPUS)" >&2; exit 1; }

# dist-gpu/ holds generated bundles: keep it out of git status (local exclude, as stage.sh does for .device/).
exclude=$(git rev-parse --path-format=absolute --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qxF '/dist-gpu/' "$exclude" 2>/dev/null || echo '/dist-gpu/' >> "$exclude"

node scripts/gpu/bundle.mjs suite cli

# Compressed payloads, restored into the tree by boot.sh and unpacked by scripts/gpu/env.sh on the GPU machine.
pack=.cache/gpu-stage
rm -rf "$pack"
mkdir -p "$pack"
xz -T0 -6 -c "$addon" > "$pack/kiln.node.xz"
tar -C "$corpus" -cf - node light | xz -T0 -6 > "$pack/corpus.tar.xz"
git rev-parse HEAD > "$pack/commit"
sha256sum "$addon" | cut -d' ' -f1 > "$pack/addon.sha256"

files=(dist-gpu/kiln.mjs packages/conformance/dist/gpu-suite.mjs "$pack/kiln.node.xz" "$pack/corpus.tar.xz" "$pack/commit" "$pack/addon.sha256")
# sharp's native packages (image folders in `kiln calibrate`): the CLI bundle holds sharp's JS, which loads
# @img/sharp-linux-x64 (addon) and @img/sharp-libvips-linux-x64 at run time; env.sh unpacks them onto NODE_PATH.
# Taken out of pnpm's store with symlinks dereferenced (about 6 MB compressed).
sharp_dir=$(ls -d node_modules/.pnpm/@img+sharp-linux-x64@*/node_modules 2>/dev/null | head -1)
if [[ -n $sharp_dir && -d $sharp_dir/@img/sharp-libvips-linux-x64 ]]; then
  tar -C "$sharp_dir" -chf - @img | xz -T0 -6 > "$pack/sharp.tar.xz"
  files+=("$pack/sharp.tar.xz")
else
  echo "stage: sharp's linux-x64 packages are not installed (pnpm install): kiln calibrate cannot read image folders on the GPU machine" >&2
fi
# Drop this script's payloads of earlier stagings (only ours: the lead's staged files stay).
rm -rf .device/files/.cache/gpu-stage .device/files/dist-gpu/kiln.mjs .device/files/packages/conformance/dist/gpu-suite.mjs
bash "$device_stage" "${files[@]}"

ours=$(du -cb "${files[@]}" | tail -1 | cut -f1)
total=$(du -sb .device | cut -f1)
tree=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
printf 'staged: our files %.1f MiB, .device %.1f MiB, tracked tree %.1f MiB\n' "$(echo "$ours/1048576" | bc -l)" "$(echo "$total/1048576" | bc -l)" "$(echo "$tree/1048576" | bc -l)"
if (( ours > limit_mib * 1048576 )); then
  echo "stage: our payload is over ${limit_mib} MiB; the carry limit is 64 MiB in all" >&2
  exit 1
fi
if (( total + tree > 60 * 1048576 )); then
  echo "stage: .device plus the tracked tree come to more than 60 MiB; the device tool carries at most 64 MiB" >&2
  exit 1
fi
echo 'device tool: carry [".device"], command: source .device/boot.sh; bash scripts/gpu/run-suite.sh'
