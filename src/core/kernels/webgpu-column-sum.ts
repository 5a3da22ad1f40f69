/**
 * PidColumnSum: the sums over the rows of x [N, C], [C], as one WebGPU program for tfjs-backend-webgpu. A bias's
 * gradient is this sum of dy over every axis but the channels; tfjs's Sum over the outer axes first transposes them
 * inwards (a Transpose dispatch and a pass over dy) and then reduces. Here one workgroup per column sums its rows,
 * strided over the workgroup's threads, then in shared memory: as many workgroups as the Sum kernel's own reduction.
 * Registered for webgpu only (backend.ts); `columnSum` takes it there and tf.sum elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type Program, type WebGpuBackendLike, WORKGROUP_ID, treeSum, webGpuKernels } from './webgpu-program';

export const COLUMN_SUM = 'PidColumnSum';

/** Threads of a workgroup (a power of two, at most the 256 invocations WebGPU guarantees). */
const THREADS = 256;

function columnSumProgram(C: number): Program {
  return {
    variableNames: ['X'],
    outputShape: [C],
    shaderKey: `pid_column_sum_${THREADS}`,
    dispatchLayout: { x: [0] },
    dispatch: [C, 1, 1],
    workgroupSize: [THREADS, 1, 1],
    uniforms: 'rows : i32, columns : i32,',
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${THREADS}>;
      fn main(index : i32) {
        let column = ${WORKGROUP_ID};
        var acc = 0.0;
        if (column < uniforms.columns) {
          for (var r = i32(localIndex); r < uniforms.rows; r = r + ${THREADS}) {
            acc = acc + X[r * uniforms.columns + column];
          }
        }
        partial[localIndex] = acc;
        workgroupBarrier();
        ${treeSum(THREADS, 1, ['partial'])}
        if (localIndex == 0u && column < uniforms.columns) {
          result[column] = partial[0];
        }
      }`,
  };
}

function columnSumKernel({ inputs: { x }, backend }: { inputs: Record<string, TensorInfo>; backend: WebGpuBackendLike }): TensorInfo {
  const [N, C] = x.shape;
  return backend.runWebGPUProgram(columnSumProgram(C), [x], 'float32', [{ type: 'int32', data: [N] }, { type: 'int32', data: [C] }]);
}

const kernels = webGpuKernels({ [COLUMN_SUM]: columnSumKernel });
/** Registers PidColumnSum for webgpu (once; false when the webgpu backend is not registered). */
export const registerWebGpuColumnSum = kernels.register;
/** Whether `columnSum` runs PidColumnSum on `backend` (after registration). */
export const fusedWebGpuColumnSum = kernels.on;

/** The sum of t over every axis but the last, [C] (a bias's gradient from dy [..., C]). */
export function columnSum(t: tf.Tensor): tf.Tensor1D {
  const c = t.shape[t.rank - 1];
  if (t.dtype !== 'float32' || !fusedWebGpuColumnSum(tf.getBackend())) return tf.sum(t, Array.from({ length: t.rank - 1 }, (_, i) => i)) as tf.Tensor1D;
  return tf.tidy(() => tf.engine().runKernel(COLUMN_SUM, { x: tf.reshape(t, [-1, c]) }) as tf.Tensor1D);
}
