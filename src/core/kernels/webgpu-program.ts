/**
 * What the project's WebGPU kernels (kernels/webgpu-*.ts) share: the part of tfjs-backend-webgpu's WebGPUProgram
 * they fill in (webgpu_program.d.ts), the backend's runWebGPUProgram, elementwise programs (one thread per output
 * entry), workgroup reductions, and their registration.
 */
import { type KernelFunc, type TensorInfo, getKernel, registerKernel } from '@tensorflow/tfjs-core';

export interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  getUserCode: () => string;
}

export type Uniform = { type: 'int32' | 'float32'; data: number[] };

export interface WebGpuBackendLike {
  runWebGPUProgram(program: Program, inputs: TensorInfo[], outputDtype: 'float32', uniforms?: Uniform[]): TensorInfo;
  disposeData(dataId: object): boolean;
}

/** Threads of an elementwise workgroup. */
export const FLAT_THREADS = 128;

/**
 * An elementwise program over `shape`: `body` runs for each output entry `index` (below uniforms.size) and writes
 * result[index]; `prelude` holds WGSL functions it calls, `uniforms` the program's own uniforms.
 */
export function flatProgram(shape: number[], variableNames: string[], shaderKey: string, body: string, extra: { uniforms?: string; prelude?: string } = {}): Program {
  const size = shape.reduce((a, b) => a * b, 1);
  return {
    variableNames,
    outputShape: shape,
    shaderKey,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.max(1, Math.ceil(size / FLAT_THREADS)), 1, 1],
    workgroupSize: [FLAT_THREADS, 1, 1],
    ...(extra.uniforms === undefined ? {} : { uniforms: extra.uniforms }),
    size: true,
    getUserCode: () => `
      ${extra.prelude ?? ''}
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

/** The linear id of this workgroup (tfjs reshapes a dispatch over 65535 workgroups into two or three dimensions). */
export const WORKGROUP_ID = 'i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x)';

/**
 * Tree sums of workgroup arrays of `threads` = keep x (a power of two) slots, strides threads / 2 down to keep: slot
 * i < keep ends up with the sum of the slots i + j keep.
 */
export const treeSum = (threads: number, keep: number, arrays: string[]) => threads === keep ? '' : `
  for (var s = ${threads / 2}u; s >= ${keep}u; s = s >> 1u) {
    if (localIndex < s) {
      ${arrays.map((a) => `${a}[localIndex] = ${a}[localIndex] + ${a}[localIndex + s];`).join('\n      ')}
    }
    workgroupBarrier();
  }`;

/**
 * A file's kernels, registered for webgpu by `register` (once; false while the webgpu backend is not registered:
 * backend.ts calls it after loading tfjs-backend-webgpu); `on(backend)` says whether they run there.
 */
export function webGpuKernels(kernels: Record<string, unknown>): { register(): boolean; on(backend: string): boolean } {
  let registered = false;
  return {
    register() {
      if (registered) return true;
      if (!getKernel('Add', 'webgpu')) return false;
      for (const [kernelName, kernelFunc] of Object.entries(kernels)) registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as KernelFunc });
      registered = true;
      return true;
    },
    on: (backend) => backend === 'webgpu' && registered,
  };
}
