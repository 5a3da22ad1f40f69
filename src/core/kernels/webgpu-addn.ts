/**
 * A fix for tfjs-backend-webgpu 4.22: its AddN kernel binds every input as a storage buffer in one shader, and a
 * device allows only limits.maxStorageBuffersPerShaderStage of them (8 by default, one taken by the output). With
 * more inputs the pipeline is invalid, the dispatch never runs, and WebGPU drops the whole command buffer: the
 * result is stale memory and other ops queued with it (the loss!) read garbage. PidTrainer's gradient norm once hit
 * exactly this (it now adds pairwise); this guards every other AddN. (Concat, in the same package, already splits.)
 *
 * The replacement sums in chunks that fit, with the stock kernel; results are the same up to float rounding order.
 */
import { AddN, type KernelFunc, type TensorInfo, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';

interface WebGpuBackendLike {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: object): boolean;
}

let installed = false;

/** Installs the chunked AddN on the webgpu backend (once; a no-op when webgpu is not registered). */
export function installWebGpuAddNFix(): boolean {
  if (installed) return true;
  const stock = getKernel(AddN, 'webgpu');
  if (!stock) return false;
  const stockFunc = stock.kernelFunc;
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as unknown as WebGpuBackendLike;
    const chunk = Math.max(2, b.device.limits.maxStorageBuffersPerShaderStage - 1);
    let tensors = inputs as unknown as TensorInfo[];
    const temporaries: TensorInfo[] = [];
    while (tensors.length > chunk) {
      const next: TensorInfo[] = [];
      for (let i = 0; i < tensors.length; i += chunk) {
        const part = tensors.slice(i, i + chunk);
        if (part.length === 1) {
          next.push(part[0]);
          continue;
        }
        const sum = stockFunc({ inputs: part as unknown as typeof inputs, backend, attrs }) as TensorInfo;
        temporaries.push(sum);
        next.push(sum);
      }
      tensors = next;
    }
    const result = stockFunc({ inputs: tensors as unknown as typeof inputs, backend, attrs }) as TensorInfo;
    // A single remaining input comes back through Identity, which holds its own reference: freeing ours is safe.
    for (const t of temporaries) b.disposeData(t.dataId);
    return result;
  };
  unregisterKernel(AddN, 'webgpu');
  registerKernel({ kernelName: AddN, backendName: 'webgpu', kernelFunc });
  installed = true;
  return true;
}
