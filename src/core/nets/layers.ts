/**
 * The layers of the image networks (unet, edm-songunet, edm-dhariwalunet), on NHWC tensors with PyTorch-layout
 * weights looked up by name in Params. Written around tfjs traps, so that their gradients are right on cpu, wasm,
 * webgl and webgpu:
 *   - conv weights [out, in, kh, kw] are transposed to HWIO at use; 1x1 convs are a plain-matMul `linear`
 *     (tfjs-wasm's transposed matMul is slow); on webgpu Linear and Conv2d are nets/webgpu-layers.ts's, in fewer
 *     dispatches;
 *   - GroupNorm has a hand-written gradient (fewer full-size ops than autodiff through the means), and on wasm is
 *     one SIMD kernel each way; on webgpu it is a few WebGPU programs each way, which also take the SiLU after it
 *     and a per-(sample, channel) add before or scale and shift after (groupNormSilu);
 *   - no resizeNearestNeighbor (its cpu gradient is wrong for batch > 1), no depthwise or transposed convolutions
 *     (tfjs-wasm has no DepthwiseConv2dNative gradient kernels, and a slow naive Conv2DBackpropInput): EDM's
 *     resampling, a depthwise (transposed) convolution with the outer product of a 1D filter, is done separably,
 *     one axis at a time, with reshapes, slices, broadcast products and sums, whose gradients every backend has.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EdmBlock } from '../../formats/edm-networks';
import type { Params } from './params';
import { GROUP_NORM, GROUP_NORM_GRAD, fusedGroupNorm } from '../kernels/wasm-group-norm';
import { GROUP_NORM_ACT, GROUP_NORM_ACT_GRAD, type GroupNormActAttrs, fusedWebGpuGroupNorm } from '../kernels/webgpu-group-norm';
import { flatSplit } from '../kernels/flat';
import { SILU, SILU_GRAD, fusedWebGpuSilu } from '../kernels/webgpu-silu';
import { ADD_SCALE, fusedWebGpuAddScale } from '../kernels/webgpu-add-scale';
import { webgpuConv2d, webgpuLayersOn, webgpuLinear } from './webgpu-layers';
import { isBoxFilter } from './box-filter';

/**
 * SiLU, x sigmoid(x), with its derivative written out: d/dx = s (1 + x (1 - s)), s = sigmoid(x). Autodiff through
 * mul and sigmoid saves three tensors and runs eight backward kernels (casts included); this saves two and runs five.
 * On webgpu it is one WebGPU program each way (kernels/webgpu-silu.ts).
 */
export const silu = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  if (x.dtype === 'float32' && fusedWebGpuSilu(tf.getBackend())) {
    // webgpu: one program each way (kernels/webgpu-silu.ts), saving x only
    save([x]);
    return {
      value: tf.engine().runKernel(SILU, { x }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => tf.engine().runKernel(SILU_GRAD, { dy, x: xs }) as tf.Tensor,
    };
  }
  const s = tf.sigmoid(x);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [xs, ss]: tf.Tensor[]) => tf.mul(dy, tf.mul(ss, tf.add(tf.mul(xs, tf.sub(1, ss)), 1))),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/**
 * y = x W^T + b with W [out, in] (nn.Linear), with explicit transposes and plain products forward and backward
 * (tfjs-wasm's transposed matMul is 7-10x slower than a plain one, measured 21 ms vs 3 ms for [4096,64] x [64,64]):
 *   dx = dy W,  dW = dy^T x,  db = sum_batch dy.
 * A weight that is a variable is not saved (the engine would clone it): it stays the same tensor until the backward
 * pass. (tf.fused.matMul would add the bias in the product, but wraps it in three reshapes: more launches.)
 */
