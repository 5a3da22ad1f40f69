/**
 * Convolution gradients for the wasm backend of tfjs 4.22, which cannot train convolutions as shipped
 * (architecture.md, "Known traps"): it has no Conv2DBackpropFilter and a slow, naive Conv2DBackpropInput.
 * Both are registered here, built from the backend's own fast kernels (XNNPACK matMul and Conv2D):
 *
 *   Conv2DBackpropFilter:  dW[(i, j, c), o] = sum_n cols[(i, j, c), n] dy[n, o]     (im2col, one plain matMul)
 *     cols[(i, j, c), (b, y, x)] = x_pad[b, y s_h + i, x s_w + j, c]   written row by row from a [C, B, H, W] copy
 *     of x, so that the second (the small) operand of the matMul is dy [B OH OW, C_out].
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

function conv2DBackpropFilter({ inputs, backend, attrs }: Args<Conv2DBackpropFilterAttrs>): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad,
    dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat));
  if (info.dataFormat !== 'channelsLast') throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${dataFormat}`);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const { top, left } = info.padInfo;
  const n = B * OH * OW;
  const k = KH * KW * C;

  const xt = run(Transpose, backend, { x }, { perm: [3, 0, 1, 2] }); // [C, B, H, W]
  const cols = backend.makeOutput([1, k, n], 'float32');
  const src = backend.typedArrayFromHeap(xt) as Float32Array; // views taken after the last allocation
  const dst = backend.typedArrayFromHeap(cols) as Float32Array;
  let o = 0;
  for (let i = 0; i < KH; i++) {
    for (let j = 0; j < KW; j++) {
      for (let c = 0; c < C; c++) {
        for (let b = 0; b < B; b++) {
          const plane = (c * B + b) * H * W;
          for (let y = 0; y < OH; y++) {
            const row = y * SH + i - top;
            if (row < 0 || row >= H) {
              dst.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const base = plane + row * W;
            for (let xo = 0; xo < OW; xo++) {
              const col = xo * SW + j - left;
              dst[o++] = col >= 0 && col < W ? src[base + col] : 0;
            }
          }
        }
      }
    }
  }
  backend.disposeData(xt.dataId);

  const dy3 = reshaped(backend, dy, [1, n, O]);
  const dw = run(BatchMatMul, backend, { a: cols, b: dy3 }, { transposeA: false, transposeB: false });
  backend.disposeData(cols.dataId);
  backend.disposeData(dy3.dataId);
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
