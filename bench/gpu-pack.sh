#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs into one tarball for a Linux x64 machine with an NVIDIA GPU
# that may have no Node, no npm and no network: the built dist/, the production node_modules
# (webgpu's Dawn build for linux-x64 only), this machine's node binary and the check script.
#   bench/gpu-pack.sh [out.tar.gz]        (default: ablate-gpu-check.tar.gz)
# Then, on the GPU machine: tar xzf ablate-gpu-check.tar.gz && ablate-gpu-check/bench/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-ablate-gpu-check.tar.gz}")"
[ -d node_modules/webgpu ] || { echo "node_modules/webgpu is missing: run npm ci first" >&2; exit 1; }
npm run build >/dev/null
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dest="$stage/ablate-gpu-check"
mkdir -p "$dest/bench" "$dest/node/bin"
cp -a dist package.json package-lock.json "$dest/"
cp bench/gpu-check.sh "$dest/bench/"
cp -a node_modules "$dest/"
# Offline: drops the dev tools (TypeScript, biome, playwright), keeps the optional webgpu.
(cd "$dest" && npm prune --omit=dev --no-audit --no-fund --offline >/dev/null)
# Dawn builds for other platforms: ~110 MB that a Linux x64 machine never loads.
find "$dest/node_modules/webgpu/dist" -mindepth 1 -maxdepth 1 -type d ! -name linux-x64 -exec rm -rf {} +
# The node binary links only glibc and libstdc++ (any Linux x64 with glibc >= 2.28 runs it).
cp "$(command -v node)" "$dest/node/bin/node"
tar czf "$out" -C "$stage" ablate-gpu-check
echo "$out: $(du -h "$out" | cut -f1) (node $(node --version), webgpu $(node -p "require('./node_modules/webgpu/package.json').version"))"
