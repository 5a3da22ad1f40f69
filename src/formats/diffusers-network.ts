/**
 * The network type `diffusers-unet2d`: huggingface diffusers' UNet2DModel (models/unets/unet_2d.py), its constructor
 * arguments as config fields under diffusers' names and with diffusers' defaults. Besides the two parsers (our
 * pid_studio config, and the config.json that diffusers writes next to a UNet2DModel's weights) and the writer of
 * that config.json, this module holds the architecture's module plan without tfjs (names, channels, groups, heads,
 * resampling), which the parsers check configs against and src/core/nets/diffusers-unet2d.ts builds its tensors and
 * forward pass from.
 *
 * Read: the block types DownBlock2D, AttnDownBlock2D, UpBlock2D, AttnUpBlock2D and the UNetMidBlock2D (or none),
 * positional or Fourier time embeddings, nn.Embedding class labels, time scale-shift, 'conv' or 'resnet' resampling.
 * Not read: the skip blocks (NCSN++ ports), 'learned' time embeddings, class_embed_type other than null, activations
 * other than SiLU. dropout is recorded and not applied (PID Studio runs networks without dropout).
 */
import { type DataSpec, type Obj, Section, isFiniteNum, isObject, isPositive, isPositiveInt, preview } from './config-section.ts';
import { ModelFileError } from './errors.ts';

export const DIFFUSERS_DOWN_BLOCKS = ['DownBlock2D', 'AttnDownBlock2D'] as const;
export const DIFFUSERS_UP_BLOCKS = ['UpBlock2D', 'AttnUpBlock2D'] as const;
export type DiffusersDownBlock = (typeof DIFFUSERS_DOWN_BLOCKS)[number];
export type DiffusersUpBlock = (typeof DIFFUSERS_UP_BLOCKS)[number];

/** UNet2DModel(...) of diffusers: its config fields. */
export interface DiffusersUnet2dNetwork {
  type: 'diffusers-unet2d';
  /** Height and width of the (square) images. */
  sample_size: number;
  in_channels: number;
  out_channels: number;
  /** x -> 2 x - 1 before the network. */
  center_input_sample: boolean;
  time_embedding_type: 'positional' | 'fourier';
  /** Width of the time embedding; null = 4 block_out_channels[0]. */
  time_embedding_dim: number | null;
  /** Timesteps' downscale_freq_shift: frequencies exp(-ln(10000) k / (half - freq_shift)). */
  freq_shift: number;
  /** Positional embedding as [cos | sin] (true) or [sin | cos]. */
  flip_sin_to_cos: boolean;
  down_block_types: DiffusersDownBlock[];
  /** 'UNetMidBlock2D' or null (no middle block). */
  mid_block_type: 'UNetMidBlock2D' | null;
  up_block_types: DiffusersUpBlock[];
  block_out_channels: number[];
  layers_per_block: number;
  /** The middle block's resnet output_scale_factor and attention rescale_output_factor. */
  mid_block_scale_factor: number;
  /** 1: the stride-2 downsampling conv pads 1 on every side; 0: it pads 1 on the right and bottom only. */
  downsample_padding: 0 | 1;
  /** AttnDownBlock2D's downsampler: a stride-2 conv, or a ResnetBlock2D with 2x2 average pooling (DownBlock2D always uses the conv). */
  downsample_type: 'conv' | 'resnet';
  /** AttnUpBlock2D's upsampler: nearest 2x then a conv, or a ResnetBlock2D with nearest 2x (UpBlock2D always uses the conv). */
  upsample_type: 'conv' | 'resnet';
  /** Recorded, not used: no dropout in PID Studio. */
  dropout: number;
  /** SiLU ('swish' is diffusers' other name for it). */
  act_fn: 'silu' | 'swish';
  /** Channels per attention head; null = one head over all channels. */
  attention_head_dim: number | null;
  norm_num_groups: number;
  /** Groups of the middle attention's GroupNorm; null = norm_num_groups under 'default' time scaling, none under 'scale_shift'. */
  attn_norm_num_groups: number | null;
  norm_eps: number;
  /** 'default': h + proj(emb) before norm2; 'scale_shift': norm2(h) (1 + scale) + shift. */
  resnet_time_scale_shift: 'default' | 'scale_shift';
  /** Attention in the middle block. */
  add_attention: boolean;
  /** Only null (class labels through nn.Embedding when num_class_embeds is set). */
  class_embed_type: null;
  /** Number of classes (nn.Embedding class_embedding); null = unconditional. */
  num_class_embeds: number | null;
  /** Recorded when the config has it (diffusers uses it only for 'learned' embeddings). */
  num_train_timesteps?: number | null;
}

