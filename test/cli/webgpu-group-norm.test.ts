/**
 * The fused GroupNorm of webgpu (src/core/kernels/webgpu-group-norm.ts) through Dawn in Node, on whatever Vulkan
 * adapter there is (lavapipe on a CPU machine): values and gradients (x, w, b, and the per-(sample, channel) add or
 * scale and shift) of nets/layers.ts's groupNorm and groupNormSilu against the composed ops on cpu, that the fused
 * kernels ran in their number of dispatches, and the kernel's own mean and rstd. Fails without an adapter unless
 * PID_SKIP_WEBGPU_NODE=1, as webgpu-node.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getKernel } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import '../../src/core/gradients';
import { startBackend } from '../../src/core/backend';
import { FLAT_SPLIT } from '../../src/core/kernels/flat';
import { GROUP_NORM_ACT, GROUP_NORM_ACT_GRAD, type GroupNormMode, fusedWebGpuGroupNorm } from '../../src/core/kernels/webgpu-group-norm';
import { SILU } from '../../src/core/kernels/webgpu-silu';
import { groupNorm, groupNormSilu } from '../../src/core/nets/layers';
import { Rng } from '../../src/core/rng';
import { maxRelative, skipWebGpu, useNodeWebGpu } from '../helpers/webgpu';


interface Case {
  shape: [number, number, number, number];
  groups: number;
  /** Added to x: GroupNorm of an offset signal (the statistics are two-pass). */
  offset: number;
}

/** What is fused: SiLU after, and nothing, an add before or scale and shift after. */
interface Variant {
  silu: boolean;
  mode: GroupNormMode;
}

const VARIANTS: Variant[] = [
  { silu: false, mode: 'none' },
  { silu: true, mode: 'none' },
  { silu: true, mode: 'scaleShift' },
  { silu: true, mode: 'add' },
  { silu: false, mode: 'scaleShift' },
  { silu: false, mode: 'add' },
];
const variantName = (v: Variant) => `${v.silu ? 'silu(' : '('}${v.mode === 'add' ? 'norm(x + p)' : v.mode === 'scaleShift' ? 'norm(x) (1 + scale) + shift' : 'norm(x)'})`;

const CASES: Case[] = [
  { shape: [2, 8, 8, 8], groups: 2, offset: 0 }, // groups of 4 channels
  { shape: [3, 5, 7, 16], groups: 4, offset: 3 }, // groups of 4, pixels not a multiple of anything
  { shape: [2, 4, 4, 12], groups: 4, offset: 0 }, // groups of 3
  { shape: [1, 6, 6, 10], groups: 1, offset: -2 }, // one group of 10
  { shape: [2, 3, 3, 64], groups: 2, offset: 0 }, // groups of 32
  { shape: [4, 16, 16, 8], groups: 8, offset: 1 }, // groups of 1, 256 pixels
  { shape: [1, 1, 1, 8], groups: 2, offset: 0 }, // one pixel
  { shape: [2, 1, 2, 8], groups: 8, offset: 0 }, // groups of one channel over two pixels (over one, x^ = 0: rounding only)
  { shape: [1, 3, 2, 256], groups: 1, offset: 1 }, // one group of 256, the most a workgroup takes
  { shape: [3, 4, 4, 64], groups: 32, offset: 0 }, // EDM's 32 groups (of 2)
];

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  dcond: Float32Array;
}

function hostData(c: Case) {
  const rng = new Rng(c.shape.reduce((a, b) => a * b, c.groups));
  const size = c.shape.reduce((a, b) => a * b, 1);
  const [B, , , C] = c.shape;
  const x = Float32Array.from({ length: size }, () => c.offset + rng.normal());
  const w = Float32Array.from({ length: C }, () => 1 + 0.5 * rng.normal());
  const b = Float32Array.from({ length: C }, () => 0.3 * rng.normal());
  const r = Float32Array.from({ length: size }, () => rng.normal()); // the loss is sum(y r)
  const cond = Float32Array.from({ length: 2 * B * C }, () => 0.5 * rng.normal()); // [scale | shift], or p (first B C)
  return { x, w, b, r, cond };
}

const condShape = (c: Case, v: Variant): number[] => [c.shape[0], 1, 1, (v.mode === 'scaleShift' ? 2 : 1) * c.shape[3]];

