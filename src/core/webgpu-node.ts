/**
 * WebGPU for Node: Dawn's Node binding (the npm package `webgpu`) installed as `navigator.gpu`, with the WebGPU
 * globals (GPUBufferUsage, GPUMapMode, ...) that tfjs-backend-webgpu reads. It must run before that backend is
 * imported: the backend registers itself only when it finds `navigator.gpu` at import time.
 *
 * Dawn talks to the GPU through Vulkan on Linux. Without a GPU, Mesa's lavapipe (mesa-vulkan-drivers) is a
 * software Vulkan driver; Dawn turns down Mesa before 23.x (no shaderSampledImageArrayDynamicIndexing), so on
 * Debian 12 it has to come from bookworm-backports.
 */

export interface NodeWebGpu {
  /** The adapter in one line, e.g. "nvidia hopper: NVIDIA H100 80GB HBM3" or "mesa software: llvmpipe ...". */
  description: string;
}

/** What a missing Vulkan adapter needs, in one line (the CLI and the tests print it). */
export const NO_ADAPTER_HINT =
  'Dawn (npm package webgpu) found no Vulkan adapter: install a GPU driver with Vulkan, or the software one ' +
  '(apt-get install mesa-vulkan-drivers, Mesa 23 or newer; Debian 12: -t bookworm-backports)';

let installed: NodeWebGpu | null = null;

/** One line from GPUAdapterInfo: vendor and architecture, then the description (or device) where there is one. */
export function describeAdapter(info: Partial<Pick<GPUAdapterInfo, 'vendor' | 'architecture' | 'device' | 'description'>>): string {
  const head = [info.vendor, info.architecture].filter(Boolean).join(' ');
  const tail = info.description || info.device || '';
  return [head, tail].filter(Boolean).join(': ') || 'unnamed adapter';
}

/**
 * Installs Dawn as `navigator.gpu` and checks that it has an adapter; throws (one line, NO_ADAPTER_HINT) when not.
 * A `navigator.gpu` that is already there (a browser, Deno, a second call) is kept and only described.
 */
export async function installNodeWebGpu(): Promise<NodeWebGpu> {
  if (installed) return installed;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu = nav?.gpu;
  if (!gpu) {
    let dawn: typeof import('webgpu');
    try {
      dawn = await import('webgpu');
    } catch (e) {
      throw new Error(`the npm package webgpu (Dawn) did not load: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const [name, value] of Object.entries(dawn.globals)) {
      if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
    }
    gpu = dawn.create([]);
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_HINT);
  if (!nav?.gpu) setNavigatorGpu(gpu);
  installed = { description: describeAdapter(adapter.info) };
  return installed;
}

/** Node 21+ has a `navigator` without `gpu`; Node 20 has none. */
function setNavigatorGpu(gpu: GPU): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}