type Sized = 'type' | 'sample_size' | 'in_channels' | 'out_channels';
/** diffusers' defaults of UNet2DModel.__init__. */
export const DIFFUSERS_UNET2D_DEFAULTS: Omit<DiffusersUnet2dNetwork, Sized | 'num_train_timesteps'> = {
  center_input_sample: false, time_embedding_type: 'positional', time_embedding_dim: null, freq_shift: 0, flip_sin_to_cos: true,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D'], mid_block_type: 'UNetMidBlock2D',
  up_block_types: ['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D'], block_out_channels: [224, 448, 672, 896],
  layers_per_block: 2, mid_block_scale_factor: 1, downsample_padding: 1, downsample_type: 'conv', upsample_type: 'conv', dropout: 0,
  act_fn: 'silu', attention_head_dim: 8, norm_num_groups: 32, attn_norm_num_groups: null, norm_eps: 1e-5,
  resnet_time_scale_shift: 'default', add_attention: true, class_embed_type: null, num_class_embeds: null,
};

// ---------------------------------------------------------------------------------------------------------------
// Module plan

/** A ResnetBlock2D: GroupNorm(groups) on inC and outC, a 1x1 conv_shortcut when inC != outC. */
export interface DiffusersResnet {
  name: string; inC: number; outC: number; groups: number; eps: number;
  /** The output is (shortcut + h) / outputScale. */
  outputScale: number;
  /** Resampling inside the block (the 'resnet' downsamplers and upsamplers): after norm1 and the activation, on both paths. */
  down: boolean; up: boolean;
  scaleShift: boolean;
}
/** An Attention with residual connection: heads of headDim channels (inner width heads headDim), optional GroupNorm. */
export interface DiffusersAttention {
  name: string; channels: number; heads: number; headDim: number;
  /** null = no group_norm. */
  groups: number | null;
  eps: number;
  /** The output is (attention + x) / rescale. */
  rescale: number;
}
export interface DiffusersLayer { resnet: DiffusersResnet; attention: DiffusersAttention | null }
export type DiffusersSampler =
  | { kind: 'conv'; name: string; channels: number; padding: 0 | 1 }
  | { kind: 'resnet'; resnet: DiffusersResnet };
/** A down or up block: its layers (each output is a skip in the encoder), then the resampler (or none). */
export interface DiffusersStage { name: string; type: DiffusersDownBlock | DiffusersUpBlock; layers: DiffusersLayer[]; sampler: DiffusersSampler | null }
export interface DiffusersPlan {
  /** Timesteps' num_channels or the Fourier projection's embedding_size (block_out_channels[0]). */
  projChannels: number;
  /** Input width of time_embedding.linear_1 (2 projChannels for Fourier). */
  timeInput: number;
  /** time_embed_dim. */
  embChannels: number;
  down: DiffusersStage[];
  /** The middle block's layers (resnets.0 + attentions.0, resnets.1), or null. */
  mid: DiffusersLayer[] | null;
  up: DiffusersStage[];
  outGroups: number;
}

