/**
 * BatchMatMul for the wasm backend where there is more than one matrix. tfjs-wasm 4.22 hands such batches to a scalar
 * loop (its XNNPACK path takes one matrix at a time): attention's 64 products of 49 x 49 by 49 x 32 took 5.4 ms, where
 * one 3136 x 49 by 49 x 32 product, the same arithmetic, takes 0.4 ms. Batches run here on the SIMD kernel
 * (simd-module.ts); a single matrix, a broadcast batch and engines without WebAssembly SIMD keep the stock kernel.
 */
import { BatchMatMul, type BatchMatMulAttrs, type KernelConfig, type KernelFunc, type TensorInfo, getKernel, registerKernel, unregisterKernel, util } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from './simd-module';

let registered = false;

/** Replaces the wasm BatchMatMul kernel (idempotent); call after importing @tensorflow/tfjs-backend-wasm. */
export function registerWasmBatchMatMul(): void {
  if (registered) return;
  const stock = getKernel(BatchMatMul, 'wasm');
  const batchMatMul = (args: { inputs: { a: TensorInfo; b: TensorInfo }; backend: BackendWasm; attrs: BatchMatMulAttrs }): TensorInfo => {
    const { inputs: { a, b }, backend, attrs: { transposeA, transposeB } } = args;
    const simd = simdKernels();
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batch = util.sizeFromShape(a.shape.slice(0, -2));
    const sameBatch = ra === rb && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
    if (!simd || batch < 2 || !sameBatch || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return stock!.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    }
    const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    if (K !== kb) throw new Error(`matMul: inner dimensions ${K} and ${kb} of shapes [${a.shape}] and [${b.shape}] differ`);
    const product = simd.batchMatMul(backend.typedArrayFromHeap(a) as Float32Array, backend.typedArrayFromHeap(b) as Float32Array,
      batch, M, K, N, transposeA, transposeB);
    const out = backend.makeOutput([...a.shape.slice(0, -2), M, N], 'float32');
    (backend.typedArrayFromHeap(out) as Float32Array).set(product);
    return out;
  };
  if (stock) unregisterKernel(BatchMatMul, 'wasm');
  registerKernel({ kernelName: BatchMatMul, backendName: 'wasm', setupFunc: stock?.setupFunc, kernelFunc: batchMatMul as unknown as KernelFunc } as KernelConfig);
  registered = true;
}
