#!/usr/bin/env bash
# Issue 15's GPU figures, on a machine with a real GPU (the device tool's H200), writing JSON to $OUT:
#   gpu.txt              the GPU (nvidia-smi -L) and the Vulkan driver used
#   headline-webgpu.json / headline-cpu.json   the bench's strategies on the bundled model (held-out
#                        prompts, speed-up over autoregressive, identity with it), provider webgpu vs cpu
#   standin.json         the 0.5B stand-in at fp16 and int4 on webgpu vs cpu: decode tok/s, prefill,
#                        verify cost, bytes read back per token, greedy agreement (bench/gpu/standin.ts)
#
# The machine reaches no registry, has no Vulkan loader and maybe no Node. bench/gpu/prepare.sh, run
# here first, packs them: .gl (libvulkan1) and .gpu/parts (Node + npm packages, in pieces). Then:
#   for each piece but the last:  run(command='bash bench/gpu/run.sh receive', carry=['.gpu/parts/part-NN'])
#   last:                         run(command='bash bench/gpu/run.sh', carry=['.gl', '.gpu/parts/part-NN'], timeout_s=600)
# (ignored files stay between calls while the machine is warm, 30 s after each call). With Node and
# node_modules already there (npm ci), `bash bench/gpu/run.sh` alone does.
# QUICK=1: a few prompts and tokens and the toy stand-in (a smoke test on any machine, lavapipe too).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/hasten-gpu-out}
mkdir -p "$OUT" .gpu/got

if [[ ${1:-} == receive ]]; then
  cp -n .gpu/parts/part-* .gpu/got/ 2>/dev/null || true
  ls .gpu/got
  exit 0
fi

# Node and node_modules from the carried pieces, unless they are here already.
if [[ ! -d node_modules/onnxruntime-node ]] || ! command -v node >/dev/null; then
  cp -n .gpu/parts/part-* .gpu/got/ 2>/dev/null || true
  ls .gpu/got/part-* >/dev/null 2>&1 || { echo "[gpu] no node_modules and no carried pieces: run bash bench/gpu/prepare.sh here first (see the header)" >&2; exit 1; }
  cat .gpu/got/part-* | xz -dc | tar -xf -
  if [[ -x bin/node ]]; then mkdir -p .gpu/bin && mv bin/node .gpu/bin/node && rmdir bin 2>/dev/null || true; fi
  export PATH="$PWD/.gpu/bin:$PATH"
fi
node --version

# The Vulkan loader (the device README's recipe) and the NVIDIA ICD where the loader does not find it.
# (grep without -q: with pipefail, -q's early exit would fail ldconfig with SIGPIPE.)
if ! ldconfig -p | grep 'libvulkan.so.1' >/dev/null; then
  ls .gl/*.deb >/dev/null 2>&1 || { echo "[gpu] no libvulkan.so.1 and no .gl/*.deb carried: run bash bench/gpu/prepare.sh here and carry .gl" >&2; exit 1; }
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [[ -z ${VK_DRIVER_FILES:-} && -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
{ nvidia-smi -L 2>&1 || echo "no nvidia-smi"; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; node --import tsx -e "
  const { resolveProvider } = require('./src/engine/model/session');
  console.log('auto:', JSON.stringify(resolveProvider('auto')));" 2>&1 || true; } | tee "$OUT/gpu.txt"

quick=${QUICK:-0}
limit=$([[ $quick == 1 ]] && echo 1 || echo 30)
tokens=$([[ $quick == 1 ]] && echo 8 || echo 48)
for p in webgpu cpu; do
  echo "[gpu] headline on the bundled model, $p"
  node --import tsx bench/cli.ts bench --provider "$p" --threads 0 --limit "$limit" --max-tokens "$tokens" \
    --strategies autoregressive,prompt-lookup,draft-model,token-tree,lookahead,self-speculation \
    --json "$OUT/headline-$p.json" >"$OUT/headline-$p.log" 2>&1 || echo "[gpu] headline $p failed: see $OUT/headline-$p.log"
  tail -15 "$OUT/headline-$p.log"
done

echo "[gpu] 0.5B stand-in, fp16 and int4, webgpu vs cpu"
if [[ $quick == 1 ]]; then
  node --import tsx bench/gpu/standin.ts --quick --tokens 8 --prompt 32 --context 256 --out "$OUT/standin.json"
else
  node --import tsx bench/gpu/standin.ts --tokens 128 --prompt 200 --context 2048 --out "$OUT/standin.json"
fi
ls -la "$OUT"
