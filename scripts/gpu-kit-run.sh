#!/usr/bin/env bash
# The .gpu kit's run.sh (scripts/build-gpu-kit.sh copies it there): tfjs-webgpu through Dawn/Vulkan on a machine
# with a GPU and no Node. From the repo root: bash .gpu/run.sh. Everything it prints lands in $OUT too:
#   run.log (all), gradcheck.txt, bench.txt, bench-before.txt, distill.txt, m28.jsonl, m28-student.safetensors,
#   m28-ckpt.safetensors
# Knobs (environment): BUDGET_S (whole run, default 450), BENCH_BACKENDS (webgpu), DISTILL_STEPS (3000),
# DISTILL_TEACHER (builtin:mnist28-unet), SKIP_GRADCHECK=1, SKIP_BENCH=1, SKIP_BEFORE=1 (no bench of the commit
# before), ONLY_BENCH=1 (the two benches alone: the step figures of both commits in about 3 minutes on an H200),
# and bench's BENCH_UNET_STEPS/BATCHES/IMAGES, BENCH_SAMPLING, BENCH_CHUNK.
set -uo pipefail
cd "$(dirname "$0")/.."
kit=$PWD/.gpu
OUT=${OUT:-/tmp/gpuout}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
budget=${BUDGET_S:-450}
step() { echo; echo "== $* (at ${SECONDS} s)"; }

unxz_to() { # unxz_to FILE.xz DEST, with python's lzma where there is no xz
  if command -v xz > /dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

step "node"
mkdir -p /tmp/pidkit/bin
[ -x /tmp/pidkit/bin/node ] || { unxz_to "$kit/node.xz" /tmp/pidkit/bin/node && chmod +x /tmp/pidkit/bin/node; }
export PATH=/tmp/pidkit/bin:$PATH
node --version || { echo "node does not run here"; exit 1; }
mkdir -p /tmp/pidkit/dawn
[ -f /tmp/pidkit/dawn/dawn.node ] || unxz_to "$kit/dawn.node.xz" /tmp/pidkit/dawn/dawn.node
ln -sfn /tmp/pidkit/dawn "$kit/node_modules/webgpu/dist/linux-x64" # where the package's index.js looks

step "vulkan"
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
  echo "no Vulkan loader: unpacking $(ls "$kit"/libvulkan1_*.deb)"
  for f in "$kit"/libvulkan1_*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
ldconfig -p | grep libvulkan
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* > /dev/null 2>&1; then
  export VK_DRIVER_FILES=$nvidia_icd VK_ICD_FILENAMES=$nvidia_icd
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(loader default)}"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/pidkit/xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
nvidia-smi -L 2> /dev/null || echo "(no nvidia-smi)"
node --input-type=module -e "
  import { create, globals } from '$kit/node_modules/webgpu/index.js';
  Object.assign(globalThis, globals);
  const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  console.log('adapter:', a ? JSON.stringify({ vendor: a.info.vendor, architecture: a.info.architecture, device: a.info.device, description: a.info.description }) : 'NONE');
  if (a) console.log('limits: maxStorageBufferBindingSize', a.limits.maxStorageBufferBindingSize, 'maxComputeWorkgroupStorageSize', a.limits.maxComputeWorkgroupStorageSize, 'maxStorageBuffersPerShaderStage', a.limits.maxStorageBuffersPerShaderStage);
"

if [ "${ONLY_BENCH:-}" = 1 ]; then
  SKIP_GRADCHECK=1
  export BENCH_UNET_BATCHES=${BENCH_UNET_BATCHES:-32,128} BENCH_SAMPLING=${BENCH_SAMPLING:-0} BENCH_UNET_STEPS=${BENCH_UNET_STEPS:-10}
fi
export BENCH_TORCH=0 # no PyTorch there
cat "$kit/commits.txt" 2> /dev/null

if [ "${SKIP_GRADCHECK:-}" != 1 ]; then
  step "webgpu checks (scripts/webgpu-gradcheck.ts)"
  timeout 120 node "$kit/dist/webgpu-gradcheck.mjs" 2>&1 | tee "$OUT/gradcheck.txt"
  echo "exit ${PIPESTATUS[0]}"
fi

if [ "${SKIP_BENCH:-}" != 1 ]; then
  step "bench ${BENCH_BACKENDS:-webgpu}"
  timeout 150 node "$kit/dist/bench.mjs" "${BENCH_BACKENDS:-webgpu}" 2>&1 | tee "$OUT/bench.txt"
  echo "exit ${PIPESTATUS[0]}"
  if [ "${SKIP_BEFORE:-}" != 1 ] && [ -f "$kit/dist-before/bench.mjs" ]; then
    step "bench ${BENCH_BACKENDS:-webgpu}, the commit before ($(sed -n 's/^before: \([0-9a-f]\{10\}\).*/\1/p' "$kit/commits.txt"))"
    timeout 150 node "$kit/dist-before/bench.mjs" "${BENCH_BACKENDS:-webgpu}" 2>&1 | tee "$OUT/bench-before.txt"
    echo "exit ${PIPESTATUS[0]}"
  fi
fi
[ "${ONLY_BENCH:-}" = 1 ] && { step "done (ONLY_BENCH)"; exit 0; }

left=$((budget - SECONDS))
[ "$left" -lt 30 ] && left=30
step "distill on webgpu, at most ${left} s"
timeout --signal=INT --kill-after=10 "$left" node "$kit/dist/pid-studio.mjs" distill --backend webgpu \
  --teacher "${DISTILL_TEACHER:-builtin:mnist28-unet}" --out "$OUT/m28-student.safetensors" \
  --steps "${DISTILL_STEPS:-3000}" --batch 32 --lr 2e-3 --lr-final 2e-5 --ema 0.99 --log "$OUT/m28.jsonl" \
  --checkpoint "$OUT/m28-ckpt.safetensors" --checkpoint-every 30 2>&1 | tee "$OUT/distill.txt"
echo "exit ${PIPESTATUS[0]} (124: stopped by the time budget; the checkpoint and the log hold the run so far)"
step "done"
ls -la "$OUT"
