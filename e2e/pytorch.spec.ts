/**
 * A PyTorch teacher in the studio: a class-conditional EDM SongUNet (NCSN++ options) saved as EDMPrecond's state
 * dict is dropped on the page, named on the card, given another preconditioning and a class for the grids, distilled
 * on wasm, and downloaded for PyTorch: the .pt loads with torch.load(weights_only=True) and load_state_dict(strict=True)
 * under the teacher's names (test/torch/check_state_dicts.py).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { initParams } from '../src/core/nets';
import { Rng } from '../src/core/rng';
import { DEFAULT_DIFFUSERS_UNET2D, type DiffusersUnet2dSpec } from '../src/core/nets/diffusers-unet2d';
import { specToDiffusersConfig } from '../src/formats/diffusers-network';
import type { EdmSongUnetNetwork } from '../src/formats/edm-networks';
import { writeSafetensors } from '../src/formats/safetensors';
import { writeTorchStateDict } from '../src/formats/torch-file';
import { REPO, cli, downloadBytes, dropFiles, stepOf, watchPage } from './helpers';

const NCSNPP: EdmSongUnetNetwork = {
  type: 'edm-songunet', img_resolution: 8, in_channels: 3, out_channels: 3, label_dim: 3, augment_dim: 9, model_channels: 8,
  channel_mult: [1, 2], channel_mult_emb: 2, num_blocks: 1, attn_resolutions: [4], dropout: 0, label_dropout: 0,
  embedding_type: 'fourier', channel_mult_noise: 2, encoder_type: 'residual', decoder_type: 'standard', resample_filter: [1, 3, 3, 1],
};

test('a dropped EDM .pt teacher is named, re-preconditioned, distilled and downloaded for PyTorch', async ({ page, baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), 'pid-e2e-torch-'));
  try {
    const host = initParams(NCSNPP, [8, 8, 3], new Rng(3));
    const teacherBytes = writeTorchStateDict(new Map([...host].map(([name, t]) => [`model.${name}`, t])));
    writeFileSync(join(dir, 'teacher.pt'), teacherBytes);
    const seen = watchPage(page, baseURL!);
    await page.goto('?backend=wasm&batch=2&steps=3&evalEvery=3&heunSteps=2');
    await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
    await dropFiles(page, 'teacher-dropzone', [{ name: 'ncsnpp-cifar-like.pt', bytes: Array.from(teacherBytes) }]);
    const card = page.getByTestId('teacher-card');
    await expect(page.getByTestId('teacher-architecture')).toHaveText('EDM SongUNet (NCSN++)', { timeout: 120_000 });
    await expect(page.getByTestId('teacher-classes')).toContainText('3 (class-conditional');
    await expect(card).toContainText('[8, 8, 3]');
    await expect(card).toContainText("the file's state dict");
    const precond = page.getByLabel('Preconditioning of the dropped state dict');
    await expect(precond).toHaveValue('edm');
    await expect(card).toContainText('assumed: a state dict does not say');

    await precond.selectOption('ve');
    await expect(precond).toHaveValue('ve', { timeout: 120_000 });
    await expect(card).not.toContainText('assumed:', { timeout: 120_000 });
    await page.getByTestId('class-picker').selectOption('1');
    await expect(page.getByTestId('class-picker')).toHaveValue('1');

    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', /done|failed/, { timeout: 240_000 });
    if (await page.getByTestId('run-phase').getAttribute('data-phase') === 'failed') throw new Error(await page.getByTestId('training-error').innerText());
    expect(await stepOf(page)).toBe(3);

    const [pt] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download for PyTorch (.pt)' }).click()]);
    expect(pt.suggestedFilename()).toMatch(/-pid-student-3steps\.pt$/);
    writeFileSync(join(dir, 'student.pt'), await downloadBytes(pt));
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ pairs: [{ original: join(dir, 'teacher.pt'), exported: join(dir, 'student.pt') }] }));
    const check = JSON.parse(execFileSync('/usr/bin/python3', [join(REPO, 'test/torch/check_state_dicts.py'), manifest], { encoding: 'utf8' }).trim());
    expect(check.problems).toEqual([]);

    const [st] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download student' }).click()]);
    writeFileSync(join(dir, 'student.safetensors'), await downloadBytes(st));
    const inspected = await cli(['inspect', join(dir, 'student.safetensors')]);
    expect(inspected.stdout).toMatch(/precond +ve/);
    expect(inspected.stdout).toMatch(/label_dim 3/);
    const sampled = await cli(['sample', '--model', join(dir, 'student.safetensors'), '--n', '2', '--class', '1', '--out', join(dir, 'x.safetensors')]);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(seen.errors).toEqual([]);
    expect(seen.foreign).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the files of a diffusers UNet2DModel folder dropped together load as a DDPM teacher and distil', async ({ page, baseURL }) => {
  const spec: DiffusersUnet2dSpec = {
    ...DEFAULT_DIFFUSERS_UNET2D, sample_size: 8, in_channels: 3, out_channels: 3, block_out_channels: [8, 16], layers_per_block: 1,
    down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], norm_num_groups: 4, attention_head_dim: 8,
  };
  const encode = (v: unknown) => Array.from(new TextEncoder().encode(JSON.stringify(v)));
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=2&steps=2&evalEvery=2&heunSteps=2');
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('data-backend', 'wasm', { timeout: 60_000 });
  await dropFiles(page, 'teacher-dropzone', [
    { name: 'config.json', bytes: encode(specToDiffusersConfig(spec)) },
    { name: 'diffusion_pytorch_model.safetensors', bytes: Array.from(writeSafetensors(initParams(spec, [8, 8, 3], new Rng(1)), { format: 'pt' })) },
    { name: 'scheduler_config.json', bytes: encode({ _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_schedule: 'squaredcos_cap_v2' }) },
  ]);
  await expect(page.getByTestId('teacher-architecture')).toHaveText('diffusers UNet2DModel', { timeout: 120_000 });
  const card = page.getByTestId('teacher-card');
  await expect(card).toContainText('DDPM ε-prediction');
  await expect(card).toContainText('sampling is clipped to it');
  await expect(page.getByLabel('Preconditioning of the dropped state dict')).toHaveCount(0);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', /done|failed/, { timeout: 240_000 });
  if (await page.getByTestId('run-phase').getAttribute('data-phase') === 'failed') throw new Error(await page.getByTestId('training-error').innerText());
  expect(await stepOf(page)).toBe(2);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});
