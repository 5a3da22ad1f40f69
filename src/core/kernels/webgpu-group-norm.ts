/**
 * GroupNorm with what follows it in the image networks, as WebGPU programs for tfjs-backend-webgpu:
 *   v = x + p                    ('add': p [B, C] per sample and channel, EDM SongUNet's norm1(h + affine(emb)))
 *   x^ = (v - mean_g) rstd_g,  z = x^ w + b
 *   a = z (1 + scale) + shift    ('scaleShift': [scale | shift] [B, 2C], the adaptive (ADM) form)
 *   y = silu(a) or a
 * PidGroupNormAct (x [B,H,W,C], w [C], b [C], cond (p or [scale | shift]) when a mode has one; attrs {groups, eps,
 * silu, mode} -> y, stats [B, G, 2] = (mean, rstd)) takes 2 dispatches:
 *   statistics: one workgroup per (sample, group) sums v, then (v - mean)^2 (two passes, as the composed op);
 *   apply: normalise, affine, scale/shift and SiLU, elementwise.
 * PidGroupNormActGrad (dy, x, w, b, stats, cond -> dx, params = [dw | db | dcond] flat) takes 3, with
 * g = dy silu'(a) (a recomputed), k = 1 + scale (or 1), and per (sample, channel) sums over the pixels
 * A = sum g, D = sum g x^, E = sum x^:
 *   sums: one workgroup per (sample, group) writes A, D, E per channel and M1 = sum_c w k A, M2 = sum_c w k D per
 *         group;
 *   dx = rstd (g k w - M1 / (H W S) - x^ M2 / (H W S)), S = C / G, elementwise;
 *   params: dw = sum_b k D, db = sum_b k A, dscale = w D + b A, dshift = A, and for 'add'
 *           dp = sum over pixels of dx = rstd (w A - M1 / S - E M2 / (H W S)).
 * A program has one output and at most 7 inputs here (a device has 8 storage buffers per stage, one taken by the
 * output); the caller cuts `params` into its three tensors (flat.ts's flatSplit: buffer copies on webgpu).
 * nets/layers.ts takes them where `fusedWebGpuGroupNorm` says so (registered by backend.ts with the webgpu backend).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type Program, type Uniform, type WebGpuBackendLike, WORKGROUP_ID, flatProgram, treeSum, webGpuKernels } from './webgpu-program';
import { SIGMOID } from './webgpu-silu';

export const GROUP_NORM_ACT = 'PidGroupNormAct';
export const GROUP_NORM_ACT_GRAD = 'PidGroupNormActGrad';

/** What is applied around the normalisation: nothing, a per-(sample, channel) add before, or scale and shift after. */
export type GroupNormMode = 'none' | 'add' | 'scaleShift';
export type GroupNormActAttrs = { groups: number; eps: number; silu: boolean; mode: GroupNormMode };

/** Threads of a statistics workgroup (a power of two, at most the 256 invocations WebGPU guarantees). */
const REDUCE_THREADS = 256;

/** Whether the fused webgpu programs take a GroupNorm of C channels in `groups` groups (after registration). */
export function fusedWebGpuGroupNorm(backend: string, channels: number, groups: number): boolean {
  return kernels.on(backend) && channels % groups === 0 && channels / groups <= REDUCE_THREADS;
}

/** Shape uniforms shared by every program (names and order must match `uniformValues`). */
const UNIFORMS = 'pixels : i32, channels : i32, groups : i32, batch : i32, eps : f32,';
const uniformValues = (B: number, N: number, C: number, G: number, eps: number): Uniform[] => [
  { type: 'int32', data: [N] }, { type: 'int32', data: [C] }, { type: 'int32', data: [G] }, { type: 'int32', data: [B] },
  { type: 'float32', data: [eps] },
];

/**
 * The inputs each program reads (a pipeline's 'auto' layout drops a binding its shader does not use, and tfjs would
 * then bind one too many).
 */
function inputNames(program: 'stats' | 'apply' | 'sums' | 'dx' | 'params', { silu, mode }: GroupNormActAttrs): string[] {
  const cond = mode === 'none' ? [] : ['Cond'];
  const bias = silu ? ['Bias'] : [];
  switch (program) {
    case 'stats': return ['X', ...(mode === 'add' ? cond : [])];
    case 'apply': return ['X', 'W', 'Bias', 'Stats', ...cond];
    case 'sums': return ['Dy', 'X', 'W', ...bias, 'Stats', ...cond];
    case 'dx': return ['Dy', 'X', 'W', ...bias, 'Stats', ...cond, 'Sums'];
    case 'params': return ['Sums', ...(mode === 'scaleShift' ? ['W', 'Bias', 'Cond'] : mode === 'add' ? ['W', 'Stats'] : [])];
  }
}
const key = ({ silu, mode }: GroupNormActAttrs) => `${mode}_${silu ? 'silu' : 'id'}`;