function linearOp(w: tf.Tensor2D) {
  const isVariable = w instanceof tf.Variable;
  return tf.customGrad(((x: tf.Tensor2D, wIn: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save(isVariable ? [x] : [x, wIn]);
    return {
      value: tf.add(tf.matMul(x, tf.transpose(wIn)), b),
      gradFunc: (dy: tf.Tensor2D, [xs, ws]: tf.Tensor[]) => {
        const weight = (ws ?? w) as tf.Tensor2D;
        return [tf.matMul(dy, weight), tf.matMul(tf.transpose(dy), xs as tf.Tensor2D), tf.sum(dy, 0)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

/**
 * a + b for two tensors of one shape (a residual sum): the gradient hands dy to both inputs, without the two inputs
 * that tf.add saves for the broadcast reductions it might need (one Identity launch each).
 */
const sameShapeAdd = tf.customGrad(((a: tf.Tensor, b: tf.Tensor) => ({
  value: tf.add(a, b),
  gradFunc: (dy: tf.Tensor) => [dy, tf.clone(dy)], // two tensors: the tape may dispose one input's gradient
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** (a + b) s, likewise; on webgpu one program forward (kernels/webgpu-add-scale.ts), one product backward. */
function scaledSameShapeAdd(scale: number) {
  return tf.customGrad(((a: tf.Tensor, b: tf.Tensor) => ({
    value: a.dtype === 'float32' && fusedWebGpuAddScale(tf.getBackend())
      ? tf.engine().runKernel(ADD_SCALE, { a, b }, { scale }) as tf.Tensor
      : tf.mul(tf.add(a, b), scale),
    gradFunc: (dy: tf.Tensor) => {
      const g = tf.mul(dy, scale);
      return [g, tf.clone(g)];
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
}

/** The residual sum (a + b) scale of two tensors of one shape. */
export function residualAdd<T extends tf.Tensor>(a: T, b: tf.Tensor, scale = 1): T {
  if (a.shape.join(',') !== b.shape.join(',')) throw new Error(`residualAdd: shapes [${a.shape}] and [${b.shape}] differ`);
  return (scale === 1 ? sameShapeAdd(a, b) : scaledSameShapeAdd(scale)(a, b)) as T;
}

/** The Linear `name` (`name.weight` [out, in], `name.bias` [out]) on x [B, in]. */
export function linear(params: Params, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const w = params.get(`${name}.weight`)! as tf.Tensor2D;
  if (webgpuLayersOn()) return webgpuLinear(x, w, params.get(`${name}.bias`)! as tf.Tensor1D);
  return linearOp(w)(x, w, params.get(`${name}.bias`)!) as tf.Tensor2D;
}

/** Conv2d, 'same' padding, stride 1: x [B, H, W, in] with weight [out, in, kh, kw] (odd k) -> [B, H, W, out]. */
export function conv2d(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const weight = params.get(`${name}.weight`)!;
  if (weight.shape[2] === 1 && weight.shape[3] === 1) return conv1x1(params, name, x);
  const bias = params.get(`${name}.bias`);
  if (bias && webgpuLayersOn()) return webgpuConv2d(x, weight, bias);
  const filter = tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D; // HWIO
  // the bias added inside the convolution's kernel (one pass over the output fewer)
  return bias ? tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias }) : tf.conv2d(x, filter, 1, 'same');
}

/** A 1x1 Conv2d as a Linear over the channels (the plain-matMul `linear`). */
export function conv1x1(params: Params, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const weight = params.get(`${name}.weight`)!;
  const bias = params.get(`${name}.bias`) ?? tf.zeros([weight.shape[0]]);
  const asLinear: Params = new Map([
    ['w.weight', tf.reshape(weight, [weight.shape[0], c])],
    ['w.bias', bias],
  ]);
  return tf.reshape(linear(asLinear, 'w', tf.reshape(x, [b * h * w, c])), [b, h, w, -1]);
}

/** Per-sample, per-channel mean over (H, W), [B, 1, 1, C]: a global avgPool (on wasm 6x faster than tf.mean). */
const channelMean = (x: tf.Tensor4D): tf.Tensor4D => tf.avgPool(x, [x.shape[1], x.shape[2]], 1, 'valid');

/** The block-diagonal [C, C] matrix that averages each group of C / groups channels (kept, one per shape). */
const groupAverages = new Map<string, tf.Tensor2D>();
function groupAveraging(c: number, groups: number): tf.Tensor2D {
  const key = `${c}/${groups}`;
  let m = groupAverages.get(key);
  if (!m || m.isDisposed) {
    const size = c / groups;
    const data = new Float32Array(c * c);
    for (let i = 0; i < c; i++) for (let j = Math.floor(i / size) * size, e = j + size; j < e; j++) data[i * c + j] = 1 / size;
    m = tf.keep(tf.tensor2d(data, [c, c]));
    groupAverages.set(key, m);
  }
  return m;
}

/** Frees the kept group-averaging matrices (a leak check counts tensors; the next GroupNorm makes them again). */
export function releaseLayerConstants(): void {
  tf.dispose([...groupAverages.values()]);
  groupAverages.clear();
}

/**
 * The mean over each channel group of a per-channel statistic s [B, 1, 1, C], broadcast back to [B, 1, 1, C]: one
 * product with the group-averaging matrix (one kernel, where reshape, mean and a broadcast back take four).
 */
function groupMean(s: tf.Tensor, groups: number): tf.Tensor {
  return tf.matMul(s as tf.Tensor4D, groupAveraging(s.shape[3]!, groups) as unknown as tf.Tensor4D);
}

/**
 * GroupNorm over (H, W, channels of the group) of each sample, then the per-channel affine:
 *   x^ = (x - mu_g) r_g,  r_g = 1 / sqrt(var_g + eps),  y = x^ w + b.
 * The backward pass is written out (fewer full-size ops than autodiff through the means):
 *   db = sum dy,  dw = sum dy x^,  dx = r_g (dy w - mean_g(dy w) - x^ mean_g(dy w x^)),
 * where sum runs over (B, H, W) and mean_g over the group's (H, W, channels).
 */
function groupNormOp(groups: number, eps: number) {
  return tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const centred: tf.Tensor4D = tf.sub(x, groupMean(channelMean(x), groups));
    const r = tf.rsqrt(tf.add(groupMean(channelMean(tf.square(centred)), groups), eps));
    save([centred, r, w]);
    return {
      value: tf.add(tf.mul(centred, tf.mul(r, w)), b),
      gradFunc: (dy: tf.Tensor4D, [c, rs, ws]: tf.Tensor[]) => {
        const pixels = dy.shape[1] * dy.shape[2];
        const xHat = tf.mul(c, rs);
        const meanDy = channelMean(dy); // [B, 1, 1, C]
        const meanDyXHat = channelMean(tf.mul(dy, xHat) as tf.Tensor4D);
        const dx = tf.sub(
          tf.sub(tf.mul(dy, tf.mul(ws, rs)), tf.mul(xHat, tf.mul(groupMean(tf.mul(meanDyXHat, ws), groups), rs))),
          tf.mul(groupMean(tf.mul(meanDy, ws), groups), rs),
        );
        return [dx, tf.mul(tf.sum(meanDyXHat, [0, 1, 2]), pixels), tf.mul(tf.sum(meanDy, [0, 1, 2]), pixels)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

/** The same GroupNorm as one kernel each way (kernels/wasm-group-norm.ts), saving x and the group statistics. */
function fusedGroupNormOp(groups: number, eps: number) {
  return tf.customGrad(((x: tf.Tensor4D, w: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = tf.engine().runKernel(GROUP_NORM, { x, w, b }, { groups, eps }) as tf.Tensor[];
    save([x, w, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, [xs, ws, m, r]: tf.Tensor[]) =>
        tf.engine().runKernel(GROUP_NORM_GRAD, { dy, x: xs, w: ws, mean: m, rstd: r }, { groups, eps }) as tf.Tensor[],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

/**
 * GroupNorm with its optional add before, scale and shift after and SiLU as the webgpu kernels (2 programs forward,
 * 3 backward, kernels/webgpu-group-norm.ts), on (x, w, b) or (x, w, b, cond), saving the inputs and the group
 * statistics. The kernel's gradient of (w, b, cond) is one flat tensor, cut by flatSplit.
 */
function webGpuGroupNormOp(attrs: GroupNormActAttrs) {
  return tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, w, b, cond] = args as tf.Tensor[];
    const [y, stats] = tf.engine().runKernel(GROUP_NORM_ACT, cond ? { x, w, b, cond } : { x, w, b }, attrs) as tf.Tensor[];
    save(cond ? [x, w, b, stats, cond] : [x, w, b, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [xs, ws, bs, st, cs]: tf.Tensor[]) => {
        const inputs = { dy, x: xs, w: ws, b: bs, stats: st, ...(cs ? { cond: cs } : {}) };
        const [dx, params] = tf.engine().runKernel(GROUP_NORM_ACT_GRAD, inputs, attrs) as tf.Tensor[];
        const c = xs.shape[3]!;
        return [dx, ...flatSplit(params as tf.Tensor1D, cs ? [[c], [c], cs.shape] : [[c], [c]])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

/**
 * What comes with a GroupNorm in the image networks, per (sample, channel) tensors:
 *   add         [B, 1, 1, C]   added to x before the norm (EDM SongUNet's norm1(h + affine(emb)));
 *   scaleShift  [B, 1, 1, 2C]  [scale | shift]: norm(x) (1 + scale) + shift (the adaptive, ADM form).
 */
export type GroupNormCond = { add?: tf.Tensor; scaleShift?: tf.Tensor };

function groupNormAct(params: Params, name: string, x: tf.Tensor4D, groups: number, eps: number, act: boolean, cond: GroupNormCond): tf.Tensor4D {
  const w = params.get(`${name}.weight`)!;
  const b = params.get(`${name}.bias`)!;
  const [batch, , , c] = x.shape;
  if (cond.add && cond.scaleShift) throw new Error(`groupNorm '${name}': an add before and a scale and shift after, not both`);
  const mode = cond.scaleShift ? 'scaleShift' : cond.add ? 'add' : 'none';
  const p = cond.scaleShift ?? cond.add;
  const condShape = [batch, 1, 1, mode === 'scaleShift' ? 2 * c : c].join(',');
  if (x.dtype === 'float32' && fusedWebGpuGroupNorm(tf.getBackend(), c, groups) && (!p || p.shape.join(',') === condShape)) {
    const op = webGpuGroupNormOp({ groups, eps, silu: act, mode });
    return (p ? op(x, w, b, p) : op(x, w, b)) as tf.Tensor4D;
  }
  const input = cond.add ? tf.add(x, cond.add) : x;
  const op = fusedGroupNorm(tf.getBackend(), c, groups) ? fusedGroupNormOp : groupNormOp;
  let h = op(groups, eps)(input, w, b) as tf.Tensor4D;
  if (cond.scaleShift) {
    const [scale, shift] = tf.split(cond.scaleShift, 2, 3);
    h = tf.add(tf.mul(h, tf.add(scale, 1)), shift);
  }
  return (act ? silu(h) : h) as tf.Tensor4D;
}

/** GroupNorm `name` (weight, bias [C]) with `groups` groups, with what comes with it (GroupNormCond). */
export function groupNorm(params: Params, name: string, x: tf.Tensor4D, groups: number, eps = 1e-5, cond: GroupNormCond = {}): tf.Tensor4D {
  return groupNormAct(params, name, x, groups, eps, false, cond);
}

/** silu(groupNorm(...)): on webgpu in the same programs. */
export function groupNormSilu(params: Params, name: string, x: tf.Tensor4D, groups: number, eps = 1e-5, cond: GroupNormCond = {}): tf.Tensor4D {
  return groupNormAct(params, name, x, groups, eps, true, cond);
}

/** EDM's GroupNorm: min(32, C // 4) groups. */
const edmGroups = (c: number): number => Math.min(32, Math.floor(c / 4));

export function edmGroupNorm(params: Params, name: string, x: tf.Tensor4D, eps: number): tf.Tensor4D {
  return groupNorm(params, name, x, edmGroups(x.shape[3]), eps);
}

export function edmGroupNormSilu(params: Params, name: string, x: tf.Tensor4D, eps: number, cond: GroupNormCond = {}): tf.Tensor4D {
  return groupNormSilu(params, name, x, edmGroups(x.shape[3]), eps, cond);
}

/**
 * softmax(q k^T / sqrt(d)) v per head: q, k, v [B, N, heads d] (channel = head d + i) -> [B, N, heads d].
 * Plain matMuls only (k transposed explicitly), as in `linear`.
 */
export function multiHead(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [b, n, c] = q.shape;
  const d = c / heads;
  const split = (t: tf.Tensor3D): tf.Tensor3D => (heads === 1 ? t
    : tf.reshape(tf.transpose(tf.reshape(t, [b, n, heads, d]), [0, 2, 1, 3]), [b * heads, n, d]));
  const kT = tf.transpose(split(k), [0, 2, 1]);
  const weights = tf.softmax(tf.matMul(split(q), tf.div(kT, Math.sqrt(d))));
  const a = tf.matMul(weights, split(v)) as tf.Tensor3D;
  return heads === 1 ? a : tf.reshape(tf.transpose(tf.reshape(a, [b, heads, n, d]), [0, 2, 1, 3]), [b, n, c]) as tf.Tensor3D;
}

/**
 * The unet type's single-head self-attention over the H W positions (the residual term only): qkv's 3C output
 * channels are [q | k | v] blocks, the scores are scaled by 1 / sqrt(C) after the product.
 */
export function attention(params: Params, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const qkv = tf.reshape(conv1x1(params, `${name}.qkv`, groupNorm(params, `${name}.norm2`, x, groups)), [b, h * w, 3 * c]);
  const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
  const kT = tf.transpose(k, [0, 2, 1]);
  const weights = tf.softmax(tf.mul(tf.matMul(q, kT), 1 / Math.sqrt(c)));
  return conv1x1(params, `${name}.proj`, tf.reshape(tf.matMul(weights, v), [b, h, w, c]));
}

/**
 * EDM's UNetBlock attention (the residual term, before the skip scale), `heads` heads of d = C / heads channels.
 * EDM reshapes qkv's output [B, 3C, H, W] to [B heads, d, 3, H W]: channel (head, i, j) = head 3d + 3i + j with
 * j = 0, 1, 2 for q, k, v. The weight and bias rows are permuted here into [q | k | v] blocks of channel head d + i
 * (a reshape and transpose of the tensors, whose gradient is the inverse transpose), then one 1x1 conv.
 */
export function edmAttention(params: Params, name: string, x: tf.Tensor4D, heads: number, eps: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const d = c / heads;
  const weight = params.get(`${name}.qkv.weight`)!;
  const bias = params.get(`${name}.qkv.bias`)!;
  const qkvParams: Params = new Map([
    ['qkv.weight', tf.reshape(tf.transpose(tf.reshape(weight, [heads, d, 3, c]), [2, 0, 1, 3]), [3 * c, c, 1, 1])],
    ['qkv.bias', tf.reshape(tf.transpose(tf.reshape(bias, [heads, d, 3]), [2, 0, 1]), [3 * c])],
  ]);
  const qkv = tf.reshape(conv1x1(qkvParams, 'qkv', edmGroupNorm(params, `${name}.norm2`, x, eps)), [b, h * w, 3 * c]);
  const [q, k, v] = tf.split(qkv, 3, 2) as tf.Tensor3D[];
  return conv1x1(params, `${name}.proj`, tf.reshape(multiHead(q, k, v, heads), [b, h, w, c]));
}

/** Average pooling over 2x2 windows: [B, H, W, C] -> [B, H/2, W/2, C]. */
export const downsample2 = (x: tf.Tensor4D): tf.Tensor4D => tf.avgPool(x, 2, 2, 'valid');

/**
 * Nearest-neighbour 2x upsampling, [B, H, W, C] -> [B, 2H, 2W, C]: reshape and repeat each pixel along W, then
 * each row along H (a broadcast add of zeros: the tile that tfjs-wasm's Tile kernel does 20x slower). Its gradient
 * is the 2x2 sum pooling, written as 4 avgPool.
 */
export const upsample2 = tf.customGrad(((x: tf.Tensor4D) => {
  const [b, h, w, c] = x.shape;
  const twice = tf.zeros([1, 2, 1]);
  const wide = tf.reshape(tf.add(tf.reshape(x, [b * h * w, 1, c]), twice), [b * h, 1, 2 * w * c]);
  return {
    value: tf.reshape(tf.add(wide, twice), [b, 2 * h, 2 * w, c]),
    gradFunc: (dy: tf.Tensor4D) => tf.mul(tf.avgPool(dy, 2, 2, 'valid'), 4),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor4D) => tf.Tensor4D;

// ---------------------------------------------------------------------------------------------------------------
// EDM's resampling (networks.py Conv2d with up / down): the buffer resample_filter [1, 1, n, n] is f f^T / (sum f)^2
// for a 1D filter f of even length n ([1, 1] or [1, 3, 3, 1]), padding p = (n - 1) // 2 = n / 2 - 1. With
// g = f / sum f (the row sums of the buffer):
//   down: a depthwise conv with g g^T, stride 2, padding p:         y[m] = sum_t g[t] x[2m + t - p]
//   up:   a depthwise transposed conv with 4 g g^T, stride 2, pad p: y[2m + r] = sum_s 2 g[2s + r + p] x[m - s]
// (x = 0 outside the image), each separable into the two axes, done here as [P, L, Q] tensors (the axis in the
// middle). For [1, 1] these are 2x2 average pooling and nearest 2x upsampling, taken as such for buffers that
// nets/box-filter.ts knows to hold it.

/** The 1D taps g of a resample_filter buffer [1, 1, n, n] (its row sums), as a tensor [n]. */
const filterTaps = (f: tf.Tensor): tf.Tensor1D => tf.sum(tf.reshape(f, [f.shape[2]!, f.shape[3]!]), 1) as tf.Tensor1D;

/** y[m] = sum_t g[t] x[2m + t], m < (L - n) / 2 + 1, along the middle axis of x [P, L, Q] (L even). */
function downAxis(x: tf.Tensor3D, g: tf.Tensor1D, n: number): tf.Tensor3D {
  const [p, l, q] = x.shape;
  const pairs = tf.reshape(x, [p, l / 2, 2, q]);
  const outLen = (l - n) / 2 + 1;
  let y: tf.Tensor3D | null = null;
  for (let s = 0; s < n / 2; s++) {
    const taps = tf.reshape(tf.slice(g, 2 * s, 2), [1, 1, 2, 1]);
    const term = tf.slice(tf.sum(tf.mul(pairs, taps), 2) as tf.Tensor3D, [0, s, 0], [p, outLen, q]);
    y = y ? tf.add(y, term) : term;
  }
  return y!;
}

/** x shifted by s along the middle axis (y[m] = x[m - s]), zeros coming in. */
function shift(x: tf.Tensor3D, s: number): tf.Tensor3D {
  if (s === 0) return x;
  const [p, l, q] = x.shape;
  const kept = s > 0 ? tf.slice(x, [0, 0, 0], [p, l - s, q]) : tf.slice(x, [0, -s, 0], [p, l + s, q]);
  return tf.pad(kept, [[0, 0], s > 0 ? [s, 0] : [0, -s], [0, 0]]) as tf.Tensor3D;
}

/** y[2m + r] = sum_s 2 g[2s + r + p] x[m - s] along the middle axis of x [P, L, Q] -> [P, 2L, Q]. */
function upAxis(x: tf.Tensor3D, g: tf.Tensor1D, n: number): tf.Tensor3D {
  const [p, l, q] = x.shape;
  const pad = n / 2 - 1;
  const tap = (k: number) => (k >= 0 && k < n ? tf.slice(g, k, 1) : tf.zeros([1]));
  let y: tf.Tensor4D | null = null;
  for (let s = -Math.ceil(pad / 2) - 1; s <= n / 2; s++) {
    const k0 = 2 * s + pad;
    if (!(k0 >= 0 && k0 < n) && !(k0 + 1 >= 0 && k0 + 1 < n)) continue;
    const taps = tf.reshape(tf.mul(tf.concat([tap(k0), tap(k0 + 1)]), 2), [1, 1, 2, 1]);
    const term = tf.mul(tf.reshape(shift(x, s), [p, l, 1, q]), taps) as tf.Tensor4D;
    y = y ? tf.add(y, term) : term;
  }
  return tf.reshape(y!, [p, 2 * l, q]);
}

/** Both axes of x [B, H, W, C] through a 1D map of the middle axis. */
function separable(x: tf.Tensor4D, along: (t: tf.Tensor3D) => tf.Tensor3D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const rows = along(tf.reshape(x, [b, h, w * c]));
  const h2 = rows.shape[1];
  const cols = along(tf.reshape(rows, [b * h2, w, c]));
  return tf.reshape(cols, [b, h2, cols.shape[1], c]);
}

/** EDM's filtered down-sampling by 2, [B, H, W, C] -> [B, H/2, W/2, C], with the buffer `filter` [1, 1, n, n]. */
export function resampleDown(x: tf.Tensor4D, filter: tf.Tensor, padded = false): tf.Tensor4D {
  if (isBoxFilter(filter)) return downsample2(x);
  const n = filter.shape[3]!;
  const pad = n / 2 - 1;
  const g = filterTaps(filter);
  const input = pad > 0 && !padded ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x;
  return separable(input, (t) => downAxis(t, g, n));
}

/** EDM's filtered up-sampling by 2 (the transposed conv), [B, H, W, C] -> [B, 2H, 2W, C]. */
export function resampleUp(x: tf.Tensor4D, filter: tf.Tensor): tf.Tensor4D {
  if (isBoxFilter(filter)) return upsample2(x);
  const n = filter.shape[3]!;
  const g = filterTaps(filter);
  return separable(x, (t) => upAxis(t, g, n));
}

/**
 * EDM's Conv2d `name` with its options: kernel 0 (no weight: resampling only), up or down (resample first, then the
 * 'same' conv), or fused down-sampling (the conv with padding k // 2 + p, i.e. over the image grown by p, then the
 * filter with stride 2 and no padding). The bias is added last.
 */
export function edmConv2d(params: Params, name: string, x: tf.Tensor4D, o: { up?: boolean; down?: boolean; fused?: boolean } = {}): tf.Tensor4D {
  const hasWeight = params.has(`${name}.weight`);
  const filter = params.get(`${name}.resample_filter`);
  if ((o.up || o.down) && !filter) throw new Error(`missing tensor '${name}.resample_filter'`);
  if (o.fused && o.down && hasWeight) {
    const n = filter!.shape[3]!;
    const pad = n / 2 - 1;
    const grown = pad > 0 ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x;
    return resampleDown(conv2d(params, name, grown), filter!, true);
  }
  if (o.fused && o.up) throw new Error(`fused up-sampling is not supported ('${name}')`);
  let h = x;
  if (o.up) h = resampleUp(h, filter!);
  if (o.down) h = resampleDown(h, filter!);
  return hasWeight ? conv2d(params, name, h) : h;
}

// ---------------------------------------------------------------------------------------------------------------
// Embeddings of the noise level (EDM's PositionalEmbedding, FourierEmbedding); both give [cos | sin] halves.

/**
 * [cos(c f) | sin(c f)] for noise levels c [B] and frequencies f [1, K], [B, 2K], as one op with its derivative
 * written out (d/dc = sum_k f_k (cos(c f_k) dy_sin,k - sin(c f_k) dy_cos,k), likewise d/df summed over the batch):
 * its forward kernels run untaped, so the engine saves two tensors instead of one per kernel.
 */
export const cosSinFeatures = tf.customGrad(((c: tf.Tensor1D, f: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([c, f]);
  const args = tf.mul(tf.expandDims(c, 1), f);
  return {
    value: tf.concat([tf.cos(args), tf.sin(args)], 1),
    gradFunc: (dy: tf.Tensor2D, [cs, fs]: tf.Tensor[]) => {
      const column = tf.expandDims(cs, 1);
      const a = tf.mul(column, fs);
      const [dCos, dSin] = tf.split(dy, 2, 1);
      const dArgs = tf.sub(tf.mul(dSin, tf.cos(a)), tf.mul(dCos, tf.sin(a)));
      return [tf.sum(tf.mul(dArgs, fs), 1), tf.sum(tf.mul(dArgs, column), 0, true)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (c: tf.Tensor1D, f: tf.Tensor2D) => tf.Tensor2D;

/** EDM's PositionalEmbedding: f_k = (1 / max_positions)^(k / (N/2 - endpoint)), k < N/2 (in float32, as torch). */
export function positionalEmbedding(cNoise: tf.Tensor1D, channels: number, maxPositions = 10000, endpoint = false): tf.Tensor2D {
  const half = channels / 2;
  const denom = Math.fround(half - (endpoint ? 1 : 0));
  const base = Math.fround(1 / maxPositions);
  const freqs = Array.from({ length: half }, (_, k) => Math.fround(base ** Math.fround(k / denom)));
  return tf.tidy(() => cosSinFeatures(cNoise, tf.tensor2d(freqs, [1, half])));
}

/** EDM's FourierEmbedding with its buffer freqs [N/2]: args = c_noise (2 pi freqs). */
export function fourierEmbedding(cNoise: tf.Tensor1D, freqs: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => cosSinFeatures(cNoise, tf.reshape(tf.mul(freqs, 2 * Math.PI), [1, -1]) as tf.Tensor2D));
}

/** [a | b] -> [b | a] along axis 1 (SongUNet's swap of the cos and sin halves). */
export function swapHalves(x: tf.Tensor2D): tf.Tensor2D {
  const [a, b] = tf.split(x, 2, 1);
  return tf.concat([b, a], 1) as tf.Tensor2D;
}

/** A Linear without bias: y = x W^T (map_augment, Dhariwal's map_label). */
export function linearNoBias(params: Params, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const w = params.get(`${name}.weight`)!;
  const p: Params = new Map([['l.weight', w], ['l.bias', params.get(`${name}.bias`) ?? tf.zeros([w.shape[0]])]]);
  return linear(p, 'l', x);
}

/**
 * EDM's UNetBlock `name` (networks.py), on x [B, H, W, in] and the embedding emb [B, E]:
 *   h = conv0(silu(norm0(x)))                       conv0 resamples first when the block goes up or down
 *   adaptive (ADM):   h = silu(shift + norm1(h) (1 + scale)),  [scale | shift] = affine(emb)
 *   otherwise (Song): h = silu(norm1(h + affine(emb)))
 *   h = (conv1(h) + skip(x)) skip_scale              skip: identity, a 1x1 conv or resampling only (kernel 0)
 *   attention (heads > 0): h = (proj(attention(norm2(h))) + h) skip_scale
 * Dropout (before conv1 in EDM) is not applied.
 */
export function edmBlock(params: Params, name: string, b: EdmBlock, x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
  const resample = { up: b.up, down: b.down };
  let h = edmConv2d(params, `${name}.conv0`, edmGroupNormSilu(params, `${name}.norm0`, x, b.eps), resample);
  const p = tf.reshape(linear(params, `${name}.affine`, emb), [emb.shape[0], 1, 1, -1]);
  h = edmGroupNormSilu(params, `${name}.norm1`, h, b.eps, b.adaptive ? { scaleShift: p } : { add: p });
  h = edmConv2d(params, `${name}.conv1`, h);
  h = residualAdd(h, b.skip ? edmConv2d(params, `${name}.skip`, x, resample) : x, b.skipScale);
  if (b.heads > 0) h = residualAdd(edmAttention(params, name, h, b.heads, b.eps), h, b.skipScale);
  return h;
}
