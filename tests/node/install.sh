#!/usr/bin/env bash
# Installs the real llama.cpp the GGUF tests run: node-llama-cpp 3.21.1 (pinned in package.json and
# package-lock.json) and its prebuilt CPU binaries for this machine (x64 or arm64), without the CUDA
# and Vulkan builds (about 80 MB instead of 730) and without its postinstall step (not needed to load
# models). node-llama-cpp needs Node.js 20 or newer; where the system's is older (Debian 12's and
# Ubuntu 24.04's own are 18), Node.js 20 itself comes from npm too (the node-linux-<arch> package of
# the official binaries, about 150 MB) and the tests run node_modules/.bin/node. Needs npm. Does nothing when
# all of it is already installed.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=3.21.1
NODE_VERSION=20.20.2
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "tests/node/install.sh: no prebuilt llama.cpp for $(uname -m)" >&2; exit 1 ;;
esac
have() { [ -f "node_modules/$1/package.json" ] && grep -q "\"version\": \"$2\"" "node_modules/$1/package.json"; }
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
packages=("@node-llama-cpp/linux-$arch@$VERSION")
if [ "$(node_major)" -lt 20 ]; then
  packages+=("node-linux-$arch@$NODE_VERSION")
  have "node-linux-$arch" "$NODE_VERSION" && have_node=1 || have_node=0
else
  have_node=1
fi
if have node-llama-cpp "$VERSION" && have "@node-llama-cpp/linux-$arch" "$VERSION" && [ "$have_node" = 1 ]; then exit 0; fi
npm ci --omit=optional --ignore-scripts --no-audit --no-fund
npm install --no-save -E --omit=optional --ignore-scripts --no-audit --no-fund "${packages[@]}"