/** WGSL: v (the normalised input) at entry k of x, channel c of sample b. */
const input = (mode: GroupNormMode, k: string, b: string, c: string) => (mode === 'add' ? `(X[${k}] + Cond[${b} * uniforms.channels + ${c}])` : `X[${k}]`);

/** WGSL statements: `a` from `xHat` at channel c of sample b (z, then scale and shift). */
const affine = (mode: GroupNormMode, b: string, c: string) => `
          var a = xHat * W[${c}] + Bias[${c}];
          ${mode === 'scaleShift' ? `a = a * (1.0 + Cond[${b} * 2 * uniforms.channels + ${c}]) + Cond[(${b} * 2 + 1) * uniforms.channels + ${c}];` : ''}`;

/** WGSL: the factor k = 1 + scale (or 1) at channel c of sample b. */
const gain = (mode: GroupNormMode, b: string, c: string) => (mode === 'scaleShift' ? `(1.0 + Cond[${b} * 2 * uniforms.channels + ${c}])` : '1.0');

/** WGSL statements: ga = dy silu'(a) (or dy), `a` from `affine`. */
const activationGrad = (silu: boolean, dy: string) => silu ? `
          let sg = pidSigmoid(a);
          let ga = ${dy} * sg * (1.0 + a * (1.0 - sg));` : `
          let ga = ${dy};`;

