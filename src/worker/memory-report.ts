import * as tf from '@tensorflow/tfjs-core';
import type { MemoryReport } from './protocol';

/** tf.memory() of the backend that runs; GPU figures where the backend has them (webgpu and webgl name them differently). */
export function memoryReport(): MemoryReport {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number; numBytesInGPUAllocated?: number };
  const allocated = m.numBytesAllocatedInGPU ?? m.numBytesInGPUAllocated;
  return {
    numTensors: m.numTensors,
    numBytes: m.numBytes,
    ...(m.numBytesInGPU !== undefined ? { gpuBytes: m.numBytesInGPU } : {}),
    ...(allocated !== undefined ? { gpuBytesAllocated: allocated } : {}),
  };
}
