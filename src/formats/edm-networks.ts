/**
 * The network types `edm-songunet` and `edm-dhariwalunet`: NVlabs/edm's SongUNet (DDPM++ and NCSN++) and
 * DhariwalUNet (ADM), with the constructor arguments of training/networks.py as config fields and EDM's defaults.
 * Besides the parsers this module holds each architecture's module plan (names, channels, resampling, attention),
 * without tfjs: the parser checks a config against it (GroupNorm groups, attention heads), and the network types in
 * src/core/nets build their tensors and forward pass from it.
 *
 * Ignored by the forward pass: dropout and label_dropout (PID Studio runs these networks for inference and PID
 * training without dropout), and the augmentation labels (map_augment is in the tensors, its input is absent).
 */
import { type DataSpec, type Obj, Section, isCount, isFiniteNum, isPositiveInt, oneOf } from './config-section.ts';

/** SongUNet(img_resolution, in_channels, out_channels, ...) of EDM's networks.py. */
export interface EdmSongUnetNetwork {
  type: 'edm-songunet';
  img_resolution: number;
  in_channels: number;
  out_channels: number;
  /** Number of class labels; 0 = unconditional. */
  label_dim: number;
  /** Augmentation label dimensionality (map_augment); 0 = none. */
  augment_dim: number;
  model_channels: number;
  channel_mult: number[];
  channel_mult_emb: number;
  num_blocks: number;
  attn_resolutions: number[];
  /** Recorded, not used: no dropout in PID Studio. */
  dropout: number;
  /** Recorded, not used. */
  label_dropout: number;
  embedding_type: 'positional' | 'fourier';
  channel_mult_noise: number;
  encoder_type: 'standard' | 'skip' | 'residual';
  decoder_type: 'standard' | 'skip';
  resample_filter: number[];
}

/** DhariwalUNet(img_resolution, in_channels, out_channels, ...) of EDM's networks.py. */
export interface EdmDhariwalUnetNetwork {
  type: 'edm-dhariwalunet';
  img_resolution: number;
  in_channels: number;
  out_channels: number;
  label_dim: number;
  augment_dim: number;
  model_channels: number;
  channel_mult: number[];
  channel_mult_emb: number;
  num_blocks: number;
  attn_resolutions: number[];
  dropout: number;
  label_dropout: number;
}

type Sized = 'type' | 'img_resolution' | 'in_channels' | 'out_channels';
export const EDM_SONGUNET_DEFAULTS: Omit<EdmSongUnetNetwork, Sized> = {
  label_dim: 0, augment_dim: 0, model_channels: 128, channel_mult: [1, 2, 2, 2], channel_mult_emb: 4, num_blocks: 4,
  attn_resolutions: [16], dropout: 0.1, label_dropout: 0, embedding_type: 'positional', channel_mult_noise: 1,
  encoder_type: 'standard', decoder_type: 'standard', resample_filter: [1, 1],
};
export const EDM_DHARIWALUNET_DEFAULTS: Omit<EdmDhariwalUnetNetwork, Sized> = {
  label_dim: 0, augment_dim: 0, model_channels: 192, channel_mult: [1, 2, 3, 4], channel_mult_emb: 4, num_blocks: 3,
  attn_resolutions: [32, 16, 8], dropout: 0.1, label_dropout: 0,
};

// ---------------------------------------------------------------------------------------------------------------
// Module plans