export function diffusersUnet2dPlan(s: DiffusersUnet2dNetwork): DiffusersPlan {
  const ch = s.block_out_channels;
  const levels = ch.length;
  const eps = s.norm_eps;
  const scaleShift = s.resnet_time_scale_shift === 'scale_shift';
  const resnet = (name: string, inC: number, outC: number, o: { outputScale?: number; down?: boolean; up?: boolean } = {}): DiffusersResnet =>
    ({ name, inC, outC, groups: s.norm_num_groups, eps, outputScale: o.outputScale ?? 1, down: o.down ?? false, up: o.up ?? false, scaleShift });
  const attention = (name: string, c: number, groups: number | null, rescale = 1): DiffusersAttention => {
    const headDim = s.attention_head_dim ?? c;
    return { name, channels: c, heads: Math.floor(c / headDim), headDim, groups, eps, rescale };
  };
  const down: DiffusersStage[] = [];
  let out = ch[0];
  for (let i = 0; i < levels; i++) {
    const inC = out;
    out = ch[i];
    const type = s.down_block_types[i];
    const name = `down_blocks.${i}`;
    const attn = type === 'AttnDownBlock2D';
    const layers = Array.from({ length: s.layers_per_block }, (_, j) => ({
      resnet: resnet(`${name}.resnets.${j}`, j === 0 ? inC : out, out),
      attention: attn ? attention(`${name}.attentions.${j}`, out, s.norm_num_groups) : null,
    }));
    let sampler: DiffusersSampler | null = null;
    if (i < levels - 1) {
      sampler = attn && s.downsample_type === 'resnet'
        ? { kind: 'resnet', resnet: resnet(`${name}.downsamplers.0`, out, out, { down: true }) }
        : { kind: 'conv', name: `${name}.downsamplers.0.conv`, channels: out, padding: s.downsample_padding };
    }
    down.push({ name, type, layers, sampler });
  }
  const last = ch[levels - 1];
  const midGroups = s.attn_norm_num_groups ?? (scaleShift ? null : s.norm_num_groups);
  const f = s.mid_block_scale_factor;
  const mid: DiffusersLayer[] | null = s.mid_block_type === null ? null : [
    { resnet: resnet('mid_block.resnets.0', last, last, { outputScale: f }), attention: s.add_attention ? attention('mid_block.attentions.0', last, midGroups, f) : null },
    { resnet: resnet('mid_block.resnets.1', last, last, { outputScale: f }), attention: null },
  ];
  const reversed = [...ch].reverse();
  const up: DiffusersStage[] = [];
  out = reversed[0];
  for (let i = 0; i < levels; i++) {
    const prev = out;
    out = reversed[i];
    const skipIn = reversed[Math.min(i + 1, levels - 1)];
    const type = s.up_block_types[i];
    const name = `up_blocks.${i}`;
    const attn = type === 'AttnUpBlock2D';
    const n = s.layers_per_block + 1;
    const layers = Array.from({ length: n }, (_, j) => ({
      resnet: resnet(`${name}.resnets.${j}`, (j === 0 ? prev : out) + (j === n - 1 ? skipIn : out), out),
      attention: attn ? attention(`${name}.attentions.${j}`, out, s.norm_num_groups) : null,
    }));
    let sampler: DiffusersSampler | null = null;
    if (i < levels - 1) {
      sampler = attn && s.upsample_type === 'resnet'
        ? { kind: 'resnet', resnet: resnet(`${name}.upsamplers.0`, out, out, { up: true }) }
        : { kind: 'conv', name: `${name}.upsamplers.0.conv`, channels: out, padding: 1 };
    }
    up.push({ name, type, layers, sampler });
  }
  const projChannels = ch[0];
  return {
    projChannels, timeInput: s.time_embedding_type === 'fourier' ? 2 * projChannels : projChannels,
    embChannels: s.time_embedding_dim ?? 4 * projChannels, down, mid, up, outGroups: s.norm_num_groups,
  };
}

/** Every resnet of a plan, in order. */
export function planResnets(plan: DiffusersPlan): DiffusersResnet[] {
  const fromStage = (st: DiffusersStage) => [...st.layers.map((l) => l.resnet), ...(st.sampler?.kind === 'resnet' ? [st.sampler.resnet] : [])];
  return [...plan.down.flatMap(fromStage), ...(plan.mid ?? []).map((l) => l.resnet), ...plan.up.flatMap(fromStage)];
}

