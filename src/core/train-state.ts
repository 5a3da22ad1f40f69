/**
 * The tensors of a training state under one naming scheme, shared by the PID and the teacher trainers:
 * 'student/<param>' (the weights), 'adam_m/<param>', 'adam_v/<param>', 'ema/<param>'.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from './nets/params';
import type { MomentOptimizer, WeightEma } from './optim';

export function stateTensors(variables: Map<string, tf.Variable>, optimizer: MomentOptimizer, ema: WeightEma | null): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, p] of variables) out.set(`student/${name}`, p);
  for (const [name, m, v] of optimizer.moments()) {
    out.set(`adam_m/${name}`, m);
    out.set(`adam_v/${name}`, v);
  }
  if (ema) for (const [name, a] of ema.averages) out.set(`ema/${name}`, a);
  return out;
}

/** Assigns every target variable from `source` (device tensors or host data), checking names and shapes. */
export function assignState(targets: Map<string, tf.Tensor>, source: Map<string, tf.Tensor | HostTensor>): void {
  tf.tidy(() => {
    for (const [key, target] of targets) {
      const s = source.get(key);
      if (!s) throw new Error(`training state has no tensor '${key}'`);
      const value = s instanceof tf.Tensor ? s : tf.tensor(s.data, s.shape);
      if (value.shape.join(',') !== target.shape.join(',')) throw new Error(`training state tensor '${key}' has shape [${value.shape}], expected [${target.shape}]`);
      (target as tf.Variable).assign(value);
    }
  });
}

export async function toHost(tensors: Map<string, tf.Tensor>): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [key, t] of tensors) out.set(key, { shape: t.shape.slice(), data: (await t.data()) as Float32Array });
  return out;
}
