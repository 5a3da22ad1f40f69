/**
 * Convolution gradients for the wasm backend of tfjs 4.22, which cannot train convolutions as shipped
 * (architecture.md, "Known traps"): it has no Conv2DBackpropFilter and a slow, naive Conv2DBackpropInput.
 * Both are registered here. At stride 1 with output channels in sixteens, the filter gradient is the WebAssembly SIMD
 * kernel of simd-module.ts (1.3 to 2.7x the im2col path below on a UNet's 14x14 and 28x28 layers: no patch matrix).
 * Otherwise both are built from the backend's own fast kernels (XNNPACK matMul and Conv2D):
 *
 *   Conv2DBackpropFilter: dW[i, j, c, o] = sum over (b, yo, xo) of x[b, yo s_h + i - top, xo s_w + j - left, c] dy[b, yo, xo, o],
 *     one plain matMul against a patch matrix written in JS, on the side with fewer entries to write:
 *       dW   = cols [(i, j, c), B OH OW] @ dy [B OH OW, O]      (im2col of x)
 *       dW^T = rows [(i, j, o), B H W] @ x [B H W, C]          (the same taps, scattered from dy)
 *     With stride 1 and an output as large as the input, each patch row is a shifted copy of a [B, H, W] block.
 *   Conv2DBackpropInput (stride 1): dx = conv2d(dy, W~, pads (k_h - 1 - top, ...)),
 *     W~[i, j, o, c] = W[k_h - 1 - i, k_w - 1 - j, c, o]   (the flipped, transposed filter)
 *     other strides (and NCHW) keep the stock kernel.
 *
 * The kernels call other wasm kernels directly and free what they allocate with backend.disposeData; what they
 * return is a fresh output of refCount 1 (a kernel that returned data some tensor already owns would have to
 * incRef it first).
 */
import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  Transpose,
  backend_util,
  getKernel,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { simdKernels } from './simd-module';

const WASM = 'wasm';

type Args<A> = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: A };