/** A Conv2d of EDM: kernel 0 = resampling only (no weight, no bias); up/down carry a resample_filter buffer. */
export interface EdmConv { inC: number; outC: number; kernel: number; up: boolean; down: boolean; fused: boolean }
/** A UNetBlock of EDM. */
export interface EdmBlock {
  inC: number; outC: number; up: boolean; down: boolean;
  /** 0 = no attention. */
  heads: number;
  /** Dhariwal: scale and shift from the embedding; Song: an added shift. */
  adaptive: boolean;
  skipScale: number;
  eps: number;
  /** The skip connection: null = identity, else a Conv2d (kernel 1, or 0 = resampling only). */
  skip: EdmConv | null;
}
export type EdmModule =
  | { role: 'conv' | 'aux_down' | 'aux_up' | 'aux_skip' | 'aux_residual' | 'aux_conv' | 'out_conv'; name: string; conv: EdmConv }
  | { role: 'block'; name: string; block: EdmBlock }
  | { role: 'aux_norm' | 'out_norm'; name: string; channels: number; eps: number };

/** The modules in EDM's registration order (= state-dict order): map_* first, then enc.*, dec.*, out_*. */
export interface EdmPlan {
  /** Width of the noise embedding (map_noise's num_channels) and of the embedding vector. */
  noiseChannels: number;
  embChannels: number;
  enc: EdmModule[];
  dec: EdmModule[];
  /** DhariwalUNet's out_norm and out_conv (SongUNet: empty; its output is the decoder's aux). */
  out: EdmModule[];
}

const conv = (inC: number, outC: number, kernel: number, o: Partial<EdmConv> = {}): EdmConv =>
  ({ inC, outC, kernel, up: false, down: false, fused: false, ...o });

function unetBlock(inC: number, outC: number, o: { up?: boolean; down?: boolean; heads: number; adaptive: boolean; skipScale: number; eps: number; resampleProj: boolean }): EdmBlock {
  const up = o.up ?? false;
  const down = o.down ?? false;
  const skip = outC !== inC || up || down ? conv(inC, outC, o.resampleProj || outC !== inC ? 1 : 0, { up, down }) : null;
  return { inC, outC, up, down, heads: o.heads, adaptive: o.adaptive, skipScale: o.skipScale, eps: o.eps, skip };
}

export function songUnetPlan(s: EdmSongUnetNetwork): EdmPlan {
  const mc = s.model_channels;
  const kw = { adaptive: false, skipScale: Math.SQRT1_2, eps: 1e-6, resampleProj: true };
  const enc: EdmModule[] = [];
  const dec: EdmModule[] = [];
  let cout = s.in_channels;
  let caux = s.in_channels;
  const block = (list: EdmModule[], name: string, inC: number, outC: number, o: { up?: boolean; down?: boolean; attn?: boolean } = {}) =>
    list.push({ role: 'block', name, block: unetBlock(inC, outC, { ...kw, ...o, heads: o.attn ? 1 : 0 }) });
  s.channel_mult.forEach((mult, level) => {
    const res = s.img_resolution >> level;
    const r = `enc.${res}x${res}`;
    if (level === 0) {
      enc.push({ role: 'conv', name: `${r}_conv`, conv: conv(cout, mc, 3) });
      cout = mc;
    } else {
      block(enc, `${r}_down`, cout, cout, { down: true });
      if (s.encoder_type === 'skip') {
        enc.push({ role: 'aux_down', name: `${r}_aux_down`, conv: conv(caux, caux, 0, { down: true }) });
        enc.push({ role: 'aux_skip', name: `${r}_aux_skip`, conv: conv(caux, cout, 1) });
      }
      if (s.encoder_type === 'residual') {
        enc.push({ role: 'aux_residual', name: `${r}_aux_residual`, conv: conv(caux, cout, 3, { down: true, fused: true }) });
        caux = cout;
      }
    }
    for (let i = 0; i < s.num_blocks; i++) {
      const inC = cout;
      cout = mc * mult;
      block(enc, `${r}_block${i}`, inC, cout, { attn: s.attn_resolutions.includes(res) });
    }
  });
  const skips = enc.flatMap((m) => (m.role === 'conv' ? [m.conv.outC] : m.role === 'block' ? [m.block.outC] : []));
  const levels = s.channel_mult.length;
  for (let level = levels - 1; level >= 0; level--) {
    const res = s.img_resolution >> level;
    const r = `dec.${res}x${res}`;
    if (level === levels - 1) {
      block(dec, `${r}_in0`, cout, cout, { attn: true });
      block(dec, `${r}_in1`, cout, cout);
    } else {
      block(dec, `${r}_up`, cout, cout, { up: true });
    }
    for (let i = 0; i <= s.num_blocks; i++) {
      const inC = cout + skips.pop()!;
      cout = mc * s.channel_mult[level];
      block(dec, `${r}_block${i}`, inC, cout, { attn: i === s.num_blocks && s.attn_resolutions.includes(res) });
    }
    if (s.decoder_type === 'skip' || level === 0) {
      if (s.decoder_type === 'skip' && level < levels - 1) {
        dec.push({ role: 'aux_up', name: `${r}_aux_up`, conv: conv(s.out_channels, s.out_channels, 0, { up: true }) });
      }
      dec.push({ role: 'aux_norm', name: `${r}_aux_norm`, channels: cout, eps: 1e-6 });
      dec.push({ role: 'aux_conv', name: `${r}_aux_conv`, conv: conv(cout, s.out_channels, 3) });
    }
  }
  return { noiseChannels: mc * s.channel_mult_noise, embChannels: mc * s.channel_mult_emb, enc, dec, out: [] };
}

