/**
 * Counts the tfjs kernels an async piece of work dispatches through the engine (every tf op, including those of
 * gradients and of the engine's clones of saved tensors), by wrapping the engine's runKernelFunc while it runs.
 * customGrad scopes are not kernels and are not counted; kernels that a custom kernel calls directly on its backend
 * (kernels/wasm-conv-grads.ts) are inside the one launch that called them.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelCount<T> {
  result: T;
  total: number;
  byName: Map<string, number>;
}

type RunKernelFunc = (params: { kernelName?: string }) => unknown;

export async function countKernels<T>(work: () => Promise<T>): Promise<KernelCount<T>> {
  const engine = tf.engine() as unknown as { runKernelFunc: RunKernelFunc };
  const original = engine.runKernelFunc;
  const byName = new Map<string, number>();
  let total = 0;
  engine.runKernelFunc = function (this: unknown, params) {
    if (params.kernelName != null) {
      total += 1;
      byName.set(params.kernelName, (byName.get(params.kernelName) ?? 0) + 1);
    }
    return original.call(this, params);
  };
  try {
    const result = await work();
    return { result, total, byName };
  } finally {
    engine.runKernelFunc = original;
  }
}

/** The most frequent kernels as "Name count, ..." (for a line under a table). */
export function topKernels(byName: Map<string, number>, n = 8): string {
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, c]) => `${k} ${c}`).join(', ');
}

type Dispatch = (this: GPUComputePassEncoder, x: number, y?: number, z?: number) => void;
type Copy = (this: GPUCommandEncoder, ...args: unknown[]) => void;

/**
 * Counts the GPU compute dispatches an async piece of work records, by wrapping GPUComputePassEncoder's
 * dispatchWorkgroups while it runs (tfjs-webgpu records one per program it runs), and the buffer-to-buffer copies
 * (GPUCommandEncoder's copyBufferToBuffer: uploads, readbacks' staging copies and kernels/webgpu-flat-copies.ts; no
 * pipeline or bind group, far cheaper than a dispatch, counted apart). Both are null where there is no WebGPU (no
 * GPUComputePassEncoder global: Dawn's globals are installed by src/core/webgpu-node.ts, a browser has its own).
 */
export async function countDispatches<T>(work: () => Promise<T>): Promise<{ result: T; dispatches: number | null; copies: number | null }> {
  const g = globalThis as { GPUComputePassEncoder?: { prototype: { dispatchWorkgroups: Dispatch } }; GPUCommandEncoder?: { prototype: { copyBufferToBuffer: Copy } } };
  if (!g.GPUComputePassEncoder || !g.GPUCommandEncoder) return { result: await work(), dispatches: null, copies: null };
  const pass = g.GPUComputePassEncoder.prototype;
  const encoder = g.GPUCommandEncoder.prototype;
  const [dispatch, copy] = [pass.dispatchWorkgroups, encoder.copyBufferToBuffer];
  let dispatches = 0;
  let copies = 0;
  pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, x: number, y?: number, z?: number) {
    dispatches += 1;
    return dispatch.call(this, x, y, z);
  };
  encoder.copyBufferToBuffer = function (this: GPUCommandEncoder, ...args: unknown[]) {
    copies += 1;
    return copy.apply(this, args);
  };
  try {
    return { result: await work(), dispatches, copies };
  } finally {
    pass.dispatchWorkgroups = dispatch;
    encoder.copyBufferToBuffer = copy;
  }
}