/** Per (sample, group): [mean, rstd] over (H, W, C/G), two passes over v in one workgroup. */
function statsProgram(B: number, G: number, attrs: GroupNormActAttrs): Program {
  const mode = attrs.mode;
  const T = REDUCE_THREADS;
  return {
    variableNames: inputNames('stats', attrs),
    outputShape: [B, G, 2],
    shaderKey: `pid_group_norm_stats_${mode === 'add' ? 'add' : 'x'}_${T}`,
    dispatchLayout: { x: [0, 1, 2] },
    dispatch: [B * G, 1, 1],
    workgroupSize: [T, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${T}>;
      fn main(index : i32) {
        let N = uniforms.pixels;
        let C = uniforms.channels;
        let G = uniforms.groups;
        let S = C / G;
        let wid = ${WORKGROUP_ID};
        let valid = wid < uniforms.batch * G;
        let b = wid / G;
        let g = wid - b * G;
        let count = f32(N * S);
        var acc = 0.0;
        if (valid) {
          for (var e = i32(localIndex); e < N * S; e = e + ${T}) {
            let n = e / S;
            let c = g * S + (e - n * S);
            acc = acc + ${input(mode, '(b * N + n) * C + c', 'b', 'c')};
          }
        }
        partial[localIndex] = acc;
        workgroupBarrier();
        ${treeSum(T, 1, ['partial'])}
        let m = partial[0] / count;
        workgroupBarrier();
        acc = 0.0;
        if (valid) {
          for (var e = i32(localIndex); e < N * S; e = e + ${T}) {
            let n = e / S;
            let c = g * S + (e - n * S);
            let d = ${input(mode, '(b * N + n) * C + c', 'b', 'c')} - m;
            acc = acc + d * d;
          }
        }
        partial[localIndex] = acc;
        workgroupBarrier();
        ${treeSum(T, 1, ['partial'])}
        if (localIndex == 0u && valid) {
          result[2 * wid] = m;
          result[2 * wid + 1] = 1.0 / sqrt(partial[0] / count + uniforms.eps);
        }
      }`,
  };
}

/** y = silu(a) (or a), elementwise over [B, H, W, C]. */
function applyProgram(shape: number[], attrs: GroupNormActAttrs): Program {
  return flatProgram(shape, inputNames('apply', attrs), `pid_group_norm_apply_${key(attrs)}`, `
          let C = uniforms.channels;
          let G = uniforms.groups;
          let c = index % C;
          let b = index / (C * uniforms.pixels);
          let bg = b * G + c / (C / G);
          let xHat = (${input(attrs.mode, 'index', 'b', 'c')} - Stats[2 * bg]) * Stats[2 * bg + 1];
          ${affine(attrs.mode, 'b', 'c')}
          result[index] = ${attrs.silu ? 'a * pidSigmoid(a)' : 'a'};`, { uniforms: UNIFORMS, prelude: SIGMOID });
}

/**
 * The backward pass's sums, one workgroup per (sample, group), in a flat scratch tensor:
 *   [(b * 3 + k) * C + c]          k = 0, 1, 2: A, D, E of channel c of sample b (E only for 'add');
 *   [3 B C + (b * 2 + k) * G + g]  k = 0, 1: M1, M2 of group g of sample b.
 * Thread t always reads channel t % S of the group (S * P threads, P a power of two), so that reads are contiguous
 * and the tree sum, stopping at stride S, leaves each channel's sums in slots 0..S-1.
 */
function gradSumsProgram(B: number, C: number, G: number, attrs: GroupNormActAttrs): Program {
  const S = C / G;
  let P = 1;
  while (S * P * 2 <= REDUCE_THREADS) P *= 2;
  const T = S * P;
  const add = attrs.mode === 'add';
  const arrays = add ? ['sumG', 'sumGXHat', 'sumXHat'] : ['sumG', 'sumGXHat'];
  return {
    variableNames: inputNames('sums', attrs),
    outputShape: [B * (3 * C + 2 * G)],
    shaderKey: `pid_group_norm_grad_sums_${key(attrs)}_${S}_${P}`,
    dispatchLayout: { x: [0] },
    dispatch: [B * G, 1, 1],
    workgroupSize: [T, 1, 1],
    uniforms: UNIFORMS,
    getUserCode: () => `
      ${SIGMOID}
      ${arrays.map((a) => `var<workgroup> ${a} : array<f32, ${T}>;`).join('\n      ')}
      fn main(index : i32) {
        let N = uniforms.pixels;
        let C = uniforms.channels;
        let G = uniforms.groups;
        let B = uniforms.batch;
        let wid = ${WORKGROUP_ID};
        let valid = wid < B * G;
        let b = wid / G;
        let g = wid - b * G;
        let t = i32(localIndex);
        let c = g * ${S} + t % ${S};
        var sa = 0.0;
        var sd = 0.0;
        var se = 0.0;
        if (valid) {
          let m = Stats[2 * wid];
          let r = Stats[2 * wid + 1];
          for (var n = t / ${S}; n < N; n = n + ${P}) {
            let k = (b * N + n) * C + c;
            let xHat = (${input(attrs.mode, 'k', 'b', 'c')} - m) * r;
            ${attrs.silu ? affine(attrs.mode, 'b', 'c') : ''}
            ${activationGrad(attrs.silu, 'Dy[k]')}
            sa = sa + ga;
            sd = sd + ga * xHat;
            ${add ? 'se = se + xHat;' : ''}
          }
        }
        sumG[localIndex] = sa;
        sumGXHat[localIndex] = sd;
        ${add ? 'sumXHat[localIndex] = se;' : ''}
        workgroupBarrier();
        ${treeSum(T, S, arrays)}
        if (valid && t < ${S}) {
          result[(b * 3) * C + c] = sumG[localIndex];
          result[(b * 3 + 1) * C + c] = sumGXHat[localIndex];
          ${add ? 'result[(b * 3 + 2) * C + c] = sumXHat[localIndex];' : ''}
        }
        if (valid && t == 0) {
          var m1 = 0.0;
          var m2 = 0.0;
          for (var j = 0; j < ${S}; j = j + 1) {
            let cj = g * ${S} + j;
            let wk = W[cj] * ${gain(attrs.mode, 'b', 'cj')};
            m1 = m1 + wk * sumG[j];
            m2 = m2 + wk * sumGXHat[j];
          }
          result[3 * B * C + (b * 2) * G + g] = m1;
          result[3 * B * C + (b * 2 + 1) * G + g] = m2;
        }
      }`,
  };
}

/** dx = rstd (g k w - M1 / (H W S) - x^ M2 / (H W S)), elementwise over [B, H, W, C]. */
function dxProgram(shape: number[], attrs: GroupNormActAttrs): Program {
  return flatProgram(shape, inputNames('dx', attrs), `pid_group_norm_grad_dx_${key(attrs)}`, `
          let N = uniforms.pixels;
          let C = uniforms.channels;
          let G = uniforms.groups;
          let S = C / G;
          let c = index % C;
          let b = index / (C * N);
          let g = c / S;
          let bg = b * G + g;
          let r = Stats[2 * bg + 1];
          let xHat = (${input(attrs.mode, 'index', 'b', 'c')} - Stats[2 * bg]) * r;
          ${attrs.silu ? affine(attrs.mode, 'b', 'c') : ''}
          ${activationGrad(attrs.silu, 'Dy[index]')}
          let base = 3 * uniforms.batch * C + b * 2 * G + g;
          let count = f32(N * S);
          result[index] = r * (ga * ${gain(attrs.mode, 'b', 'c')} * W[c] - Sums[base] / count - xHat * (Sums[base + G] / count));`,
  { uniforms: UNIFORMS, prelude: SIGMOID });
}

/** [dw | db | dcond]: sums over the batch, and per (sample, channel) the gradient of cond. */
function paramGradProgram(B: number, C: number, attrs: GroupNormActAttrs): Program {
  const condSize = attrs.mode === 'add' ? B * C : attrs.mode === 'scaleShift' ? 2 * B * C : 0;
  const cond = attrs.mode === 'scaleShift' ? `
            let b = j / (2 * C);
            let cc = j - b * 2 * C;
            if (cc < C) {
              result[index] = W[cc] * Sums[(b * 3 + 1) * C + cc] + Bias[cc] * Sums[(b * 3) * C + cc];
            } else {
              result[index] = Sums[(b * 3) * C + cc - C];
            }` : attrs.mode === 'add' ? `
            let b = j / C;
            let c = j - b * C;
            let S = C / uniforms.groups;
            let g = c / S;
            let base = 3 * uniforms.batch * C + b * 2 * uniforms.groups + g;
            let r = Stats[2 * (b * uniforms.groups + g) + 1];
            result[index] = r * (W[c] * Sums[(b * 3) * C + c] - Sums[base] / f32(S)
              - Sums[(b * 3 + 2) * C + c] * (Sums[base + uniforms.groups] / f32(uniforms.pixels * S)));` : '';
  return flatProgram([2 * C + condSize], inputNames('params', attrs), `pid_group_norm_grad_params_${key(attrs)}`, `
          let C = uniforms.channels;
          if (index < 2 * C) {
            let which = index / C;
            let c = index - which * C;
            var acc = 0.0;
            for (var b = 0; b < uniforms.batch; b = b + 1) {
              acc = acc + ${gain(attrs.mode, 'b', 'c')} * Sums[(b * 3 + 1 - which) * C + c];
            }
            result[index] = acc;
          } else {
            let j = index - 2 * C;${cond}
          }`, { uniforms: UNIFORMS });
}

type Inputs = Record<string, TensorInfo>;

/** Runs `program` on the inputs it names (X, W, Bias, Cond, Dy, Stats, Sums: x, w, b, cond, dy, stats, sums). */
function run(backend: WebGpuBackendLike, program: Program, inputs: Inputs, u: Uniform[]): TensorInfo {
  const tensors = program.variableNames.map((name) => inputs[name === 'Bias' ? 'b' : name.toLowerCase()]);
  return backend.runWebGPUProgram(program, tensors, 'float32', u);
}

function groupNormAct({ inputs, backend, attrs }: { inputs: Inputs; backend: WebGpuBackendLike; attrs: GroupNormActAttrs }): TensorInfo[] {
  const [B, H, W, C] = inputs.x.shape;
  const u = uniformValues(B, H * W, C, attrs.groups, attrs.eps);
  const stats = run(backend, statsProgram(B, attrs.groups, attrs), inputs, u);
  const y = run(backend, applyProgram(inputs.x.shape, attrs), { ...inputs, stats }, u);
  return [y, stats];
}

function groupNormActGrad({ inputs, backend, attrs }: { inputs: Inputs; backend: WebGpuBackendLike; attrs: GroupNormActAttrs }): TensorInfo[] {
  const [B, H, W, C] = inputs.x.shape;
  const u = uniformValues(B, H * W, C, attrs.groups, attrs.eps);
  const sums = run(backend, gradSumsProgram(B, C, attrs.groups, attrs), inputs, u);
  const dx = run(backend, dxProgram(inputs.x.shape, attrs), { ...inputs, sums }, u);
  const params = run(backend, paramGradProgram(B, C, attrs), { ...inputs, sums }, u);
  backend.disposeData(sums.dataId);
  return [dx, params];
}

const kernels = webGpuKernels({ [GROUP_NORM_ACT]: groupNormAct, [GROUP_NORM_ACT_GRAD]: groupNormActGrad });
/** Registers both kernels for webgpu (once; false when the webgpu backend is not registered). */
export const registerWebGpuGroupNorm = kernels.register;