/** Every attention of a plan, in order. */
export function planAttentions(plan: DiffusersPlan): DiffusersAttention[] {
  return [...plan.down, ...(plan.mid ? [{ layers: plan.mid }] : []), ...plan.up].flatMap((st) => st.layers.flatMap((l) => (l.attention ? [l.attention] : [])));
}

// ---------------------------------------------------------------------------------------------------------------
// Parsers

const FIELDS = ['sample_size', 'in_channels', 'out_channels', 'center_input_sample', 'time_embedding_type', 'time_embedding_dim', 'freq_shift',
  'flip_sin_to_cos', 'down_block_types', 'mid_block_type', 'up_block_types', 'block_out_channels', 'layers_per_block', 'mid_block_scale_factor',
  'downsample_padding', 'downsample_type', 'upsample_type', 'dropout', 'act_fn', 'attention_head_dim', 'norm_num_groups', 'attn_norm_num_groups',
  'norm_eps', 'resnet_time_scale_shift', 'add_attention', 'class_embed_type', 'num_class_embeds', 'num_train_timesteps'] as const;

const isBool = (v: unknown) => typeof v === 'boolean';
const orNull = (test: (v: unknown) => boolean) => (v: unknown) => v === null || test(v);

/** Reads and checks every field but the sizes; `sized` gives sample_size, in_channels, out_channels. */
function readNetwork(s: Section, sized: Pick<DiffusersUnet2dNetwork, 'sample_size' | 'in_channels' | 'out_channels'>): DiffusersUnet2dNetwork {
  const o = s.o;
  const d = DIFFUSERS_UNET2D_DEFAULTS;
  const pick = <T>(key: keyof typeof d, test: (v: unknown) => boolean, must: string, fix?: string): T =>
    (o[key] !== undefined ? s.get<T>(key, test, must, fix) : d[key]) as T;
  const strings = (key: 'down_block_types' | 'up_block_types', known: readonly string[]): string[] => {
    const list = pick<unknown[]>(key, (v) => Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'string'), 'a non-empty array of block type names');
    const names = list.map((t) => (t as string).replace(/^UNetRes/, ''));
    const unknown = [...new Set(names.filter((t) => !known.includes(t)))];
    if (unknown.length) {
      s.fail(key, `is a list with block types this version does not read: ${unknown.map((t) => `"${t}"`).join(', ')} (it reads ${known.join(', ')})`,
        undefined, 'use a UNet2DModel built from those block types');
    }
    return names;
  };
  const act = pick<string>('act_fn', (v) => typeof v === 'string', 'a string');
  if (act !== 'silu' && act !== 'swish') s.fail('act_fn', '"silu": other activations are not read', act);
  if (o.class_embed_type !== undefined && o.class_embed_type !== null) {
    s.fail('class_embed_type', 'null: other class embeddings are not read (only nn.Embedding class labels, through num_class_embeds)', o.class_embed_type);
  }
  const spec: DiffusersUnet2dNetwork = {
    type: 'diffusers-unet2d',
    ...sized,
    center_input_sample: pick('center_input_sample', isBool, 'true or false'),
    time_embedding_type: pick('time_embedding_type', (v) => v === 'positional' || v === 'fourier', '"positional" or "fourier" ("learned" is not read)'),
    time_embedding_dim: pick('time_embedding_dim', orNull(isPositiveInt), 'a positive integer or null (null = 4 block_out_channels[0])'),
    freq_shift: pick('freq_shift', isFiniteNum, 'a finite number'),
    flip_sin_to_cos: pick('flip_sin_to_cos', isBool, 'true or false'),
    down_block_types: strings('down_block_types', DIFFUSERS_DOWN_BLOCKS) as DiffusersDownBlock[],
    mid_block_type: pick('mid_block_type', orNull((v) => v === 'UNetMidBlock2D'), '"UNetMidBlock2D" or null'),
    up_block_types: strings('up_block_types', DIFFUSERS_UP_BLOCKS) as DiffusersUpBlock[],
    block_out_channels: [...pick<number[]>('block_out_channels', (v) => Array.isArray(v) && v.length > 0 && v.every(isPositiveInt), 'a non-empty array of positive integers')],
    layers_per_block: pick('layers_per_block', isPositiveInt, 'a positive integer'),
    mid_block_scale_factor: pick('mid_block_scale_factor', isPositive, 'a positive finite number'),
    downsample_padding: pick('downsample_padding', (v) => v === 0 || v === 1, '0 or 1'),
    downsample_type: pick('downsample_type', (v) => v === 'conv' || v === 'resnet', '"conv" or "resnet"'),
    upsample_type: pick('upsample_type', (v) => v === 'conv' || v === 'resnet', '"conv" or "resnet"'),
    dropout: pick('dropout', (v) => isFiniteNum(v) && v >= 0 && v < 1, 'a number in [0, 1)'),
    act_fn: act as 'silu' | 'swish',
    attention_head_dim: pick('attention_head_dim', orNull(isPositiveInt), 'a positive integer or null (null = one head)'),
    norm_num_groups: pick('norm_num_groups', isPositiveInt, 'a positive integer'),
    attn_norm_num_groups: pick('attn_norm_num_groups', orNull(isPositiveInt), 'a positive integer or null'),
    norm_eps: pick('norm_eps', isPositive, 'a positive finite number'),
    resnet_time_scale_shift: pick('resnet_time_scale_shift', (v) => v === 'default' || v === 'scale_shift', '"default" or "scale_shift"'),
    add_attention: pick('add_attention', isBool, 'true or false'),
    class_embed_type: null,
    num_class_embeds: pick('num_class_embeds', orNull(isPositiveInt), 'a positive integer (the number of classes) or null'),
  };
  if (o.num_train_timesteps !== undefined) {
    spec.num_train_timesteps = s.get<number | null>('num_train_timesteps', orNull(isPositiveInt), 'a positive integer or null');
  }
  checkNetwork(s, spec);
  return spec;
}

