import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MomentOptimizer, WeightEma } from '../../src/core/optim';
import { useBackend } from '../helpers/backend';

beforeAll(() => useBackend('cpu'));

const grads = [0.5, -0.2, 0.3, 0.1, -0.4, 0.25, 0.05, -0.15];

function run(kind: 'radam' | 'adam', lr = 0.1): number[] {
  const p = tf.variable(tf.scalar(1), true, `p_${kind}_${Math.random()}`);
  const opt = new MomentOptimizer(kind, new Map([['p', p]]), { lr });
  const values: number[] = [];
  for (const g of grads) {
    const gt = tf.scalar(g);
    opt.apply(new Map([['p', gt]]));
    gt.dispose();
    values.push(p.dataSync()[0]);
  }
  opt.dispose();
  p.dispose();
  return values;
}

/** PyTorch's RAdam (torch.optim.RAdam, no weight decay) on one scalar, in float64. */
function radamReference(lr: number): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const rhoInf = 2 / (1 - b2) - 1;
  let [p, m, v] = [1, 0, 0];
  return grads.map((g, i) => {
    const t = i + 1;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const mHat = m / (1 - b1 ** t);
    const rhoT = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
    if (rhoT > 5) {
      const r = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      p -= lr * mHat * r * (Math.sqrt(1 - b2 ** t) / (Math.sqrt(v) + eps));
    } else {
      p -= lr * mHat;
    }
    return p;
  });
}

describe('RAdam', () => {
  it('takes plain bias-corrected momentum steps while rho_t <= 5 (hand-computed)', () => {
    const p = run('radam');
    // t = 1: m_hat = g = 0.5, p = 1 - 0.1 * 0.5
    expect(p[0]).toBeCloseTo(0.95, 6);
    // t = 2: m = 0.9 * 0.05 + 0.1 * -0.2 = 0.025, m_hat = 0.025 / 0.19, p = 0.95 - 0.1 * 0.131578947
    expect(p[1]).toBeCloseTo(0.936842105, 6);
  });

  it('switches to the rectified adaptive step at t = 6 for beta2 = 0.999', () => {
    expect(MomentOptimizer.radamRectifier(5, 0.999)).toBeNull();
    const r6 = MomentOptimizer.radamRectifier(6, 0.999)!;
    // rho_inf = 1999; rho_6 = 1999 - 12 * 0.999^6 / (1 - 0.999^6) = 5.00500...
    const rho6 = 1999 - (12 * 0.999 ** 6) / (1 - 0.999 ** 6);
    expect(rho6).toBeGreaterThan(5);
    expect(r6).toBeCloseTo(Math.sqrt(((rho6 - 4) * (rho6 - 2) * 1999) / (1995 * 1997 * rho6)), 12);
  });

  it("matches PyTorch's update rule over eight steps", () => {
    const got = run('radam');
    radamReference(0.1).forEach((want, i) => expect(got[i]).toBeCloseTo(want, 5));
  });
});

describe('Adam', () => {
  it('first step moves each weight by lr * sign(g) (hand-computed)', () => {
    const p = run('adam');
    expect(p[0]).toBeCloseTo(0.9, 6);
    // t = 2: m_hat = 0.025 / 0.19 = 0.1315789, v_hat = (0.999 * 0.00025 + 0.001 * 0.04) / (1 - 0.999^2) = 0.145
    const vHat = (0.999 * 0.00025 + 0.001 * 0.04) / (1 - 0.999 ** 2);
    expect(p[1]).toBeCloseTo(0.9 - (0.1 * (0.025 / 0.19)) / Math.sqrt(vHat), 5);
  });
});

describe('EMA of weights', () => {
  it('warms up as min(rate, (1+n)/(10+n)) and then averages', () => {
    const p = tf.variable(tf.scalar(0), true, 'ema_p');
    const ema = new WeightEma(0.9, new Map([['p', p]]));
    let want = 0;
    for (let n = 0; n < 30; n++) {
      p.assign(tf.scalar(n + 1));
      const r = Math.min(0.9, (1 + n) / (10 + n));
      expect(ema.currentRate()).toBeCloseTo(r, 12);
      ema.update();
      want = r * want + (1 - r) * (n + 1);
      expect(ema.averages.get('p')!.dataSync()[0]).toBeCloseTo(want, 4);
    }
    ema.dispose();
    p.dispose();
  });
});
