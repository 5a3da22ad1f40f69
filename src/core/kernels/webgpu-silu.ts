/**
 * SiLU as one WebGPU program each way for tfjs-backend-webgpu: PidSilu (x -> y = x sigmoid(x)) and PidSiluGrad
 * (dy, x -> dx = dy s (1 + x (1 - s)), s = sigmoid(x)), both elementwise. Composed of tfjs ops the forward pass is
 * 2 ops (sigmoid, mul) and the backward pass 5; here one program each, and only x is saved.
 * nets/layers.ts takes them where `fusedWebGpuSilu` says so (registered by backend.ts with the webgpu backend).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type WebGpuBackendLike, flatProgram, webGpuKernels } from './webgpu-program';

export const SILU = 'PidSilu';
export const SILU_GRAD = 'PidSiluGrad';

/** sigmoid(v) in WGSL (exp overflows to inf for v << 0, giving 0, as cpu's 1 / (1 + exp(-x))). */
export const SIGMOID = 'fn pidSigmoid(v : f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }';

/** Whether the fused webgpu programs take SiLU on `backend` (after registration). */
export function fusedWebGpuSilu(backend: string): boolean {
  return kernels.on(backend);
}

function silu({ inputs: { x }, backend }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike }): TensorInfo {
  const program = flatProgram(x.shape, ['X'], 'pid_silu', `
          let v = X[index];
          result[index] = v * pidSigmoid(v);`, { prelude: SIGMOID });
  return backend.runWebGPUProgram(program, [x], 'float32');
}

function siluGrad({ inputs: { dy, x }, backend }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike }): TensorInfo {
  const program = flatProgram(x.shape, ['Dy', 'X'], 'pid_silu_grad', `
          let v = X[index];
          let s = pidSigmoid(v);
          result[index] = Dy[index] * s * (1.0 + v * (1.0 - s));`, { prelude: SIGMOID });
  return backend.runWebGPUProgram(program, [dy, x], 'float32');
}

const kernels = webGpuKernels({ [SILU]: silu, [SILU_GRAD]: siluGrad });
/** Registers both kernels for webgpu (once; false when the webgpu backend is not registered). */
export const registerWebGpuSilu = kernels.register;
