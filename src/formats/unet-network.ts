/** The network type `unet`: its config fields, defaults and parser. */
import { type DataSpec, type Obj, POSITIVE, Section, isPositive, isPositiveInt } from './config-section.ts';

/** An EDM-style U-Net for HWC images (src/core/nets/unet.ts, README "network types"). */
export interface UnetNetwork {
  type: 'unet';
  /** Width of the first level; level l has channels * channel_mult[l] channels. */
  channels: number;
  /** One entry per resolution level; each level after the first halves H and W. */
  channel_mult: number[];
  /** Residual blocks per level, in the encoder and in the decoder. */
  blocks_per_level: number;
  /** Feature-map heights at which each residual block is followed by self-attention. */
  attn_resolutions: number[];
  /** Width of the noise-level embedding (Fourier features of c_noise, then a two-layer MLP). */
  emb_dim: number;
  /** Highest frequency of the Fourier features of c_noise. */
  emb_max_freq: number;
  /** GroupNorm groups; divides every level's width. */
  groups: number;
}

export const UNET_DEFAULTS: Omit<UnetNetwork, 'type'> = {
  channels: 16, channel_mult: [1, 2], blocks_per_level: 1, attn_resolutions: [], emb_dim: 64, emb_max_freq: 4, groups: 4,
};

export function parseUnet(o: Obj, file: string, data: DataSpec): UnetNetwork {
  const keys = ['type', 'channels', 'channel_mult', 'blocks_per_level', 'attn_resolutions', 'emb_dim', 'emb_max_freq', 'groups'] as const;
  const s = new Section(file, 'network', o, keys);
  if (data.shape.length !== 3) {
    new Section(file, 'data', {}, []).fail('shape', 'three positive integers [H, W, C] for network type "unet" (images are HWC)', data.shape,
      'give the image shape as [height, width, channels], e.g. [28, 28, 1]');
  }
  const [H, W] = data.shape;
  const pick = <T>(key: keyof typeof UNET_DEFAULTS, test: (v: unknown) => boolean, must: string): T =>
    (key in o ? s.get<T>(key, test, must) : UNET_DEFAULTS[key]) as T;
  const integers = (key: 'channel_mult' | 'attn_resolutions', nonEmpty: boolean): number[] => {
    const list = pick<unknown[]>(key, (v) => Array.isArray(v) && (!nonEmpty || v.length > 0),
      nonEmpty ? 'a non-empty array of positive integers' : 'an array of positive integers (may be empty)');
    list.forEach((v, i) => { if (!isPositiveInt(v)) s.fail(`${key}[${i}]`, 'a positive integer', v); });
    return [...list as number[]];
  };
  const channels = pick<number>('channels', isPositiveInt, 'a positive integer');
  const channel_mult = integers('channel_mult', true);
  const levels = channel_mult.length;
  const factor = 2 ** (levels - 1);
  if (H % factor !== 0 || W % factor !== 0) {
    s.fail('channel_mult', `a list of at most as many levels as data.shape [${data.shape}] allows: with ${levels} levels, H and W must be divisible by 2^${levels - 1} = ${factor}`,
      channel_mult, 'use fewer levels, or an image size divisible by 2^(levels - 1)');
  }
  const heights = channel_mult.map((_, l) => H / 2 ** l);
  const attn_resolutions = integers('attn_resolutions', false);
  attn_resolutions.forEach((r, i) => {
    if (!heights.includes(r)) s.fail(`attn_resolutions[${i}]`, `one of the feature-map heights ${heights.join(', ')}`, r);
  });
  const widths = channel_mult.map((m) => channels * m);
  return {
    type: 'unet',
    channels,
    channel_mult,
    blocks_per_level: pick('blocks_per_level', isPositiveInt, 'a positive integer'),
    attn_resolutions,
    emb_dim: pick('emb_dim', (v) => isPositiveInt(v) && (v as number) % 2 === 0, 'a positive even integer'),
    emb_max_freq: pick('emb_max_freq', isPositive, POSITIVE),
    groups: pick('groups', (v) => isPositiveInt(v) && widths.every((w) => w % (v as number) === 0),
      `a positive integer that divides every level's width channels * channel_mult[l] (${widths.join(', ')})`),
  };
}