/** Runs another registered wasm kernel on tensor infos (no engine, no tape). */
function run(name: string, backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
  const kernel = getKernel(name, WASM);
  if (!kernel) throw new Error(`the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

/** The same data under another shape of the same size (what the Reshape kernel does: one more reference). */
function reshaped(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

interface Geometry {
  B: number; H: number; W: number; OH: number; OW: number; KH: number; KW: number;
  SH: number; SW: number; top: number; left: number;
}

/** The output columns xo in [from, to) whose tap at filter column j reads an input column inside the image. */
function validColumns(g: Geometry, j: number): [number, number] {
  const from = Math.max(0, Math.ceil((g.left - j) / g.SW));
  const to = Math.min(g.OW, Math.floor((g.W - 1 - j + g.left) / g.SW) + 1);
  return [from, Math.max(from, to)];
}

/** Stride 1 with the output as large as the input (e.g. 'same'): every patch row is the input shifted. */
const isShift = (g: Geometry) => g.SH === 1 && g.SW === 1 && g.OH === g.H && g.OW === g.W;

/**
 * dst[b, y, x] = src[b, y + dy, x + dx] over B planes of H x W, 0 where (y + dy, x + dx) leaves the plane: one
 * contiguous copy of the shifted block, then the rows and columns that wrapped into a neighbour are zeroed.
 */
function copyShifted(src: Float32Array, from: number, dst: Float32Array, to: number, B: number, H: number, W: number, dy: number, dx: number): void {
  const n = B * H * W;
  const shift = dy * W + dx;
  const lo = Math.max(0, -shift);
  const hi = Math.min(n, n - shift);
  dst.set(src.subarray(from + lo + shift, from + hi + shift), to + lo);
  for (let t = 0; t < lo; t++) dst[to + t] = 0;
  for (let t = hi; t < n; t++) dst[to + t] = 0;
  const x0 = Math.max(0, -dx);
  const x1 = Math.min(W, W - dx);
  for (let b = 0; b < B; b++) {
    for (let y = 0; y < H; y++) {
      const row = to + (b * H + y) * W;
      if (y + dy < 0 || y + dy >= H) {
        for (let x = 0; x < W; x++) dst[row + x] = 0;
        continue;
      }
      for (let x = 0; x < x0; x++) dst[row + x] = 0;
      for (let x = x1; x < W; x++) dst[row + x] = 0;
    }
  }
}

/**
 * Input side: cols[(i, j, c), (b, yo, xo)] = x[b, yo s_h + i - top, xo s_w + j - left, c], 0 in the padding;
 * `src` is x as [C, B, H, W], so each row copies contiguous runs.
 */
function fillInputPatches(src: Float32Array, dst: Float32Array, g: Geometry, C: number): void {
  const { B, H, W, OH, OW, KH, KW, SH, SW, top, left } = g;
  if (isShift(g)) {
    const n = B * H * W;
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        for (let c = 0; c < C; c++) copyShifted(src, c * n, dst, ((i * KW + j) * C + c) * n, B, H, W, i - top, j - left);
      }
    }
    return;
  }
  let o = 0;
  for (let i = 0; i < KH; i++) {
    for (let j = 0; j < KW; j++) {
      const [from, to] = validColumns(g, j);
      for (let c = 0; c < C; c++) {
        for (let b = 0; b < B; b++) {
          const plane = (c * B + b) * H * W;
          for (let yo = 0; yo < OH; yo++, o += OW) {
            const y = yo * SH + i - top;
            // Plain loops: rows are short, and a TypedArray.fill call per row costs more than it saves.
            if (y < 0 || y >= H) {
              for (let xo = 0; xo < OW; xo++) dst[o + xo] = 0;
              continue;
            }
            const base = plane + y * W + j - left;
            for (let xo = 0; xo < from; xo++) dst[o + xo] = 0;
            for (let xo = from; xo < to; xo++) dst[o + xo] = src[base + xo * SW];
            for (let xo = to; xo < OW; xo++) dst[o + xo] = 0;
          }
        }
      }
    }
  }
}

/**
 * Output side: rows[(i, j, o), (b, y, x)] = dy[b, yo, xo, o] where tap (i, j) of output pixel (yo, xo) reads input
 * pixel (y, x), else 0; `src` is dy as [O, B, OH, OW].
 */
function fillOutputPatches(src: Float32Array, dst: Float32Array, g: Geometry, O: number): void {
  const { B, H, W, OH, OW, KH, KW, SH, SW, top, left } = g;
  const n = B * H * W;
  if (isShift(g)) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        for (let ch = 0; ch < O; ch++) copyShifted(src, ch * n, dst, ((i * KW + j) * O + ch) * n, B, H, W, top - i, left - j);
      }
    }
    return;
  }
  dst.fill(0);
  for (let i = 0; i < KH; i++) {
    for (let j = 0; j < KW; j++) {
      const [from, to] = validColumns(g, j);
      for (let ch = 0; ch < O; ch++) {
        const row = ((i * KW + j) * O + ch) * n;
        for (let b = 0; b < B; b++) {
          const plane = (ch * B + b) * OH * OW;
          for (let yo = 0; yo < OH; yo++) {
            const y = yo * SH + i - top;
            if (y < 0 || y >= H) continue;
            const base = row + (b * H + y) * W + j - left;
            const srcRow = plane + yo * OW;
            for (let xo = from; xo < to; xo++) dst[base + xo * SW] = src[srcRow + xo];
          }
        }
      }
    }
  }
}

/**
 * dW[i, j, c, o] = sum over (b, yo, xo) of x[b, yo s_h + i - top, xo s_w + j - left, c] dy[b, yo, xo, o], as one
 * plain matMul with a patch matrix built on the side with fewer entries to write:
 *   C N_out <= O N_in:  dW = cols [(i, j, c), N_out] @ dy [N_out, O]
 *   otherwise:          dW^T = rows [(i, j, o), N_in] @ x [N_in, C], then the small transpose to [i, j, c, o].
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: Args<Conv2DBackpropFilterAttrs>): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad,
    dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat));
  if (info.dataFormat !== 'channelsLast') throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${dataFormat}`);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const g: Geometry = { B, H, W, OH, OW, KH, KW, SH, SW, top: info.padInfo.top, left: info.padInfo.left };
  const simd = simdKernels();
  if (simd && SH === 1 && SW === 1 && simdChannels(O)) {
    const dw = simd.convFilterGrad(backend.typedArrayFromHeap(x) as Float32Array, backend.typedArrayFromHeap(dy) as Float32Array,
      { B, H, W, C, OH, OW, O, KH, KW, top: g.top, left: g.left });
    const out = backend.makeOutput([...filterShape], 'float32');
    (backend.typedArrayFromHeap(out) as Float32Array).set(dw);
    return out;
  }
  const nOut = B * OH * OW;
  const nIn = B * H * W;
  const taps = KH * KW;

  if (C * nOut <= O * nIn) {
    const xt = run(Transpose, backend, { x }, { perm: [3, 0, 1, 2] }); // [C, B, H, W]
    const cols = backend.makeOutput([1, taps * C, nOut], 'float32');
    // Heap views are taken after the last allocation (an allocation may grow and detach the heap).
    fillInputPatches(backend.typedArrayFromHeap(xt) as Float32Array, backend.typedArrayFromHeap(cols) as Float32Array, g, C);
    backend.disposeData(xt.dataId);
    const dy3 = reshaped(backend, dy, [1, nOut, O]);
    const dw = run(BatchMatMul, backend, { a: cols, b: dy3 }, { transposeA: false, transposeB: false });
    backend.disposeData(cols.dataId);
    backend.disposeData(dy3.dataId);
    return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
  }
  const dyt = run(Transpose, backend, { x: dy }, { perm: [3, 0, 1, 2] }); // [O, B, OH, OW]
  const rows = backend.makeOutput([1, taps * O, nIn], 'float32');
  fillOutputPatches(backend.typedArrayFromHeap(dyt) as Float32Array, backend.typedArrayFromHeap(rows) as Float32Array, g, O);
  backend.disposeData(dyt.dataId);
  const x3 = reshaped(backend, x, [1, nIn, C]);
  const dwT = run(BatchMatMul, backend, { a: rows, b: x3 }, { transposeA: false, transposeB: false }); // [1, taps O, C]
  backend.disposeData(rows.dataId);
  backend.disposeData(x3.dataId);
  const byTap = reshaped(backend, dwT, [taps, O, C]);
  backend.disposeData(dwT.dataId);
  const dw = run(Transpose, backend, { x: byTap }, { perm: [0, 2, 1] }); // [taps, C, O]
  backend.disposeData(byTap.dataId);
  return { dataId: dw.dataId, shape: [...filterShape], dtype: 'float32' };
}

