/**
 * Recognises an EDM network (NVlabs/edm training/networks.py SongUNet or DhariwalUNet) from the names and shapes of
 * a bare state dict, and gives its network spec: the constructor arguments that reproduce exactly these tensors.
 * What names and shapes cannot tell is left at EDM's defaults: dropout, label_dropout (unused here), attention
 * resolutions without a level (no tensors) and, in ADM, those of levels under 64 channels (no heads, no tensors).
 * The resample filter is told by its buffer's shape: [1, 1, 2, 2] is [1, 1], [1, 1, 4, 4] is [1, 3, 3, 1].
 */
import { EDM_DHARIWALUNET_DEFAULTS, EDM_SONGUNET_DEFAULTS, type EdmDhariwalUnetNetwork, type EdmSongUnetNetwork } from '../../formats/edm-networks';
import { describeNetwork } from '../../formats/network-types';
import { type LearnedNetworkSpec, paramShapes } from './index';

export { describeNetwork };

export type Inferred = { spec: LearnedNetworkSpec; dataShape: number[] } | { problems: string };

const quote = (names: string[], max = 4) => names.slice(0, max).map((n) => `'${n}'`).join(', ') + (names.length > max ? ', ...' : '');

/** The resolutions of the levels that have blocks: R, R/2, ... while enc.{r}x{r}_block0 exists. */
function levelsOf(shapes: Map<string, number[]>, R: number): number[] {
  const res: number[] = [];
  for (let r = R; r >= 1 && shapes.has(`enc.${r}x${r}_block0.conv0.weight`); r >>= 1) {
    res.push(r);
    if (r % 2 !== 0) break;
  }
  return res;
}

function countBlocks(shapes: Map<string, number[]>, prefix: string): number {
  let n = 0;
  while (shapes.has(`${prefix}_block${n}.conv0.weight`)) n++;
  return n;
}

/** Integer q = a / b, or a problem. */
function ratio(a: number, b: number, what: string): number {
  const q = a / b;
  if (!Number.isSafeInteger(q) || q <= 0) throw new InferError(`${what}: ${a} is not a positive multiple of ${b}`);
  return q;
}

class InferError extends Error {}

function need(shapes: Map<string, number[]>, name: string): number[] {
  const s = shapes.get(name);
  if (!s) throw new InferError(`missing tensor '${name}'`);
  return s;
}

function inferSongUnet(shapes: Map<string, number[]>, R: number): EdmSongUnetNetwork {
  const names = [...shapes.keys()];
  const [mc, inC] = need(shapes, `enc.${R}x${R}_conv.weight`);
  const [emb, noise] = need(shapes, 'map_layer0.weight');
  const levels = levelsOf(shapes, R);
  if (levels.length === 0) throw new InferError(`no encoder blocks (expected 'enc.${R}x${R}_block0.conv0.weight')`);
  const num_blocks = countBlocks(shapes, `enc.${R}x${R}`);
  const channel_mult = levels.map((r) => ratio(need(shapes, `enc.${r}x${r}_block0.conv0.weight`)[0], mc, `enc.${r}x${r}_block0 channels`));
  const attn_resolutions = levels.filter((r) => shapes.has(`enc.${r}x${r}_block0.qkv.weight`) || shapes.has(`dec.${r}x${r}_block${num_blocks}.qkv.weight`));
  const has = (re: RegExp) => names.some((n) => re.test(n));
  const encoder_type = has(/^enc\.\d+x\d+_aux_residual\./) ? 'residual' : has(/^enc\.\d+x\d+_aux_skip\./) ? 'skip' : 'standard';
  const auxConvs = names.filter((n) => /^dec\.\d+x\d+_aux_conv\.weight$/.test(n)).length;
  const decoder_type = has(/^dec\.\d+x\d+_aux_up\./) || auxConvs > 1 ? 'skip' : 'standard';
  const filterName = names.find((n) => n.endsWith('.resample_filter'));
  const taps = filterName ? shapes.get(filterName)![3] : 2;
  const resample_filter = taps === 4 ? [1, 3, 3, 1] : taps === 2 ? [1, 1] : null;
  if (!resample_filter) throw new InferError(`'${filterName}' has shape [${shapes.get(filterName!)}]; expected [1, 1, 2, 2] or [1, 1, 4, 4]`);
  const out_channels = need(shapes, `dec.${R}x${R}_aux_conv.weight`)[0];
  return {
    type: 'edm-songunet', ...EDM_SONGUNET_DEFAULTS,
    img_resolution: R, in_channels: inC, out_channels,
    label_dim: shapes.get('map_label.weight')?.[1] ?? 0,
    augment_dim: shapes.get('map_augment.weight')?.[1] ?? 0,
    model_channels: mc, channel_mult, channel_mult_emb: ratio(emb, mc, 'map_layer0 width'), num_blocks, attn_resolutions,
    embedding_type: shapes.has('map_noise.freqs') ? 'fourier' : 'positional',
    channel_mult_noise: ratio(noise, mc, 'map_layer0 input width'),
    encoder_type, decoder_type, resample_filter,
  };
}

