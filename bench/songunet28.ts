/**
 * EDM's SongUNet sized like the 28x28 digits (model_channels 16, channel_mult [1,2,2], attention at 7x7), the bench's
 * second image network, written as a PyTorch state dict (.pt) so that PyTorch's bench step reads the same file.
 */
import { writeFileSync } from 'node:fs';
import { initParams } from '../src/core/nets';
import { Rng } from '../src/core/rng';
import { EDM_SONGUNET_DEFAULTS, type EdmSongUnetNetwork } from '../src/formats/edm-networks';
import { writeTorchStateDict } from '../src/formats/torch-file';

export const SONGUNET28: EdmSongUnetNetwork = {
  ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', img_resolution: 28, in_channels: 1, out_channels: 1, label_dim: 0, augment_dim: 0,
  model_channels: 16, channel_mult: [1, 2, 2], num_blocks: 2, attn_resolutions: [7], dropout: 0,
};

/** Writes SONGUNET28 with seeded random weights to `file` as EDM's state dict under `model.`. */
export function writeSongUnet28(file: string): void {
  const host = initParams(SONGUNET28, [28, 28, 1], new Rng(1));
  writeFileSync(file, writeTorchStateDict(new Map([...host].map(([name, t]) => [`model.${name}`, t]))));
}
