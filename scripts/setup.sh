#!/usr/bin/env bash
# Sets up a Debian 12 / Node 20 machine for Hasten's build, demo and tests: the apt packages
# code-server and the end-to-end tests need, `npm ci`, the llama.cpp benchmark peer (which
# test/unit/gguf.test.ts requires under CI) and code-server. Every step is a no-op when already done,
# so `bash scripts/setup.sh && npm test` is both the README's test command and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || {
  echo "[setup] Node $(node --version) is too old: Hasten needs Node 20 or later." >&2
  exit 1
}

# chromium: the end-to-end tests' browser. The rest builds code-server's native modules.
packages=(chromium libkrb5-dev ripgrep build-essential python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "[setup] missing packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "[setup] apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# WebGPU tests: onnxruntime-node's bundled WebGPU provider needs a Vulkan loader and, on a machine without a
# GPU, Mesa's software Vulkan (lavapipe). Debian 12's own Mesa 22.3 lavapipe is refused by Dawn, so the
# driver comes from bookworm-backports (Mesa 25). Idempotent: the source file and packages are added once.
bash scripts/setup-vulkan.sh

# onnxruntime-node's install script fetches CUDA binaries and fails offline; the CPU build ships in the
# package. npm 11 already skips it (package.json allowScripts); this covers npm 10, which runs it.
echo "[setup] npm ci"
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
node -e "require('onnxruntime-node')" || {
  echo "[setup] onnxruntime-node does not load after npm ci; see the error above." >&2
  exit 1
}

# The llama.cpp benchmark peer (node-llama-cpp, prebuilt linux-x64 CPU binary; ~6-25 s the first time).
if [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]]; then
  bash bench/peers/install.sh
else
  echo "[setup] skipping the llama.cpp benchmark peer: its pinned binaries are linux-x64 only" >&2
fi

# code-server for the demo and the end-to-end tests, installed here so that its minutes of building
# never count against a test's timeout (a no-op when it is in the cache).
npx tsx scripts/code-server.ts install
