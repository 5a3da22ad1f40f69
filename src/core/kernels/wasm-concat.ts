/**
 * Concat for the wasm backend. tfjs-wasm 4.22 copies each input's run per outer index with a subarray and a set;
 * concatenating a UNet's skip connection along channels is 100k runs of 16 or 32 entries, and the allocation per run
 * cost 24 ms a concat inside a PID step (4 ms element by element). Short runs are copied element by element here
 * (SHORT_RUN in wasm-slice.ts).
 * Strings and other dtypes than the heap's numbers keep the stock kernel.
 */
import { Concat, type KernelConfig, type KernelFunc, type TensorInfo, backend_util, getKernel, registerKernel, unregisterKernel, util } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { SHORT_RUN } from './wasm-slice';

type Typed = ReturnType<BackendWasm['typedArrayFromHeap']>;

/** out[n, offset + k] = part[n, k] for n < count, k < run, where out's rows are `width` long. */
export function placeRuns(part: Typed, out: Typed, count: number, run: number, width: number, offset: number): void {
  if (run < SHORT_RUN) {
    for (let n = 0, from = 0, to = offset; n < count; n++, from += run, to += width) {
      for (let k = 0; k < run; k++) out[to + k] = part[from + k];
    }
    return;
  }
  for (let n = 0, from = 0, to = offset; n < count; n++, from += run, to += width) out.set(part.subarray(from, from + run), to);
}

let registered = false;

/** Replaces the wasm Concat kernel (idempotent); call after importing @tensorflow/tfjs-backend-wasm. */
export function registerWasmConcat(): void {
  if (registered) return;
  const stock = getKernel(Concat, 'wasm');
  const concat = (args: { inputs: TensorInfo[]; backend: BackendWasm; attrs: { axis: number | number[] } }): TensorInfo => {
    const { inputs, backend, attrs } = args;
    const parts = inputs.filter((t) => util.sizeFromShape(t.shape) > 0);
    if (parts.length < 2 || parts[0].dtype === 'string') return stock!.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    const axis = util.parseAxisParam(attrs.axis, inputs[0].shape)[0];
    backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const out = backend.makeOutput(backend_util.computeOutShape(inputs.map((t) => t.shape), axis), parts[0].dtype);
    const count = util.sizeFromShape(parts[0].shape.slice(0, axis));
    const runs = parts.map((t) => util.sizeFromShape(t.shape.slice(axis)));
    const width = runs.reduce((a, b) => a + b, 0);
    // views taken after the allocation, which may grow (and so move) the heap
    const target = backend.typedArrayFromHeap(out);
    let offset = 0;
    parts.forEach((part, i) => {
      placeRuns(backend.typedArrayFromHeap(part), target, count, runs[i], width, offset);
      offset += runs[i];
    });
    return out;
  };
  if (stock) unregisterKernel(Concat, 'wasm');
  registerKernel({ kernelName: Concat, backendName: 'wasm', setupFunc: stock?.setupFunc, kernelFunc: concat as unknown as KernelFunc } as KernelConfig);
  registered = true;
}
