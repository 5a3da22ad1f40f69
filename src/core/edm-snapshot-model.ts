/**
 * An EDM network snapshot (formats/edm-snapshot.ts) as a teacher: the preconditioning from the class of its `ema`
 * module and that module's attributes (what its forward uses), the network from its inner SongUNet's or
 * DhariwalUNet's recorded init kwargs over EDM's defaults, checked tensor by tensor against the weights.
 */
import { DEFAULT_EDM, type PidStudioConfig, type PrecondSpec, parseConfig } from '../formats/config';
import { EDM_DHARIWALUNET_DEFAULTS, EDM_SONGUNET_DEFAULTS } from '../formats/edm-networks';
import { type EdmSnapshot, type PlainValue, SNAPSHOT_PREFIX, readEdmSnapshot } from '../formats/edm-snapshot';
import { ModelFileError } from '../formats/errors';
import { type InputFile, type ModelFile, sha256Hex } from '../formats/model-file';
import { type LearnedNetworkSpec, paramShapes } from './nets';
import { describeNetwork } from './nets/infer';
import { clippedSigmaRange, precondOf } from './precond';

const PRECOND_TYPES = { EDMPrecond: 'edm', VPPrecond: 'vp', VEPrecond: 've' } as const;
const PRECOND_FIELDS = { EDMPrecond: [], VPPrecond: ['beta_d', 'beta_min', 'M', 'epsilon_t'], VEPrecond: ['sigma_min', 'sigma_max'] } as const;

export async function readEdmSnapshotModel(file: InputFile, precondOption?: string): Promise<ModelFile> {
  const snap = readEdmSnapshot(file.bytes, file.name);
  const fail = (problem: string, fix: string): never => { throw new ModelFileError(file.name, problem, fix); };
  const type = PRECOND_TYPES[snap.precondClass];
  if (precondOption && precondOption !== type) fail(`its network is an ${snap.precondClass}, so its preconditioning is "${type}", not "${precondOption}"`, 'leave out --precond for an EDM snapshot');

  const number = (key: string): number => {
    const v = snap.precond.get(key);
    return typeof v === 'number' ? v : fail(`its ${snap.precondClass} has ${key} ${JSON.stringify(v ?? null)}, not a number`, 'give a snapshot written by EDM\'s training');
  };
  const precond = { type, ...Object.fromEntries(PRECOND_FIELDS[snap.precondClass].map((k) => [k, number(k)])) } as PrecondSpec;
  const sigmaData = snap.precondClass === 'EDMPrecond' ? number('sigma_data') : DEFAULT_EDM.sigma_data;
  let [sigmaMin, sigmaMax] = clippedSigmaRange(precondOf({ edm: { ...DEFAULT_EDM, sigma_data: sigmaData }, precond }), DEFAULT_EDM.sigma_min, DEFAULT_EDM.sigma_max);
  if (snap.precondClass === 'EDMPrecond') [sigmaMin, sigmaMax] = [Math.max(sigmaMin, number('sigma_min')), Math.min(sigmaMax, number('sigma_max'))];

  const network = networkSpec(snap, fail);
  const R = network.img_resolution;
  const labelDim = network.label_dim;
  const raw: PidStudioConfig = {
    format: 'pid-studio/1',
    role: 'teacher',
    name: file.name.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '') || 'EDM snapshot',
    data: { shape: [R, R, network.in_channels], range: [-1, 1], ...(labelDim > 0 ? { label_dim: labelDim } : {}) },
    edm: { ...DEFAULT_EDM, sigma_data: sigmaData, sigma_min: sigmaMin, sigma_max: sigmaMax },
    network,
    ...(type === 'edm' ? {} : { precond }),
    pytorch: { prefix: SNAPSHOT_PREFIX },
  };
  const config = parseConfig(raw, file.name);
  checkTensors(config.network as LearnedNetworkSpec, config.data.shape, snap, fail);
  return {
    fileName: file.name, config, tensors: snap.tensors, sha256: await sha256Hex(file.bytes),
    origin: { format: 'edm-snapshot', taken: 'ema', prefix: SNAPSHOT_PREFIX, precondGiven: true, precondFrom: snap.precondClass },
  };
}

type EdmSpec = Extract<PidStudioConfig['network'], { type: 'edm-songunet' | 'edm-dhariwalunet' }>;

/** EDM's defaults, overridden by every recorded kwarg; a kwarg EDM's constructor does not take is refused. */
function networkSpec(snap: EdmSnapshot, fail: (p: string, f: string) => never): EdmSpec {
  const song = snap.networkClass === 'SongUNet';
  const defaults: Record<string, unknown> = song ? EDM_SONGUNET_DEFAULTS : EDM_DHARIWALUNET_DEFAULTS;
  const spec: Record<string, PlainValue | unknown> = { type: song ? 'edm-songunet' : 'edm-dhariwalunet', ...defaults };
  const sized = ['img_resolution', 'in_channels', 'out_channels'];
  for (const [key, value] of snap.networkKwargs) {
    if (!(key in defaults) && !sized.includes(key)) fail(`its ${snap.networkClass} was built with ${key}=${JSON.stringify(value)}, which ${snap.networkClass} in EDM's networks.py does not take`, 'give a snapshot written by EDM\'s own networks.py');
    spec[key] = value;
  }
  for (const key of sized) if (!snap.networkKwargs.has(key)) fail(`its ${snap.networkClass}'s recorded init kwargs have no ${key}`, 'give a snapshot written by EDM\'s training');
  return spec as unknown as EdmSpec;
}

/** The tensors the kwargs imply must be exactly the file's, shape for shape. */
function checkTensors(spec: LearnedNetworkSpec, dataShape: number[], snap: EdmSnapshot, fail: (p: string, f: string) => never): void {
  const want = new Map(paramShapes(spec, dataShape));
  const problems: string[] = [];
  for (const [name, shape] of want) {
    const got = snap.tensors.get(name);
    if (!got) problems.push(`missing '${name}' [${shape}]`);
    else if (got.shape.join(',') !== shape.join(',')) problems.push(`'${name}' is [${got.shape}], expected [${shape}]`);
  }
  for (const name of snap.tensors.keys()) if (!want.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length) {
    fail(`its ${snap.networkClass}'s init kwargs describe an ${describeNetwork(spec)} whose tensors differ from the file's: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}`,
      'the snapshot is inconsistent; write it again with EDM\'s training');
  }
}