function checkNetwork(s: Section, spec: DiffusersUnet2dNetwork): void {
  const levels = spec.block_out_channels.length;
  for (const key of ['down_block_types', 'up_block_types'] as const) {
    if (spec[key].length !== levels) {
      s.fail(key, `a list of ${levels} block types, one per entry of block_out_channels [${spec.block_out_channels}]`, s.o[key] ?? spec[key]);
    }
  }
  const factor = 2 ** (levels - 1);
  if (spec.sample_size % factor !== 0) {
    s.fail('block_out_channels', `a list of at most as many levels as sample_size ${spec.sample_size} allows: with ${levels} levels it must be divisible by 2^${levels - 1} = ${factor}`,
      spec.block_out_channels, 'use fewer levels');
  }
  if (spec.time_embedding_type === 'positional' && Math.floor(spec.block_out_channels[0] / 2) === spec.freq_shift) {
    s.fail('freq_shift', `a shift other than block_out_channels[0] // 2 = ${spec.freq_shift} (the frequencies divide by their difference)`, spec.freq_shift);
  }
  const plan = diffusersUnet2dPlan(spec);
  const groups = new Map<number, string>();
  for (const r of planResnets(plan)) groups.set(r.inC, r.name).set(r.outC, r.name);
  groups.set(spec.block_out_channels[0], 'conv_norm_out');
  for (const [c, where] of groups) {
    if (c % spec.norm_num_groups !== 0) {
      s.fail('norm_num_groups', `a number of groups that divides every GroupNorm's channels: ${where} has a GroupNorm over ${c} channels`, spec.norm_num_groups);
    }
  }
  for (const a of planAttentions(plan)) {
    if (a.heads < 1) {
      s.fail('attention_head_dim', `at most the channels of every attention: ${a.name} has ${a.channels} channels`, spec.attention_head_dim, 'use null for one head');
    }
    if (a.groups !== null && a.channels % a.groups !== 0) {
      const key = a.name.startsWith('mid_block') && spec.attn_norm_num_groups !== null ? 'attn_norm_num_groups' : 'norm_num_groups';
      s.fail(key, `a number of groups that divides every GroupNorm's channels: ${a.name} has a GroupNorm over ${a.channels} channels`, a.groups);
    }
  }
}

