/** The network type `mlp`: PID Studio's residual MLP for low-dimensional data (src/core/nets/mlp.ts). */
import { type Obj, POSITIVE, Section, isPositive, isPositiveInt } from './config-section.ts';

export interface MlpNetwork { type: 'mlp'; hidden: number; blocks: number; emb_dim: number; emb_max_freq: number }

export const MLP_DEFAULTS: Omit<MlpNetwork, 'type'> = { hidden: 64, blocks: 2, emb_dim: 16, emb_max_freq: 4 };

export function parseMlp(o: Obj, file: string): MlpNetwork {
  const s = new Section(file, 'network', o, ['type', 'hidden', 'blocks', 'emb_dim', 'emb_max_freq']);
  const pick = <T>(key: keyof typeof MLP_DEFAULTS, test: (v: unknown) => boolean, must: string): T =>
    (key in o ? s.get<T>(key, test, must) : MLP_DEFAULTS[key]) as T;
  return {
    type: 'mlp',
    hidden: pick('hidden', isPositiveInt, 'a positive integer'),
    blocks: pick('blocks', isPositiveInt, 'a positive integer'),
    emb_dim: pick('emb_dim', (v) => isPositiveInt(v) && (v as number) % 2 === 0, 'a positive even integer'),
    emb_max_freq: pick('emb_max_freq', isPositive, POSITIVE),
  };
}
