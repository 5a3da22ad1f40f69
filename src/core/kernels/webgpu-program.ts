/**
 * What the project's WebGPU programs (webgpu-group-norm.ts, webgpu-silu.ts) share: the part of tfjs-backend-webgpu's
 * WebGPUProgram they fill in (webgpu_program.d.ts), the backend's runWebGPUProgram, and elementwise programs, one
 * thread per output entry.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

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