export function dhariwalUnetPlan(s: EdmDhariwalUnetNetwork): EdmPlan {
  const mc = s.model_channels;
  const kw = { adaptive: true, skipScale: 1, eps: 1e-5, resampleProj: false };
  const heads = (attn: boolean, outC: number) => (attn ? Math.floor(outC / 64) : 0);
  const enc: EdmModule[] = [];
  const dec: EdmModule[] = [];
  let cout = s.in_channels;
  const block = (list: EdmModule[], name: string, inC: number, outC: number, o: { up?: boolean; down?: boolean; attn?: boolean } = {}) =>
    list.push({ role: 'block', name, block: unetBlock(inC, outC, { ...kw, ...o, heads: heads(o.attn ?? false, outC) }) });
  s.channel_mult.forEach((mult, level) => {
    const res = s.img_resolution >> level;
    const r = `enc.${res}x${res}`;
    if (level === 0) {
      enc.push({ role: 'conv', name: `${r}_conv`, conv: conv(cout, mc * mult, 3) });
      cout = mc * mult;
    } else {
      block(enc, `${r}_down`, cout, cout, { down: true });
    }
    for (let i = 0; i < s.num_blocks; i++) {
      const inC = cout;
      cout = mc * mult;
      block(enc, `${r}_block${i}`, inC, cout, { attn: s.attn_resolutions.includes(res) });
    }
  });
  const skips = enc.map((m) => (m.role === 'conv' ? m.conv.outC : m.role === 'block' ? m.block.outC : 0));
  const levels = s.channel_mult.length;
  for (let level = levels - 1; level >= 0; level--) {
    const res = s.img_resolution >> level;
    const r = `dec.${res}x${res}`;
    if (level === levels - 1) {
      block(dec, `${r}_in0`, cout, cout, { attn: true });
      block(dec, `${r}_in1`, cout, cout);
    } else {
      block(dec, `${r}_up`, cout, cout, { up: true });
    }
    for (let i = 0; i <= s.num_blocks; i++) {
      const inC = cout + skips.pop()!;
      cout = mc * s.channel_mult[level];
      block(dec, `${r}_block${i}`, inC, cout, { attn: s.attn_resolutions.includes(res) });
    }
  }
  const out: EdmModule[] = [
    { role: 'out_norm', name: 'out_norm', channels: cout, eps: 1e-5 },
    { role: 'out_conv', name: 'out_conv', conv: conv(cout, s.out_channels, 3) },
  ];
  return { noiseChannels: mc, embChannels: mc * s.channel_mult_emb, enc, dec, out };
}