/** Returns a Conv2DBackpropInput kernel that handles stride 1 itself and hands the rest to `stock`. */
function makeConv2DBackpropInput(stock: KernelFunc | undefined) {
  return function conv2DBackpropInput(args: Args<Conv2DBackpropInputAttrs>): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad,
      dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat));
    const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = info;
    const { filterHeight: KH, filterWidth: KW } = info;
    const pt = KH - 1 - info.padInfo.top;
    const pl = KW - 1 - info.padInfo.left;
    const pb = H - OH - pt + KH - 1;
    const pr = W - OW - pl + KW - 1;
    const direct = info.dataFormat === 'channelsLast' && info.strideHeight === 1 && info.strideWidth === 1
      && Math.min(pt, pl, pb, pr) >= 0;
    if (!direct) {
      if (!stock) throw new Error('wasm Conv2DBackpropInput: only stride 1 NHWC is supported');
      return stock(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    }

    const flipped = backend.makeOutput([KH, KW, O, C], 'float32');
    const w = backend.typedArrayFromHeap(filter) as Float32Array; // [KH, KW, C, O]
    const f = backend.typedArrayFromHeap(flipped) as Float32Array;
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const from = ((KH - 1 - i) * KW + (KW - 1 - j)) * C * O;
        const to = (i * KW + j) * O * C;
        for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) f[to + o * C + c] = w[from + c * O + o];
      }
    }
    const dx = run(Conv2D, backend, { x: dy, filter: flipped }, {
      strides: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dilations: [1, 1], dataFormat: 'NHWC',
    } as unknown as NamedAttrMap);
    backend.disposeData(flipped.dataId);
    return dx;
  };
}

/**
 * Output channels the SIMD filter gradient takes: whole blocks of sixteen (its tail is a scalar loop, slower than
 * the im2col path for a handful of channels).
 */
const simdChannels = (O: number) => O % 16 === 0;

let registered = false;

/** Registers both kernels for the wasm backend (idempotent); call after importing @tensorflow/tfjs-backend-wasm. */
export function registerWasmConvGrads(): void {
  if (registered) return;
  const stock = getKernel(Conv2DBackpropInput, WASM);
  if (stock) unregisterKernel(Conv2DBackpropInput, WASM);
  const existingFilter = getKernel(Conv2DBackpropFilter, WASM);
  if (existingFilter) unregisterKernel(Conv2DBackpropFilter, WASM);
  registerKernel({
    kernelName: Conv2DBackpropFilter,
    backendName: WASM,
    kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
  });
  registerKernel({
    kernelName: Conv2DBackpropInput,
    backendName: WASM,
    // The stock kernel's setup (it binds its wasm function) must still run: the fallback calls it.
    setupFunc: stock?.setupFunc,
    kernelFunc: makeConv2DBackpropInput(stock?.kernelFunc) as unknown as KernelFunc,
  } as KernelConfig);
  registered = true;
}
