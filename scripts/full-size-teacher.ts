/**
 * Writes EDM's CIFAR-10 DDPM++ network (train.py --arch=ddpmpp: model_channels 128, channel_mult [2,2,2], 4 blocks,
 * attention at 16x16, augment_dim 9; 55.7M parameters) with random weights as EDMPrecond's state dict ("model." keys),
 * the shape of the .pt the PID reference code distils from. Usage: npm run full-size-teacher -- <out.pt>
 */
import { writeFileSync } from 'node:fs';
import { initParams, parameterCount } from '../src/core/nets';
import { Rng } from '../src/core/rng';
import { EDM_SONGUNET_DEFAULTS, type EdmSongUnetNetwork } from '../src/formats/edm-networks';
import { writeTorchStateDict } from '../src/formats/torch-file';

export const CIFAR10_DDPMPP: EdmSongUnetNetwork = {
  ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', img_resolution: 32, in_channels: 3, out_channels: 3, augment_dim: 9,
  model_channels: 128, channel_mult: [2, 2, 2], num_blocks: 4, attn_resolutions: [16], dropout: 0.13,
  embedding_type: 'positional', encoder_type: 'standard', decoder_type: 'standard', resample_filter: [1, 1],
};

/** The state dict's bytes: EDM's init, with the zero-initialised layers (init_zero) given small random weights too. */
export function fullSizeTeacherBytes(seed = 0): Uint8Array {
  const host = initParams(CIFAR10_DDPMPP, [32, 32, 3], new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const t of host.values()) {
    if (t.data.every((v) => v === 0)) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.02 * rng.normal();
  }
  return writeTorchStateDict(new Map([...host].map(([name, t]) => [`model.${name}`, t])));
}

const out = process.argv[2];
if (out) {
  const start = performance.now();
  const bytes = fullSizeTeacherBytes();
  writeFileSync(out, bytes);
  console.log(`wrote ${out}: ${parameterCount(CIFAR10_DDPMPP, [32, 32, 3]).toLocaleString('en-US')} parameters, ${(bytes.length / 1e6).toFixed(1)} MB, ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
