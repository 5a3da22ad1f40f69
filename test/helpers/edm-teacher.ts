/** Small EDM teachers written as EDMPrecond state dicts (.pt, "model." keys), as a user's own files are. */
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { readAnyModel } from '../../src/core/model-import';
import { type Teacher, loadTeacher } from '../../src/core/models';
import { EDM_SONGUNET_DEFAULTS, type EdmSongUnetNetwork } from '../../src/formats/edm-networks';
import { writeTorchStateDict } from '../../src/formats/torch-file';

/** A DDPM++-style SongUNet on 8x8x3 with attention, class-conditional when label_dim > 0. */
export const tinySongUnet = (o: Partial<EdmSongUnetNetwork> = {}): EdmSongUnetNetwork => ({
  ...EDM_SONGUNET_DEFAULTS, type: 'edm-songunet', img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 0, augment_dim: 9,
  model_channels: 8, channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4], dropout: 0, ...o,
});

/** The bytes of a .pt state dict of EDMPrecond wrapping `net` with seeded random weights. */
export function edmStateDictBytes(net: EdmSongUnetNetwork, seed = 3): Uint8Array {
  const shape = [net.img_resolution, net.img_resolution, net.in_channels];
  const host = initParams(net, shape, new Rng(seed));
  // EDM zero-initialises some output layers; small random values make every path carry signal
  const rng = new Rng(seed + 1);
  for (const t of host.values()) if (t.data.every((v) => v === 0)) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.05 * rng.normal();
  return writeTorchStateDict(new Map([...host].map(([name, t]) => [`model.${name}`, t])));
}

/** The teacher a user's .pt of `net` loads as. */
export async function edmTeacher(net: EdmSongUnetNetwork, seed = 3, name = 'teacher.pt'): Promise<Teacher> {
  return loadTeacher(await readAnyModel([{ name, bytes: edmStateDictBytes(net, seed) }]));
}
