/**
 * "Run on your GPUs": with the default teacher loaded, the button gives <teacher>-run.zip, a run folder for torchrun
 * whose run.json holds the settings on the page (those Start would use), with run.sh and torch/train.py inside.
 */
import { expect, test } from '@playwright/test';
import { readStoredZip } from '../src/formats/zip';
import { downloadBytes, watchPage } from './helpers';

test('Run on your GPUs downloads the zip of the run folder with the settings on the page', async ({ page, baseURL }) => {
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=64&steps=40&seed=3');
  const button = page.getByRole('button', { name: 'Run on your GPUs (.zip)' });
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-waiting', 'false', { timeout: 120_000 });
  await expect(button).toBeEnabled({ timeout: 120_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  expect(download.suggestedFilename()).toBe('moons-mlp-run.zip');
  const zip = readStoredZip(new Uint8Array(await downloadBytes(download)), 'moons-mlp-run.zip');
  expect([...zip.entries.keys()].sort()).toEqual(['README.txt', 'run.json', 'run.sh', 'teacher.safetensors', 'torch/pid_torch.py', 'torch/train.py']
    .map((n) => `moons-mlp-run/${n}`).sort());
  const run = JSON.parse(new TextDecoder().decode(zip.read('moons-mlp-run/run.json')));
  expect(run).toMatchObject({ format: 'pid-studio-run/1', settings: { batch: 64, steps: 40, seed: 3 }, teacher: { source: 'moons-mlp.safetensors' },
    student: { fromTeacher: true }, command: 'torchrun --nproc_per_node=1 torch/train.py . --out student.safetensors' });
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(seen.errors).toEqual([]);
  expect(seen.foreign).toEqual([]);
});
