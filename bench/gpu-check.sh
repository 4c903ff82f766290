#!/usr/bin/env bash
# On a Linux machine with a GPU: finds Dawn's adapter (WebGPU over Vulkan), prints it, then times
# bench:train's reference steps on webgpu and on wasm side by side (dist/bench/train.js
# --backend webgpu,wasm): a table, and a JSON last line with `adapter` and `step_ms` per backend.
# Exit status: 0 when the steps ran on a hardware adapter; 2 when Dawn finds no adapter or only a
# software one (lavapipe, SwiftShader); 1 on any other failure.
#
# What it runs with, first found wins:
#   Node: ./node/bin/node beside this script's folder (bench/gpu-pack.sh puts one there), then
#         `node` on PATH (>= 20). Neither: unpack the tarball that bench/gpu-pack.sh makes, or
#         install Node 20 (a nodejs.org linux-x64 tarball: extract it and put its bin/ on PATH).
#   node_modules and dist/: beside it (packed), or made with `npm ci && npm run build` when npm
#         is there.
# Options: --steps N (timed steps per reference step, default 7); ABLATE_GPU_CHECK_ALLOW_SOFTWARE=1
# runs the steps on a software adapter too (slow: for checking the script on a machine without a
# GPU) and still exits 2 afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ -x "$root/node/bin/node" ]; then
  node="$root/node/bin/node"
elif command -v node >/dev/null 2>&1; then
  node="$(command -v node)"
else
  echo "gpu-check: no Node found: unpack the tarball made by bench/gpu-pack.sh (it carries node/bin/node)," >&2
  echo "  or install Node 20: extract a nodejs.org node-v20.*-linux-x64.tar.xz and put its bin/ on PATH" >&2
  exit 1
fi
major="$("$node" -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "gpu-check: $node is Node $major; Node >= 20 is needed" >&2; exit 1; }

if [ ! -d node_modules/@tensorflow/tfjs ] || [ ! -f dist/bench/train.js ]; then
  if command -v npm >/dev/null 2>&1 && [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund && npm run build
  else
    echo "gpu-check: node_modules/ or dist/ missing and no npm: use the tarball made by bench/gpu-pack.sh" >&2
    exit 1
  fi
fi

# Dawn's Vulkan loader wants a runtime directory; ssh sessions and containers may have none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d)"
  export XDG_RUNTIME_DIR
fi

echo "gpu-check: node $("$node" --version) at $node"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu-check: nvidia-smi: /' || true
fi
if command -v vulkaninfo >/dev/null 2>&1; then
  vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName|driverInfo|apiVersion' | sed 's/^ */gpu-check: vulkaninfo: /' || true
fi

# The same probe `auto` uses (a child process asks Dawn for the high-performance adapter).
probe="$("$node" --input-type=module -e "
const { probeAdapter, adapterLabel } = await import('$root/dist/src/backend/webgpu-adapter.js');
const p = probeAdapter();
console.log('summary' in p ? (p.summary.software ? 'software ' : 'hardware ') + adapterLabel(p.summary) : 'none ' + p.reason);
")"
kind="${probe%% *}"
echo "gpu-check: adapter: ${probe#* }"
if [ "$kind" != hardware ] && [ -z "${ABLATE_GPU_CHECK_ALLOW_SOFTWARE:-}" ]; then
  echo "gpu-check: no hardware adapter found (see docs/backends.md, \"GPU with WebGPU\")" >&2
  exit 2
fi
[ "$kind" = none ] && exit 2

"$node" dist/bench/train.js --backend webgpu,wasm "$@"
[ "$kind" = hardware ] || { echo "gpu-check: that was a software adapter; no hardware adapter found" >&2; exit 2; }