/** The layer of variant v through nets/layers.ts (groupNorm or groupNormSilu, with its add or scale and shift). */
function layer(c: Case, v: Variant, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, cond: tf.Tensor): tf.Tensor {
  const params = new Map<string, tf.Tensor>([['n.weight', w], ['n.bias', b]]);
  const extra = v.mode === 'add' ? { add: cond } : v.mode === 'scaleShift' ? { scaleShift: cond } : {};
  return (v.silu ? groupNormSilu : groupNorm)(params, 'n', x as tf.Tensor4D, c.groups, 1e-5, extra);
}

/** y and the gradients of sum(y r) on the current backend. */
async function run(c: Case, v: Variant): Promise<Result> {
  const h = hostData(c);
  const C = c.shape[3];
  const x = tf.tensor4d(h.x, c.shape);
  const w = tf.tensor1d(h.w);
  const b = tf.tensor1d(h.b);
  const r = tf.tensor4d(h.r, c.shape);
  const shape = condShape(c, v);
  const cond = tf.tensor(h.cond.subarray(0, shape.reduce((a, n) => a * n, 1)), shape);
  const y = layer(c, v, x, w, b, cond);
  const f = (xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, cs?: tf.Tensor) => tf.sum(tf.mul(layer(c, v, xs, ws, bs, cs ?? cond), r)) as tf.Scalar;
  const withCond = v.mode !== 'none';
  const { value, grads } = tf.valueAndGrads(f)(withCond ? [x, w, b, cond] : [x, w, b]);
  const out = {
    y: (await y.data()) as Float32Array,
    dx: (await grads[0].data()) as Float32Array,
    dw: (await grads[1].data()) as Float32Array,
    db: (await grads[2].data()) as Float32Array,
    dcond: withCond ? (await grads[3].data()) as Float32Array : new Float32Array(0),
  };
  expect(grads.map((g) => g.shape)).toEqual([c.shape, [C], [C], ...(withCond ? [shape] : [])]);
  tf.dispose([x, w, b, r, cond, y, value, ...grads]);
  return out;
}

/** The kernels that ran, and the GPU compute dispatches inside each fused kernel, of the layer forward and backward. */
async function fusedRun(c: Case, v: Variant): Promise<{ kernels: string[]; dispatches: Record<string, number> }> {
  const proto = (globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups: (...a: unknown[]) => void } } }).GPUComputePassEncoder.prototype;
  const original = proto.dispatchWorkgroups;
  const dispatches: Record<string, number> = {};
  let inside: string | null = null;
  proto.dispatchWorkgroups = function (...a: unknown[]) {
    if (inside) dispatches[inside] = (dispatches[inside] ?? 0) + 1;
    return original.apply(this, a);
  };
  // the registry's configs, their kernel functions wrapped for the run
  const configs = [GROUP_NORM_ACT, GROUP_NORM_ACT_GRAD].map((name) => ({ name, config: getKernel(name, 'webgpu')! }));
  const kernelFuncs = configs.map(({ config }) => config.kernelFunc);
  for (const { name, config } of configs) {
    const f = config.kernelFunc;
    config.kernelFunc = (args) => { inside = name; try { return f(args); } finally { inside = null; } };
  }
  try {
    const h = hostData(c);
    const shape = condShape(c, v);
    const [x, w, b, cond] = [tf.tensor4d(h.x, c.shape), tf.tensor1d(h.w), tf.tensor1d(h.b), tf.tensor(h.cond.subarray(0, shape.reduce((a, n) => a * n, 1)), shape)];
    const profile = await tf.profile(async () => {
      const g = tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, cs?: tf.Tensor) => tf.sum(layer(c, v, xs, ws, bs, cs ?? cond)) as tf.Scalar)(v.mode === 'none' ? [x, w, b] : [x, w, b, cond]);
      await Promise.all(g.map((t) => t.data()));
      tf.dispose(g);
      return [] as tf.Tensor[];
    });
    tf.dispose([x, w, b, cond]);
    return { kernels: profile.kernelNames, dispatches };
  } finally {
    proto.dispatchWorkgroups = original;
    configs.forEach(({ config }, i) => { config.kernelFunc = kernelFuncs[i]; });
  }
}

