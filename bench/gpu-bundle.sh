#!/usr/bin/env bash
# Bundles bench/gpu.ts for a GPU machine (see ../shared/gpu/README.md): one ESM file that loads
# Dawn from ./webgpu/dawn.node and installs navigator.gpu before anything else runs.
#   bash ../shared/gpu/prepare.sh && bash bench/gpu-bundle.sh
#   device run: cd .device && bash on-device.sh node app.mjs   (carry [".device"]), results in $OUT
set -euo pipefail
out=${1:-.device/app.mjs}
npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --outfile="$out" --log-level=warning \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="import { createRequire as cr } from 'module'; const require = cr(import.meta.url); { const { create, globals } = require('./webgpu/dawn.node'); Object.assign(globalThis, globals); globalThis.navigator = { gpu: create([]) }; }"
ls -l "$out"
