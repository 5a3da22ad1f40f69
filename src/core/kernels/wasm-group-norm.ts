/**
 * GroupNorm as two wasm kernels on the SIMD module (simd-module.ts): PidGroupNorm (x, w, b -> y, mean, rstd) and
 * PidGroupNormGrad (dy, x, w, mean, rstd -> dx, dw, db). Composed of tfjs ops, a GroupNorm and its gradient take
 * about 20 kernels, most of them a full pass over the activations; here the forward pass reads x three times and the
 * gradient reads dy and x twice. Only registered for wasm: nets/layers.ts takes them where `fusedGroupNorm` says so.
 */
import { type KernelConfig, type KernelFunc, type TensorInfo, registerKernel } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from './simd-module';

export const GROUP_NORM = 'PidGroupNorm';
export const GROUP_NORM_GRAD = 'PidGroupNormGrad';

/** Whether the fused kernels take a GroupNorm of C channels in `groups` groups on this backend. */
export function fusedGroupNorm(backend: string, channels: number, groups: number): boolean {
  return backend === 'wasm' && simdKernels() !== null && channels % 4 === 0 && channels % groups === 0;
}

type Attrs = { groups: number; eps: number };
const heapOf = (backend: BackendWasm, t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;

/** Copies a view of the SIMD module's memory into a new wasm tensor of the given shape. */
function output(backend: BackendWasm, shape: number[], values: Float32Array): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  heapOf(backend, out).set(values);
  return out;
}

function groupNorm({ inputs: { x, w, b }, backend, attrs: { groups, eps } }: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: Attrs }): TensorInfo[] {
  const [B, H, W, C] = x.shape;
  const r = simdKernels()!.groupNorm(heapOf(backend, x), heapOf(backend, w), heapOf(backend, b), B, H * W, C, groups, eps);
  return [output(backend, x.shape, r.y), output(backend, [B, groups], r.mean), output(backend, [B, groups], r.rstd)];
}

function groupNormGrad({ inputs: { dy, x, w, mean, rstd }, backend, attrs: { groups } }: { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: Attrs }): TensorInfo[] {
  const [B, H, W, C] = x.shape;
  const r = simdKernels()!.groupNormGrad(heapOf(backend, dy), heapOf(backend, x), heapOf(backend, w), heapOf(backend, mean), heapOf(backend, rstd), B, H * W, C, groups);
  return [output(backend, x.shape, r.dx), output(backend, [C], r.dw), output(backend, [C], r.db)];
}

let registered = false;

/** Registers both kernels for wasm (idempotent). */
export function registerWasmGroupNorm(): void {
  if (registered) return;
  registerKernel({ kernelName: GROUP_NORM, backendName: 'wasm', kernelFunc: groupNorm as unknown as KernelFunc } as KernelConfig);
  registerKernel({ kernelName: GROUP_NORM_GRAD, backendName: 'wasm', kernelFunc: groupNormGrad as unknown as KernelFunc } as KernelConfig);
  registered = true;
}
