/**
 * Writes the UNet2DModel of diffusers' "train a diffusion model" tutorial (sample_size 128, block_out_channels
 * (128, 128, 256, 256, 512, 512), layers_per_block 2, attention in the fifth down and second up block; 113.7M
 * parameters) with random weights as a diffusers folder: config.json, diffusion_pytorch_model.safetensors,
 * scheduler_config.json (DDPMScheduler, 1000 linear steps). Usage: npm run tutorial-unet2d -- <folder> [sample_size]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initParams, parameterCount } from '../src/core/nets';
import { DEFAULT_DIFFUSERS_UNET2D, type DiffusersUnet2dSpec } from '../src/core/nets/diffusers-unet2d';
import { Rng } from '../src/core/rng';
import { specToDiffusersConfig } from '../src/formats/diffusers-network';
import { writeSafetensors } from '../src/formats/safetensors';

export function tutorialSpec(sampleSize = 128): DiffusersUnet2dSpec {
  return {
    ...DEFAULT_DIFFUSERS_UNET2D, sample_size: sampleSize, in_channels: 3, out_channels: 3, layers_per_block: 2,
    block_out_channels: [128, 128, 256, 256, 512, 512],
    down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D'],
  };
}

const [folder, size] = process.argv.slice(2);
if (folder) {
  const spec = tutorialSpec(size ? Number(size) : 128);
  const shape = [spec.sample_size, spec.sample_size, 3];
  mkdirSync(folder, { recursive: true });
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  writeFileSync(join(folder, 'config.json'), json(specToDiffusersConfig(spec)));
  writeFileSync(join(folder, 'diffusion_pytorch_model.safetensors'), writeSafetensors(initParams(spec, shape, new Rng(0)), { format: 'pt' }));
  writeFileSync(join(folder, 'scheduler_config.json'), json({ _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_schedule: 'linear' }));
  console.log(`wrote ${folder}: UNet2DModel ${spec.sample_size}x${spec.sample_size}, ${parameterCount(spec, shape).toLocaleString('en-US')} parameters`);
}
