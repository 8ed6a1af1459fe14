#!/usr/bin/env bash
# Installs the benchmark peers (node-llama-cpp 3.21.1 with its linux-x64 CPU binaries) into
# bench/peers/node_modules from the pinned lock file. They stay out of the extension's dependencies
# and out of the .vsix; the benchmark report and test/unit/gguf.test.ts resolve them from here.
#
#   bash bench/peers/install.sh
#
# NODE_LLAMA_CPP_SKIP_DOWNLOAD and --ignore-scripts: node-llama-cpp must neither download nor build
# llama.cpp (the network is closed); its prebuilt CPU binary ships in @node-llama-cpp/linux-x64.
# --omit=optional: without it npm pulls ~730 MB of CUDA/Vulkan and other platforms' builds.
set -euo pipefail
cd "$(dirname "$0")"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "bench/peers/install.sh: the pinned peer binaries are linux-x64 only (this is $(uname -s)-$(uname -m))" >&2; exit 1 ;;
esac
# Idempotent: a second run (scripts/setup.sh runs this one every time) leaves a matching install alone.
want=$(node -p "require('./package.json').dependencies['node-llama-cpp']")
have=$(node -p "try { require('./node_modules/node-llama-cpp/package.json').version } catch { '' }")
if [ "$have" = "$want" ] && [ -f node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node ]; then
  echo "bench/peers: node-llama-cpp $have already installed"
  exit 0
fi
t0=$SECONDS
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --ignore-scripts --no-audit --no-fund
[ -f node_modules/node-llama-cpp/dist/index.js ] && [ -f node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node ] || {
  echo "bench/peers/install.sh: node-llama-cpp did not install; see npm's output above." >&2
  exit 1
}
echo "bench/peers: node-llama-cpp $(node -p "require('./node_modules/node-llama-cpp/package.json').version") installed in $((SECONDS - t0)) s"
