/**
 * The network types a config may name, one record each: the parser of its `network` section, its label, and the
 * exports it has besides a PyTorch state dict. src/core/network-types.ts extends each record with what the core
 * does with the type (tensor shapes, init and forward pass, or an analytic denoiser); adding a type means one file
 * for its fields and parser, and one entry here and there.
 */
import { type DataSpec, type Obj, Section, preview } from './config-section.ts';
import { type DiffusersUnet2dNetwork, parseDiffusersUnet2d, specToDiffusersConfig } from './diffusers-network.ts';
import { type EdmDhariwalUnetNetwork, type EdmSongUnetNetwork, parseEdmDhariwalUnet, parseEdmSongUnet } from './edm-networks.ts';
import { type GaussianMixtureNetwork, parseGaussianMixture } from './gaussian-mixture-network.ts';
import { type MlpNetwork, parseMlp } from './mlp-network.ts';
import { type UnetNetwork, parseUnet } from './unet-network.ts';

export type NetworkSpec = GaussianMixtureNetwork | MlpNetwork | UnetNetwork | EdmSongUnetNetwork | EdmDhariwalUnetNetwork | DiffusersUnet2dNetwork;

export interface NetworkFormat<T extends NetworkSpec> {
  /** Validates a config's `network` section (its type already known) with one-line errors naming the field. */
  parse(net: Obj, file: string, data: DataSpec): T;
  /** A human label for the teacher's card and `inspect`: "EDM SongUNet (DDPM++)", "MLP (PID Studio)", ... */
  describe(spec: T): string;
  /** The config.json of a diffusers folder (`export --format diffusers`); absent: the type has no such export. */
  diffusersConfig?(spec: T): Record<string, unknown>;
  /**
   * Whether a tensor is one the PID reference code (pid_diffusion, cm/network.py) trains, for `export --keys pid`;
   * absent: the reference code has no such network.
   */
  inPidReference?(tensorName: string): boolean;
}

/** EDM's network without map_augment, which the reference code's SongUNet and DhariwalUNet do not have. */
const edmInPidReference = (name: string): boolean => !name.startsWith('map_augment.');

function describeSongUnet(spec: EdmSongUnetNetwork): string {
  const f = spec.resample_filter.join(',');
  if (spec.embedding_type === 'positional' && spec.encoder_type === 'standard' && spec.decoder_type === 'standard' && f === '1,1') return 'EDM SongUNet (DDPM++)';
  if (spec.embedding_type === 'fourier' && spec.encoder_type === 'residual' && spec.decoder_type === 'standard' && f === '1,3,3,1') return 'EDM SongUNet (NCSN++)';
  return 'EDM SongUNet (custom options)';
}

export const NETWORK_FORMATS: { [K in NetworkSpec['type']]: NetworkFormat<Extract<NetworkSpec, { type: K }>> } = {
  'gaussian-mixture': { parse: parseGaussianMixture, describe: () => 'Gaussian mixture (analytic)' },
  mlp: { parse: parseMlp, describe: () => 'MLP (PID Studio)' },
  unet: { parse: parseUnet, describe: () => 'U-Net (PID Studio)' },
  'edm-songunet': { parse: parseEdmSongUnet, describe: describeSongUnet, inPidReference: edmInPidReference },
  'edm-dhariwalunet': { parse: parseEdmDhariwalUnet, describe: () => 'EDM DhariwalUNet (ADM)', inPidReference: edmInPidReference },
  'diffusers-unet2d': { parse: parseDiffusersUnet2d, describe: () => 'diffusers UNet2DModel', diffusersConfig: specToDiffusersConfig },
};

export const NETWORK_TYPES = Object.keys(NETWORK_FORMATS) as NetworkSpec['type'][];

/** The record of a spec's type. */
export const networkFormat = <T extends NetworkSpec>(spec: T): NetworkFormat<T> => NETWORK_FORMATS[spec.type] as NetworkFormat<T>;

export const describeNetwork = (spec: NetworkSpec): string => networkFormat(spec).describe(spec);

/** A config's `network` section, of any known type; an unknown or missing type is refused naming the known ones. */
export function parseNetwork(net: Obj, file: string, data: DataSpec): NetworkSpec {
  const type = net.type;
  if (typeof type !== 'string' || !Object.hasOwn(NETWORK_FORMATS, type)) {
    const known = NETWORK_TYPES.join(', ');
    const problem = typeof type === 'string' ? `is ${preview(type)}, not a known network type (known: ${known})`
      : `is missing or not a string; it must be one of: ${known}`;
    new Section(file, 'network', {}, []).fail('type', problem, undefined, 'set network.type to a known type, or convert the model to one');
  }
  return (NETWORK_FORMATS[type as NetworkSpec['type']] as NetworkFormat<NetworkSpec>).parse(net, file, data);
}
