/**
 * What "auto" tries first, and why. A software WebGPU adapter (SwiftShader, llvmpipe) runs a PID step about a
 * thousand times slower than a GPU and several times slower than wasm on the same CPU (README, measured), so it is
 * never preferred while wasm runs; WebGL here is the same software rasteriser. A real GPU goes first.
 */
import type { BackendName } from '../core/backend';
import type { AdapterReport } from './protocol';

export interface AutoPlan {
  order: BackendName[];
  /** Why the first of `order` is first, in words for the backend badge. */
  reason: string;
}

export function autoBackendPlan(adapter: AdapterReport | null, adapterNote?: string): AutoPlan {
  if (adapter && !adapter.software) {
    return { order: ['webgpu', 'wasm', 'webgl', 'cpu'], reason: `auto: WebGPU on a GPU (${adapter.description || adapter.vendor || 'hardware adapter'})` };
  }
  if (adapter?.software) {
    return {
      order: ['wasm', 'cpu', 'webgpu'],
      reason: `auto: wasm, because the WebGPU adapter is a software rasteriser (${adapter.description || adapter.device || 'no GPU'}), slower than wasm on this CPU`,
    };
  }
  return { order: ['wasm', 'webgl', 'cpu'], reason: `auto: wasm, because there is no WebGPU adapter${adapterNote ? ` (${adapterNote})` : ''}` };
}
