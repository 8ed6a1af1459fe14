#!/usr/bin/env bash
# Installs what onnxruntime-node's WebGPU provider needs on Debian 12: the Vulkan loader (libvulkan1) and
# Mesa's Vulkan drivers from bookworm-backports (25.x; bookworm's own 22.3 lavapipe lacks features Dawn
# requires). Without a GPU, lavapipe is a software adapter: Hasten's `auto` provider never picks it, but the
# unit tests run every lossless strategy on it against the CPU. A no-op once installed.
set -euo pipefail

installed() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
# Backports' Mesa carries a "~bpo12" version suffix.
if installed libvulkan1 && installed mesa-vulkan-drivers && [[ "$(mesa_version)" == *bpo12* ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [[ ! -f /etc/debian_version ]]; then
  echo "[setup] skipping Vulkan (not a Debian system): the WebGPU unit tests will skip unless a Vulkan driver is installed." >&2
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "[setup] missing Vulkan packages for the WebGPU tests. As root, run: bash scripts/setup-vulkan.sh" >&2
  exit 1
fi

# A deb822 source for bookworm-backports, beside the system's own bookworm entry.
src=/etc/apt/sources.list.d/hasten-bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "[setup] adding $src"
  cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
echo "[setup] apt-get install libvulkan1 and bookworm-backports' mesa-vulkan-drivers"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