function inferDhariwalUnet(shapes: Map<string, number[]>, R: number): EdmDhariwalUnetNetwork {
  const [c0, inC] = need(shapes, `enc.${R}x${R}_conv.weight`);
  const [emb, mc] = need(shapes, 'map_layer0.weight');
  const levels = levelsOf(shapes, R);
  if (levels.length === 0) throw new InferError(`no encoder blocks (expected 'enc.${R}x${R}_block0.conv0.weight')`);
  ratio(c0, mc, `enc.${R}x${R}_conv channels`);
  const num_blocks = countBlocks(shapes, `enc.${R}x${R}`);
  const channel_mult = levels.map((r) => ratio(need(shapes, `enc.${r}x${r}_block0.conv0.weight`)[0], mc, `enc.${r}x${r}_block0 channels`));
  const attn_resolutions = levels.filter((r) => shapes.has(`enc.${r}x${r}_block0.qkv.weight`) || shapes.has(`dec.${r}x${r}_block0.qkv.weight`));
  return {
    type: 'edm-dhariwalunet', ...EDM_DHARIWALUNET_DEFAULTS,
    img_resolution: R, in_channels: inC, out_channels: need(shapes, 'out_conv.weight')[0],
    label_dim: shapes.get('map_label.weight')?.[1] ?? 0,
    augment_dim: shapes.get('map_augment.weight')?.[1] ?? 0,
    model_channels: mc, channel_mult, channel_mult_emb: ratio(emb, mc, 'map_layer0 width'), num_blocks, attn_resolutions,
  };
}

/** Differences between the tensors a spec has and the given ones, as one line ('' when equal). */
function mismatch(want: [string, number[]][], shapes: Map<string, number[]>): string {
  const wanted = new Map(want);
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const got = shapes.get(name);
    if (!got) problems.push(`missing '${name}' [${shape}]`);
    else if (got.join(',') !== shape.join(',')) problems.push(`'${name}' is [${got}], expected [${shape}]`);
  }
  for (const name of shapes.keys()) if (!wanted.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length === 0) return '';
  return problems.slice(0, 4).join('; ') + (problems.length > 4 ? `; and ${problems.length - 4} more` : '');
}

/** The EDM network (spec and HWC data shape) of a state dict's tensor shapes, or why none fits. */
export function inferNetwork(shapes: Map<string, number[]>): Inferred {
  const names = [...shapes.keys()];
  const conv = names.map((n) => /^enc\.(\d+)x(\d+)_conv\.weight$/.exec(n)).find((m) => m && m[1] === m[2]);
  const isSong = names.some((n) => /^dec\.\d+x\d+_aux_conv\.weight$/.test(n));
  const isAdm = shapes.has('out_conv.weight') && shapes.has('out_norm.weight');
  if (!conv || !shapes.has('map_layer0.weight') || isSong === isAdm) {
    return {
      problems: `expected EDM SongUNet keys like 'map_layer0.weight', 'enc.32x32_conv.weight', 'dec.32x32_aux_conv.weight' `
        + `or DhariwalUNet keys like 'map_layer0.weight', 'enc.64x64_conv.weight', 'out_conv.weight'; found ${names.length ? quote(names) : 'no tensors'}`,
    };
  }
  const R = Number(conv[1]);
  const kind = isSong ? 'EDM SongUNet' : 'EDM DhariwalUNet';
  let spec: EdmSongUnetNetwork | EdmDhariwalUnetNetwork;
  try {
    spec = isSong ? inferSongUnet(shapes, R) : inferDhariwalUnet(shapes, R);
  } catch (e) {
    if (e instanceof InferError) return { problems: `looks like an ${kind}, but ${e.message}` };
    throw e;
  }
  if (spec.in_channels !== spec.out_channels) {
    return { problems: `looks like an ${kind} with ${spec.in_channels} input and ${spec.out_channels} output channels; only equal counts are supported` };
  }
  const dataShape = [R, R, spec.in_channels];
  let want: [string, number[]][];
  try {
    want = paramShapes(spec, dataShape);
  } catch (e) {
    return { problems: `looks like an ${kind}, but its tensors do not fit one: ${(e as Error).message}` };
  }
  const diff = mismatch(want, shapes);
  if (diff) return { problems: `looks like an ${kind}, but its tensors differ from those of the closest ${describeNetwork(spec)}: ${diff}` };
  return { spec, dataShape };
}
