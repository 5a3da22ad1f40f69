/**
 * Slice and SplitV for the wasm backend that read their input in place. tfjs-wasm 4.22's Slice first copies the
 * whole input out of the wasm heap (readSync) and SplitV slices once per part, so splitting a tensor into k parts
 * copies it k times: splitting a UNet's flat 160k-entry update into its ~100 weights took 185 ms of a 1.2 s PID step.
 * Here each output is filled by copying runs straight from a view of the heap: the input's trailing dimensions that
 * the slice takes whole form one contiguous run, and an odometer walks the dimensions before them.
 * String tensors keep the stock kernels (they do not live in the heap).
 */
import {
  type KernelConfig, type KernelFunc, Slice, SplitV, type TensorInfo, backend_util, getKernel, registerKernel, slice_util, unregisterKernel, util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Typed = ReturnType<BackendWasm['typedArrayFromHeap']>;

/**
 * Runs shorter than this are copied element by element: a subarray per run allocates, and splitting a UNet's
 * channels that way (runs of 16 or 32 entries, 50k of each) took 35 ms a split inside a PID step; element by
 * element, 6 ms.
 */
export const SHORT_RUN = 64;

/** Copies the block [begin, begin + size) of x (row-major, `shape`) into out, in row-major order. */
export function copyBlock(x: Typed, shape: number[], begin: number[], size: number[], out: Typed): void {
  const rank = shape.length;
  const strides = util.computeStrides(shape);
  // the run: the innermost dimensions taken whole, and the first one that is not (taken in part)
  let inner = rank - 1;
  let run = rank === 0 ? 1 : size[rank - 1];
  while (inner > 0 && size[inner] === shape[inner]) {
    inner -= 1;
    run *= size[inner];
  }
  const outer = size.slice(0, inner);
  const count = outer.reduce((a, b) => a * b, 1);
  const index = new Array(inner).fill(0);
  let base = 0;
  for (let d = 0; d < rank; d++) base += begin[d] * (d < strides.length ? strides[d] : 1);
  const short = run < SHORT_RUN;
  for (let n = 0, to = 0; n < count; n++, to += run) {
    let from = base;
    for (let d = 0; d < inner; d++) from += index[d] * strides[d];
    if (short) for (let k = 0; k < run; k++) out[to + k] = x[from + k];
    else out.set(x.subarray(from, from + run), to);
    for (let d = inner - 1; d >= 0; d--) {
      if (++index[d] < outer[d]) break;
      index[d] = 0;
    }
  }
}

function sliceInPlace(backend: BackendWasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (util.sizeFromShape(size) === 0) return out;
  // views taken after the allocation, which may grow (and so move) the heap
  copyBlock(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

let registered = false;

/** Replaces the wasm Slice and SplitV kernels (idempotent); call after importing @tensorflow/tfjs-backend-wasm. */
export function registerWasmSlice(): void {
  if (registered) return;
  const stockSlice = getKernel(Slice, 'wasm');
  const stockSplit = getKernel(SplitV, 'wasm');
  const slice = (args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { begin: number | number[]; size: number | number[] } }): TensorInfo => {
    const { inputs: { x }, backend, attrs } = args;
    if (x.dtype === 'string') return stockSlice!.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs.begin, attrs.size);
    return sliceInPlace(backend, x, begin, size);
  };
  const splitV = (args: { inputs: { x: TensorInfo }; backend: BackendWasm; attrs: { numOrSizeSplits: number | number[]; axis: number | number[] } }): TensorInfo[] => {
    const { inputs: { x }, backend, attrs } = args;
    if (x.dtype === 'string') return stockSplit!.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo[];
    const axis = util.parseAxisParam(attrs.axis, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits, axis);
    const begin = new Array(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const part = sliceInPlace(backend, x, begin, size);
      begin[axis] += s;
      return part;
    });
  };
  for (const [name, stock, kernelFunc] of [[Slice, stockSlice, slice], [SplitV, stockSplit, splitV]] as const) {
    if (stock) unregisterKernel(name, 'wasm');
    registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: stock?.setupFunc, kernelFunc: kernelFunc as unknown as KernelFunc } as KernelConfig);
  }
  registered = true;
}
