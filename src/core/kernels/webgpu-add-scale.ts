/**
 * PidAddScale: (a + b) s for two tensors of one shape and a number s, as one WebGPU program for
 * tfjs-backend-webgpu (EDM's residual sum and skip_scale, an Add and a Multiply dispatch with tf ops). Registered
 * for webgpu only (backend.ts); nets/layers.ts's residualAdd takes it there.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type WebGpuBackendLike, flatProgram, webGpuKernels } from './webgpu-program';

export const ADD_SCALE = 'PidAddScale';

function addScale({ inputs: { a, b }, backend, attrs: { scale } }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike; attrs: { scale: number } }): TensorInfo {
  const program = flatProgram(a.shape, ['A', 'B'], 'pid_add_scale', 'result[index] = (A[index] + B[index]) * uniforms.scale;', { uniforms: 'scale : f32,' });
  return backend.runWebGPUProgram(program, [a, b], 'float32', [{ type: 'float32', data: [scale] }]);
}

const kernels = webGpuKernels({ [ADD_SCALE]: addScale });
/** Registers PidAddScale for webgpu (once; false when the webgpu backend is not registered). */
export const registerWebGpuAddScale = kernels.register;
/** Whether PidAddScale runs on `backend` (after registration). */
export const fusedWebGpuAddScale = kernels.on;