/** EDM's GroupNorm rule: min(32, C // 4) groups (0 when C < 4, which EDM cannot run either). */
export const edmGroups = (channels: number): number => Math.min(32, Math.floor(channels / 4));

/** Every GroupNorm's channel count in a plan. */
export function normChannels(plan: EdmPlan): number[] {
  return [...plan.enc, ...plan.dec, ...plan.out].flatMap((m) => {
    if (m.role === 'block') return [m.block.inC, m.block.outC, ...(m.block.heads ? [m.block.outC] : [])];
    if (m.role === 'aux_norm' || m.role === 'out_norm') return [m.channels];
    return [];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Parsers

const COMMON_KEYS = ['type', 'img_resolution', 'in_channels', 'out_channels', 'label_dim', 'augment_dim', 'model_channels',
  'channel_mult', 'channel_mult_emb', 'num_blocks', 'attn_resolutions', 'dropout', 'label_dropout'] as const;
const SONG_KEYS = [...COMMON_KEYS, 'embedding_type', 'channel_mult_noise', 'encoder_type', 'decoder_type', 'resample_filter'] as const;

type Common = Omit<EdmDhariwalUnetNetwork, 'type'>;

function parseCommon(s: Section, o: Obj, data: DataSpec, typeName: string, defaults: Omit<Common, 'img_resolution' | 'in_channels' | 'out_channels'>): Common {
  if (data.shape.length !== 3 || data.shape[0] !== data.shape[1]) {
    new Section(s.file, 'data', {}, []).fail('shape', `three positive integers [R, R, C] with square images for network type "${typeName}" (images are HWC)`, data.shape,
      'give the image shape as [resolution, resolution, channels], e.g. [32, 32, 3]');
  }
  const [R, , C] = data.shape;
  const pick = <T>(key: string, test: (v: unknown) => boolean, must: string, fallback: unknown): T =>
    (key in o ? s.get<T>(key, test, must) : fallback) as T;
  const integers = (key: string, nonEmpty: boolean, fallback: number[]): number[] => {
    const list = pick<unknown[]>(key, (v) => Array.isArray(v) && (!nonEmpty || v.length > 0),
      nonEmpty ? 'a non-empty array of positive integers' : 'an array of positive integers (may be empty)', fallback);
    list.forEach((v, i) => { if (!isPositiveInt(v)) s.fail(`${key}[${i}]`, 'a positive integer', v); });
    return [...list as number[]];
  };
  const equal = (key: string, want: number, what: string) =>
    pick<number>(key, (v) => v === want, `${want}, ${what} of data.shape [${data.shape}]`, want);
  const img_resolution = equal('img_resolution', R, 'the height and width');
  const in_channels = equal('in_channels', C, 'the channels');
  const out_channels = equal('out_channels', C, 'the channels');
  const channel_mult = integers('channel_mult', true, defaults.channel_mult);
  const factor = 2 ** (channel_mult.length - 1);
  if (R % factor !== 0) {
    s.fail('channel_mult', `a list of at most as many levels as img_resolution ${R} allows: with ${channel_mult.length} levels it must be divisible by 2^${channel_mult.length - 1} = ${factor}`,
      channel_mult, 'use fewer levels');
  }
  const probability = (v: unknown) => isFiniteNum(v) && v >= 0 && v < 1;
  return {
    img_resolution, in_channels, out_channels,
    label_dim: pick('label_dim', isCount, 'a non-negative integer (0 = unconditional)', defaults.label_dim),
    augment_dim: pick('augment_dim', isCount, 'a non-negative integer (0 = no augmentation labels)', defaults.augment_dim),
    model_channels: pick('model_channels', isPositiveInt, 'a positive integer', defaults.model_channels),
    channel_mult,
    channel_mult_emb: pick('channel_mult_emb', isPositiveInt, 'a positive integer', defaults.channel_mult_emb),
    num_blocks: pick('num_blocks', isPositiveInt, 'a positive integer', defaults.num_blocks),
    attn_resolutions: integers('attn_resolutions', false, defaults.attn_resolutions),
    dropout: pick('dropout', probability, 'a number in [0, 1)', defaults.dropout),
    label_dropout: pick('label_dropout', probability, 'a number in [0, 1)', defaults.label_dropout),
  };
}

/** Every GroupNorm must have channels divisible by EDM's min(32, C // 4) groups (at least 4 channels). */
function checkNorms(s: Section, plan: EdmPlan): void {
  for (const c of new Set(normChannels(plan))) {
    const g = edmGroups(c);
    if (g < 1 || c % g !== 0) {
      s.fail('model_channels', `a width whose GroupNorms all work: a GroupNorm over ${c} channels has min(32, ${c} // 4) = ${g} groups, which does not divide it`,
        s.o.model_channels ?? '(default)', 'use a multiple of 4 (up to 128) or of 32 for model_channels * channel_mult');
    }
  }
}

export function parseEdmSongUnet(o: Obj, file: string, data: DataSpec): EdmSongUnetNetwork {
  const s = new Section(file, 'network', o, SONG_KEYS);
  const d = EDM_SONGUNET_DEFAULTS;
  const common = parseCommon(s, o, data, 'edm-songunet', d);
  const pick = <T>(key: keyof typeof d, test: (v: unknown) => boolean, must: string): T =>
    (key in o ? s.get<T>(key, test, must) : d[key]) as T;
  const filter = pick<number[]>('resample_filter', (v) => Array.isArray(v) && [2, 4].includes(v.length) && v.every((x) => isFiniteNum(x) && x >= 0)
    && v.reduce((a: number, b: number) => a + b, 0) > 0, 'a resampling filter of 2 or 4 non-negative numbers, e.g. [1, 1] (DDPM++) or [1, 3, 3, 1] (NCSN++)');
  const spec: EdmSongUnetNetwork = {
    type: 'edm-songunet',
    ...common,
    embedding_type: pick('embedding_type', oneOf('positional', 'fourier'), '"positional" (DDPM++) or "fourier" (NCSN++)'),
    channel_mult_noise: pick('channel_mult_noise', isPositiveInt, 'a positive integer'),
    encoder_type: pick('encoder_type', oneOf('standard', 'skip', 'residual'), 'one of "standard", "skip", "residual"'),
    decoder_type: pick('decoder_type', oneOf('standard', 'skip'), 'one of "standard", "skip"'),
    resample_filter: [...filter],
  };
  const noise = spec.model_channels * spec.channel_mult_noise;
  if (noise % 2 !== 0) s.fail('channel_mult_noise', `a multiplier that makes model_channels * channel_mult_noise even (the embedding is cos and sin halves); got ${noise}`, spec.channel_mult_noise);
  checkNorms(s, songUnetPlan(spec));
  return spec;
}

export function parseEdmDhariwalUnet(o: Obj, file: string, data: DataSpec): EdmDhariwalUnetNetwork {
  const s = new Section(file, 'network', o, COMMON_KEYS);
  const spec: EdmDhariwalUnetNetwork = { type: 'edm-dhariwalunet', ...parseCommon(s, o, data, 'edm-dhariwalunet', EDM_DHARIWALUNET_DEFAULTS) };
  if (spec.model_channels % 2 !== 0) s.fail('model_channels', 'an even number (the positional embedding is cos and sin halves)', spec.model_channels);
  const plan = dhariwalUnetPlan(spec);
  checkNorms(s, plan);
  for (const m of [...plan.enc, ...plan.dec]) {
    if (m.role === 'block' && m.block.heads > 0 && m.block.outC % m.block.heads !== 0) {
      s.fail('model_channels', `a width whose attention heads split evenly: ${m.name} has ${m.block.outC} channels in ${m.block.heads} heads (channels // 64)`,
        spec.model_channels);
    }
  }
  return spec;
}
