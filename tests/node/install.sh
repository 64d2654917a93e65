#!/usr/bin/env bash
# Installs the real llama.cpp the GGUF tests run: node-llama-cpp 3.21.1 (pinned in package.json and
# package-lock.json) and its prebuilt CPU binaries for this machine (x64 or arm64), without the CUDA
# and Vulkan builds (about 80 MB instead of 730) and without its postinstall step (not needed to load
# models). Needs Node.js 20 or newer and npm. Does nothing when they are already installed.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=3.21.1
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "tests/node/install.sh: no prebuilt llama.cpp for $(uname -m)" >&2; exit 1 ;;
esac
have() { [ -f "node_modules/$1/package.json" ] && grep -q "\"version\": \"$VERSION\"" "node_modules/$1/package.json"; }
if have node-llama-cpp && have "@node-llama-cpp/linux-$arch"; then exit 0; fi
npm ci --omit=optional --ignore-scripts --no-audit --no-fund
npm install --no-save -E --omit=optional --ignore-scripts --no-audit --no-fund "@node-llama-cpp/linux-$arch@$VERSION"
