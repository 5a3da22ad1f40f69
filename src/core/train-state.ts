/**
 * The tensors of a training state under one naming scheme, shared by the PID and the teacher trainers:
 * 'student/<param>' (the weights), 'adam_m/<param>', 'adam_v/<param>', 'ema/<param>'. The optimiser and the EMA keep
 * their tensors flat (optim.ts); the names are per parameter, so checkpoints read the same whatever the layout.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from './nets/params';
import type { MomentOptimizer, WeightEma } from './optim';

/** Device copies of the whole state, flat in the optimiser's layout (a fault snapshot). */
export interface FlatState {
  params: tf.Tensor1D;
  m: tf.Tensor1D;
  v: tf.Tensor1D;
  ema: tf.Tensor1D | null;
}

export class TrainState {
  constructor(readonly variables: Map<string, tf.Variable>, readonly optimizer: MomentOptimizer, readonly ema: WeightEma | null) {}

  /** The state as host data under the checkpoint names: one readback per flat vector. */
  async toHost(): Promise<Map<string, HostTensor>> {
    const layout = this.optimizer.layout;
    const flats: [string, tf.Tensor1D][] = [['student/', layout.concat([...this.variables.values()])], ['adam_m/', this.optimizer.m], ['adam_v/', this.optimizer.v]];
    if (this.ema) flats.push(['ema/', this.ema.flat]);
    const out = new Map<string, HostTensor>();
    try {
      for (const [prefix, flat] of flats) {
        const data = (await flat.data()) as Float32Array;
        layout.names.forEach((name, i) => out.set(`${prefix}${name}`, { shape: layout.shapes[i].slice(), data: layout.slice(data, i) }));
      }
    } finally {
      flats[0][1].dispose();
    }
    return out;
  }

  /** Assigns every tensor from `source` (device tensors or host data), checking names and shapes. */
  load(source: Map<string, tf.Tensor | HostTensor>): void {
    const layout = this.optimizer.layout;
    const prefixes = ['student/', 'adam_m/', 'adam_v/', ...(this.ema ? ['ema/'] : [])];
    tf.tidy(() => {
      const flats = prefixes.map((prefix) => layout.concat(layout.names.map((name, i) => {
        const key = `${prefix}${name}`;
        const s = source.get(key);
        if (!s) throw new Error(`training state has no tensor '${key}'`);
        if (s.shape.join(',') !== layout.shapes[i].join(',')) throw new Error(`training state tensor '${key}' has shape [${s.shape}], expected [${layout.shapes[i]}]`);
        return s instanceof tf.Tensor ? s : tf.tensor(s.data, s.shape);
      })));
      this.assignFlat({ params: flats[0], m: flats[1], v: flats[2], ema: flats[3] ?? null });
    });
  }

  /** Kept device copies of the state (dispose with disposeFlatState). */
  snapshot(): FlatState {
    const s: FlatState = {
      params: this.optimizer.layout.concat([...this.variables.values()]),
      m: tf.clone(this.optimizer.m),
      v: tf.clone(this.optimizer.v),
      ema: this.ema ? tf.clone(this.ema.flat) : null,
    };
    for (const t of [s.params, s.m, s.v, s.ema]) if (t) tf.keep(t); // survives a caller's tidy
    return s;
  }

  /** Back to a snapshot (which stays valid). */
  assignFlat(s: FlatState): void {
    this.optimizer.assignParams(s.params);
    this.optimizer.m.assign(s.m);
    this.optimizer.v.assign(s.v);
    if (this.ema && s.ema) this.ema.assignFlat(s.ema);
  }
}

export function disposeFlatState(s: FlatState): void {
  tf.dispose([s.params, s.m, s.v, ...(s.ema ? [s.ema] : [])]);
}
