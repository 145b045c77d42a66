# ON the GPU machine, sourced after `source .device/boot.sh;` (run-suite.sh and bench.py do it):
# unpacks the addon and the corpus that scripts/gpu/stage.sh packed, and puts the CUDA libraries Kiln loads
# at run time (libcudnn, libcublasLt, libnvrtc) on LD_LIBRARY_PATH: the python nvidia-* wheels' lib folders
# first, then /usr/local/cuda. Exports KILN_BINDING and KILN_ONNX_CORPUS.
_kiln_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_kiln_pack=$_kiln_root/.cache/gpu-stage
mkdir -p /tmp/kiln-gpu
if [[ -f $_kiln_pack/kiln.node.xz ]]; then
  xz -dc "$_kiln_pack/kiln.node.xz" > /tmp/kiln-gpu/kiln.node
  export KILN_BINDING=/tmp/kiln-gpu/kiln.node
elif [[ -f $_kiln_root/packages/binding/kiln.linux-x64-gnu.node ]]; then
  export KILN_BINDING=$_kiln_root/packages/binding/kiln.linux-x64-gnu.node
else
  echo "env.sh: no addon staged (.cache/gpu-stage/kiln.node.xz) nor carried (packages/binding/kiln.linux-x64-gnu.node)" >&2
fi
if [[ -f $_kiln_pack/corpus.tar.xz && ! -f /tmp/kiln-corpus/.unpacked ]]; then
  rm -rf /tmp/kiln-corpus && mkdir -p /tmp/kiln-corpus
  xz -dc "$_kiln_pack/corpus.tar.xz" | tar -C /tmp/kiln-corpus -xf - && touch /tmp/kiln-corpus/.unpacked
fi
[[ -d /tmp/kiln-corpus/node ]] && export KILN_ONNX_CORPUS=/tmp/kiln-corpus
# sharp's addon and libvips for the CLI bundle's image datasets (stage.sh packs them): found through NODE_PATH.
if [[ -f $_kiln_pack/sharp.tar.xz && ! -f /tmp/kiln-sharp/.unpacked ]]; then
  rm -rf /tmp/kiln-sharp && mkdir -p /tmp/kiln-sharp/node_modules
  xz -dc "$_kiln_pack/sharp.tar.xz" | tar -C /tmp/kiln-sharp/node_modules -xf - && touch /tmp/kiln-sharp/.unpacked
fi
[[ -d /tmp/kiln-sharp/node_modules/@img ]] && export NODE_PATH=/tmp/kiln-sharp/node_modules${NODE_PATH:+:$NODE_PATH}

_kiln_libdirs=()
while IFS= read -r _d; do
  [[ -n $_d ]] && _kiln_libdirs+=("$_d")
done < <(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)  # a namespace package: no __file__ on some versions
except Exception:
    roots = []
seen = []
for r in roots:
    for so in sorted(glob.glob(os.path.join(r, '**', 'lib*.so*'), recursive=True)):
        d = os.path.dirname(so)
        if d not in seen:
            seen.append(d)
print('\n'.join(seen))
PY
)
for _d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [[ -d $_d ]] && _kiln_libdirs+=("$_d"); done
if (( ${#_kiln_libdirs[@]} )); then
  export LD_LIBRARY_PATH=$(IFS=:; echo "${_kiln_libdirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
# cudarc opens the unversioned name first (libcudnn.so), which only the system's dev symlinks provide, and they
# may point at an older cuDNN than the wheels PyTorch uses. Link the wheels' versioned libraries under the
# unversioned names in a folder that comes first, so Kiln and PyTorch load the same cuDNN/cuBLASLt/NVRTC.
mkdir -p /tmp/kiln-libs
for _pair in libcudnn.so:libcudnn.so.9 libcublasLt.so:libcublasLt.so.13 libnvrtc.so:libnvrtc.so.13; do
  for _d in "${_kiln_libdirs[@]}"; do
    if [[ -e $_d/${_pair#*:} ]]; then ln -sf "$_d/${_pair#*:}" "/tmp/kiln-libs/${_pair%%:*}"; break; fi
  done
done
export LD_LIBRARY_PATH=/tmp/kiln-libs:$LD_LIBRARY_PATH
_kiln_libdirs=(/tmp/kiln-libs "${_kiln_libdirs[@]}")
# What the loader will find (diagnostics for the log).
for _lib in libcuda.so.1 libcudnn.so libcublasLt.so libnvrtc.so; do
  _hit=$(for _d in "${_kiln_libdirs[@]}" /usr/lib/x86_64-linux-gnu /usr/lib64; do ls "$_d"/"$_lib"* 2>/dev/null; done | head -1)
  echo "env.sh: ${_lib%%.so*}: ${_hit:-NOT FOUND}"
done
echo "env.sh: KILN_BINDING=${KILN_BINDING:-unset} KILN_ONNX_CORPUS=${KILN_ONNX_CORPUS:-unset} NODE_PATH=${NODE_PATH:-unset}"
unset _kiln_root _kiln_pack _kiln_libdirs _d _lib _hit _pair