describe.skipIf(skipWebGpu)('the fused GroupNorm of webgpu (Dawn, Vulkan) against the composed one on cpu', () => {
  useNodeWebGpu();

  for (const v of VARIANTS) {
    it(`${variantName(v)}: the fused kernels run, 2 dispatches forward and 3 backward`, async () => {
      await startBackend('webgpu');
      const c: Case = { shape: [2, 4, 4, 8], groups: 2, offset: 0 };
      const { kernels, dispatches } = await fusedRun(c, v);
      expect(kernels).not.toContain(SILU);
      expect(kernels.filter((k) => !['Sum', 'Multiply', 'Reshape', 'Identity', 'forward', FLAT_SPLIT].includes(k)), 'kernels of the layer').toEqual([GROUP_NORM_ACT, GROUP_NORM_ACT_GRAD]);
      // the statistics and the elementwise program; sums, dx and [dw | db | dcond] (then cut by buffer copies)
      expect(dispatches).toEqual({ [GROUP_NORM_ACT]: 2, [GROUP_NORM_ACT_GRAD]: 3 });
    }, 60_000);
  }

  for (const c of CASES) {
    for (const v of VARIANTS) {
      if (v.mode !== 'none' && !v.silu && c !== CASES[1]) continue; // no SiLU with add or scale/shift: one shape
      it(`${c.shape.join('x')}, ${c.groups} groups of ${c.shape[3] / c.groups}${c.offset ? `, x offset by ${c.offset}` : ''}, ${variantName(v)}: values and gradients`, async () => {
        await startBackend('webgpu');
        expect(fusedWebGpuGroupNorm('webgpu', c.shape[3], c.groups)).toBe(true);
        tf.disposeVariables();
        const before = tf.memory().numTensors;
        const gpu = await run(c, v);
        expect(tf.memory().numTensors, 'tensors left behind on webgpu').toBeLessThanOrEqual(before);

        await startBackend('cpu');
        const cpu = await run(c, v);
        await startBackend('webgpu');
        for (const k of ['y', 'dx', 'dw', 'db', 'dcond'] as const) {
          expect(gpu[k].length).toBe(cpu[k].length);
          expect(gpu[k].every(Number.isFinite), `${k} finite`).toBe(true);
          expect(maxRelative(gpu[k], cpu[k]), `${k}: max |webgpu - cpu| over max(1, max |cpu|)`).toBeLessThan(2e-5);
        }
      }, 60_000);
    }
  }

  it("returns the groups' mean and rstd = 1 / sqrt(var + eps) as its second output, [B, G, 2]", async () => {
    await startBackend('webgpu');
    for (const mode of ['none', 'add'] as const) {
      const c: Case = { shape: [2, 5, 5, 12], groups: 3, offset: 2 };
      const h = hostData(c);
      const eps = 1e-3;
      const [B, H, W, C] = c.shape;
      const S = C / c.groups;
      const p = h.cond.subarray(0, B * C);
      const inputs = { x: tf.tensor4d(h.x, c.shape), w: tf.tensor1d(h.w), b: tf.tensor1d(h.b), ...(mode === 'add' ? { cond: tf.tensor4d(p, [B, 1, 1, C]) } : {}) };
      const outs = tf.engine().runKernel(GROUP_NORM_ACT, inputs, { groups: c.groups, eps, silu: true, mode }) as tf.Tensor[];
      expect(outs.map((t) => t.shape)).toEqual([c.shape, [B, c.groups, 2]]);
      const stats = await outs[1].data();
      for (let b = 0; b < B; b++) {
        for (let g = 0; g < c.groups; g++) {
          const v: number[] = [];
          for (let q = 0; q < H * W; q++) for (let j = 0; j < S; j++) v.push(h.x[(b * H * W + q) * C + g * S + j] + (mode === 'add' ? p[b * C + g * S + j] : 0));
          const m = v.reduce((a, x) => a + x, 0) / v.length;
          const variance = v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length;
          expect(stats[2 * (b * c.groups + g)]).toBeCloseTo(m, 5);
          expect(stats[2 * (b * c.groups + g) + 1]).toBeCloseTo(1 / Math.sqrt(variance + eps), 5);
        }
      }
      tf.dispose([...outs, ...Object.values(inputs)]);
    }
  });
});
