#!/usr/bin/env bash
# Pack the GPU bench into one bundle for a machine with an NVIDIA GPU and no Node:
#   bench/gpu/out/torchlet-gpu-bench.tar.xz  (checked to be under 64 MiB)
# It holds this machine's Node binary, Dawn's dawn.node for linux-x64 only (the whole `webgpu`
# package ships every platform's build, 137 MB), the bench program bundled into one file by
# esbuild, PyTorch's side of the bench, libvulkan1's loader and the run script.
# On the GPU machine: tar -xJf torchlet-gpu-bench.tar.xz -C DIR && DIR/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/gpu/out
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/lib" "$stage/torchlet/bench" "$stage/torchlet/scripts" "$stage/torchlet/node_modules/webgpu/dist/linux-x64"

# One ES module with everything the bench imports; Dawn stays a separate native module.
npx esbuild bench/gpu/entry.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:webgpu --outfile="$stage/torchlet/bench.mjs" \
  --banner:js="import { createRequire as __torchletRequire } from 'node:module'; const require = __torchletRequire(import.meta.url);"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$stage/torchlet/node_modules/webgpu/"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$stage/torchlet/node_modules/webgpu/dist/linux-x64/"
cp bench/torch_bench.py "$stage/torchlet/bench/"
cp scripts/torch_zoo.py "$stage/torchlet/scripts/"
cp bench/gpu/run.mjs bench/gpu/run.sh "$stage/"
cp "$(readlink -f "$(command -v node)")" "$stage/node"
# The Vulkan loader (the GPU machine supplies its driver's ICD, e.g. NVIDIA's nvidia_icd.json).
cp -L /usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$stage/lib/"

tar -C "$stage" -cf - . | xz -T0 -9 > "$out/torchlet-gpu-bench.tar.xz"
size=$(stat -c %s "$out/torchlet-gpu-bench.tar.xz")
echo "wrote $out/torchlet-gpu-bench.tar.xz ($((size / 1024 / 1024)) MiB)"
if [ "$size" -ge $((64 * 1024 * 1024)) ]; then
  echo "error: the bundle is over 64 MiB" >&2
  exit 1
fi