/** The `network` section of a pid_studio config of type diffusers-unet2d; data.shape must be [sample_size, sample_size, in_channels]. */
export function parseDiffusersUnet2d(o: Obj, file: string, data: DataSpec): DiffusersUnet2dNetwork {
  const s = new Section(file, 'network', o, ['type', ...FIELDS]);
  if (data.shape.length !== 3 || data.shape[0] !== data.shape[1]) {
    new Section(file, 'data', {}, []).fail('shape', 'three positive integers [R, R, C] with square images for network type "diffusers-unet2d" (images are HWC)', data.shape,
      'give the image shape as [sample_size, sample_size, channels], e.g. [32, 32, 3]');
  }
  const [R, , C] = data.shape;
  const equal = (key: string, want: number, what: string): number =>
    (o[key] !== undefined ? s.get<number>(key, (v) => v === want, `${want}, ${what} of data.shape [${data.shape}]`) : want);
  const sized = {
    sample_size: equal('sample_size', R, 'the height and width'),
    in_channels: equal('in_channels', C, 'the channels'),
    out_channels: equal('out_channels', C, 'the channels'),
  };
  const spec = readNetwork(s, sized);
  const labels = data.label_dim ?? 0;
  if ((spec.num_class_embeds ?? 0) !== labels) {
    s.fail('num_class_embeds', labels ? `${labels}, the data.label_dim of this config` : 'null or absent, as data.label_dim is 0 (unconditional)', spec.num_class_embeds);
  }
  return spec;
}

/**
 * A diffusers config.json of a UNet2DModel (as save_pretrained writes it) to our network spec, the HWC data shape and
 * the number of classes (0 = unconditional). Keys starting with '_' are accepted; other keys UNet2DModel does not take
 * are ignored, as diffusers ignores them.
 */
export function diffusersConfigToSpec(json: unknown, fileName: string): { spec: DiffusersUnet2dNetwork; dataShape: number[]; labelDim: number } {
  if (!isObject(json)) {
    throw new ModelFileError(fileName, `a diffusers config.json must be a JSON object (got ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json})`);
  }
  const name = json._class_name;
  if (name !== undefined && name !== 'UNet2DModel') {
    throw new ModelFileError(fileName, `is the config of a diffusers ${preview(name)}; only UNet2DModel folders are read`, 'give the folder of a UNet2DModel (e.g. the unet/ folder of a DDPMPipeline)');
  }
  const o: Obj = Object.fromEntries(Object.entries(json).filter(([k]) => (FIELDS as readonly string[]).includes(k)));
  const s = new Section(fileName, '', o, FIELDS);
  let size = o.sample_size;
  if (Array.isArray(size) && size.length === 2 && size[0] === size[1]) size = size[0];
  if (!isPositiveInt(size)) s.fail('sample_size', 'a positive integer (the height and width of square images)', o.sample_size ?? null);
  const channels = (key: 'in_channels' | 'out_channels') => (o[key] !== undefined ? s.get<number>(key, isPositiveInt, 'a positive integer') : 3);
  const sized = { sample_size: size as number, in_channels: channels('in_channels'), out_channels: channels('out_channels') };
  if (sized.out_channels !== sized.in_channels) {
    s.fail('out_channels', `${sized.in_channels}, the in_channels (a denoiser's output has the image's channels)`, sized.out_channels);
  }
  const spec = readNetwork(s, sized);
  return { spec, dataShape: [spec.sample_size, spec.sample_size, spec.in_channels], labelDim: spec.num_class_embeds ?? 0 };
}

/** The config.json that UNet2DModel.from_pretrained reads for this spec. */
export function specToDiffusersConfig(spec: DiffusersUnet2dNetwork): Record<string, unknown> {
  const out: Record<string, unknown> = { _class_name: 'UNet2DModel', _diffusers_version: '0.30.0' };
  for (const key of FIELDS) {
    if (key === 'num_train_timesteps' && spec.num_train_timesteps === undefined) continue;
    const v = spec[key];
    out[key] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}
