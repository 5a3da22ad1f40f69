/**
 * diffusers UNet2DModel folders through the real CLI: the folder the diffusers training tutorial writes (config.json,
 * diffusion_pytorch_model.safetensors, scheduler_config.json) and an older one (.bin with legacy attention names, no
 * scheduler config) are inspected, denoised against PyTorch at timesteps 0, 10, 500, 999 (test/torch/diffusers_denoise.py),
 * distilled, and exported as a state dict and as a diffusers folder; broken folders get one line naming the file.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DIFFUSERS_UNET2D, type DiffusersUnet2dSpec } from '../../src/core/nets/diffusers-unet2d';
import { ddpmSigmas } from '../../src/core/precond/ddpm-eps';
import { Rng } from '../../src/core/rng';
import { DDPM_DEFAULTS } from '../../src/formats/config';
import { diffusersConfigToSpec, specToDiffusersConfig } from '../../src/formats/diffusers-network';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors';
import { writeTorchStateDict } from '../../src/formats/torch-file';
import { nestedNchw, randomHost, worstPerSample } from '../helpers/random-weights';
import { runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-cli-diffusers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tutorial-shaped UNet2DModel at 8x8: DownBlock2D then AttnDownBlock2D, 2 heads, 3 classes. */
const SPEC: DiffusersUnet2dSpec = {
  ...DEFAULT_DIFFUSERS_UNET2D, sample_size: 8, in_channels: 3, out_channels: 3, block_out_channels: [8, 16], layers_per_block: 1,
  down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], norm_num_groups: 4,
  attention_head_dim: 8, num_class_embeds: 3,
};
const SCHEDULER = { _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', prediction_type: 'epsilon' };

const rng = new Rng(5);
const weights = randomHost(SPEC, [8, 8, 3], 4);
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2));
const tutorial = join(dir, 'ddpm-tutorial');
mkdirSync(tutorial);
writeFileSync(join(tutorial, 'config.json'), json(specToDiffusersConfig(SPEC)));
writeFileSync(join(tutorial, 'diffusion_pytorch_model.safetensors'), writeSafetensors(weights, { format: 'pt' }));
writeFileSync(join(tutorial, 'scheduler_config.json'), json(SCHEDULER));
writeFileSync(join(dir, 'weights.bin'), writeTorchStateDict(weights));
// an older folder: the torch.save .bin with the legacy attention names, and no scheduler_config.json
const legacy = join(dir, 'legacy');
mkdirSync(legacy);
writeFileSync(join(legacy, 'config.json'), json(specToDiffusersConfig(SPEC)));
const legacyName = (n: string) => n.replace(/\.attentions\.(\d+)\.to_q\./, '.attentions.$1.query.').replace(/\.to_k\./, '.key.').replace(/\.to_v\./, '.value.').replace(/\.to_out\.0\./, '.proj_attn.');
writeFileSync(join(legacy, 'diffusion_pytorch_model.bin'), writeTorchStateDict(new Map([...weights].map(([n, t]) => [legacyName(n), t]))));

const TIMESTEPS = [0, 10, 500, 999];
const sigmas = Array.from(ddpmSigmas({ ...DDPM_DEFAULTS }));
const x = TIMESTEPS.map((t) => Array.from({ length: 192 }, () => rng.normal() * Math.sqrt(1 + sigmas[t] ** 2)));
const labels = TIMESTEPS.map((_, i) => [0, 1, 2].map((k) => (k === i % 3 ? 1 : 0)));
const tensorFile = (name: string, tensor: string, shape: number[], data: number[]) =>
  writeFileSync(join(dir, name), writeSafetensors(new Map([[tensor, { shape, data: Float32Array.from(data) }]])));
tensorFile('x.safetensors', 'x', [4, 8, 8, 3], x.flat());
tensorFile('sigma.safetensors', 'sigma', [4], TIMESTEPS.map((t) => sigmas[t]));
tensorFile('labels.safetensors', 'labels', [4, 3], labels.flat());

function expectOneLineError(r: { code: number | null; stderr: string }, mention: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(mention);
}

describe('pid-studio on diffusers UNet2DModel folders', () => {
  it('inspect names the network, the DDPM schedule (or its defaults) and the trained sigma range', async () => {
    const r = await runCli(['inspect', 'ddpm-tutorial'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid diffusers UNet2DModel folder, read as a teacher "ddpm-tutorial"/);
    expect(r.stdout).toMatch(/network +diffusers UNet2DModel: diffusers-unet2d/);
    expect(r.stdout).toMatch(/label_dim 3 \(class-conditional\)/);
    expect(r.stdout).toMatch(/precond +ddpm-eps \{"num_train_timesteps":1000,"beta_start":0\.0001,"beta_end":0\.02,"beta_schedule":"linear"\}\n/);
    expect(r.stdout).toMatch(/trained on sigma 0\.01000 \.\. 15\d\.\d: EDM's sampling range 0\.002 \.\. 80 is clipped to it \(sigma 0\.01000 \.\. 80\.00\)/);
    const old = await runCli(['inspect', 'legacy'], dir);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toMatch(/no scheduler_config\.json: DDPMScheduler's defaults/);
  });

  it('denoises as PyTorch does at timesteps 0, 10, 500, 999 (the legacy folder the same as the new one)', async () => {
    for (const [folder, out] of [['ddpm-tutorial', 'D.safetensors'], ['legacy', 'D-legacy.safetensors']]) {
      const r = await runCli(['denoise', '--model', folder, '--x', 'x.safetensors', '--sigma', 'sigma.safetensors', '--labels', 'labels.safetensors', '--out', out], dir);
      expect(r.code, r.stderr).toBe(0);
    }
    const read = (name: string) => readSafetensors(new Uint8Array(readFileSync(join(dir, name))), name).tensors.get('D')!.data;
    const ours = read('D.safetensors');
    expect(read('D-legacy.safetensors')).toEqual(ours);
    const caseFile = join(dir, 'case.json');
    writeFileSync(caseFile, JSON.stringify({ bin: join(dir, 'weights.bin'), config: diffusersConfigToSpec(specToDiffusersConfig(SPEC), 'c').spec, scheduler: SCHEDULER, x: x.map((s) => nestedNchw(s, [8, 8, 3])), timesteps: TIMESTEPS, labels }));
    let stdout: string;
    try {
      stdout = execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'diffusers_denoise.py'), caseFile], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    } catch (e) {
      throw new Error(`/usr/bin/python3 with torch is needed (install Debian's python3-torch, as CI does): ${String((e as { stderr?: string }).stderr ?? e)}`);
    }
    const torch = JSON.parse(stdout) as { sigma: number[]; D: number[][][][] };
    torch.sigma.forEach((s, i) => expect(Math.abs(s - sigmas[TIMESTEPS[i]]) / s).toBeLessThan(5e-5)); // the betas' float32 rounding (ddpm-eps.ts)
    // the same D on cpu, and on webgpu through Dawn (lavapipe here, as test/cli/webgpu-node.test.ts; PID_SKIP_WEBGPU_NODE=1 skips it)
    const backends = ['wasm', 'cpu', ...(process.env.PID_SKIP_WEBGPU_NODE === '1' ? [] : ['webgpu'])];
    for (const b of backends.slice(1)) {
      const r = await runCli(['denoise', '--model', 'ddpm-tutorial', '--x', 'x.safetensors', '--sigma', 'sigma.safetensors', '--labels', 'labels.safetensors', '--backend', b, '--out', `D-${b}.safetensors`], dir, 120_000);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const b of backends) {
      const d = b === 'wasm' ? ours : read(`D-${b}.safetensors`);
      const worst = worstPerSample(d, torch.D, [8, 8, 3]);
      console.log(`diffusers UNet2DModel D vs PyTorch at timesteps ${TIMESTEPS.join(' / ')} (${b}): max |D - D_torch| ${worst.map((w) => w.diff.toExponential(1)).join(' / ')} (max |D| ${worst.map((w) => w.scale.toFixed(2)).join(' / ')})`);
      worst.forEach((w, i) => expect(w.diff, `${b}, timestep ${TIMESTEPS[i]}`).toBeLessThan(2e-5 * Math.max(1, w.scale)));
    }
  });

  it('distills a folder and exports the student as a state dict and as a diffusers folder', async () => {
    const d = await runCli(['distill', '--teacher', 'ddpm-tutorial', '--steps', '2', '--batch', '2', '--N', '8', '--out', 'student.safetensors'], dir, 120_000);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/into a diffusers-unet2d student \([\d,]+ parameters, initialised from the teacher's weights\)/);
    expect((await runCli(['export', 'student.safetensors', '--format', 'pytorch', '--out', 'student.pt'], dir)).code).toBe(0);
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ pairs: [{ original: join(dir, 'weights.bin'), exported: join(dir, 'student.pt') }] }));
    const check = JSON.parse(execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'torch', 'check_state_dicts.py'), manifest], { encoding: 'utf8' }).trim());
    expect(check.problems).toEqual([]);
    const f = await runCli(['export', 'student.safetensors', '--format', 'diffusers', '--out', 'student-folder'], dir);
    expect(f.code, f.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'student-folder', 'config.json'), 'utf8'));
    expect(config._class_name).toBe('UNet2DModel');
    expect(diffusersConfigToSpec(config, 'config.json').spec).toEqual(diffusersConfigToSpec(specToDiffusersConfig(SPEC), 'c').spec);
    expect(JSON.parse(readFileSync(join(dir, 'student-folder', 'scheduler_config.json'), 'utf8'))).toMatchObject({ _class_name: 'DDPMScheduler', beta_schedule: 'linear', num_train_timesteps: 1000 });
    // the exported folder is a teacher again, with the student's weights
    const again = await runCli(['inspect', 'student-folder'], dir);
    expect(again.stdout).toMatch(/diffusers UNet2DModel folder/);
  });

  it('refuses broken folders in one line naming the file and the fix', async () => {
    const broken = (name: string, files: Record<string, Uint8Array>) => {
      mkdirSync(join(dir, name));
      for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, name, f), bytes);
    };
    const cfg = readFileSync(join(tutorial, 'config.json'));
    const wts = readFileSync(join(tutorial, 'diffusion_pytorch_model.safetensors'));
    broken('no-weights', { 'config.json': cfg, 'scheduler_config.json': json(SCHEDULER) });
    broken('no-config', { 'diffusion_pytorch_model.safetensors': wts, 'scheduler_config.json': json(SCHEDULER) });
    broken('mismatch', { 'config.json': json({ ...specToDiffusersConfig(SPEC), block_out_channels: [8, 24] }), 'diffusion_pytorch_model.safetensors': wts });
    broken('v-prediction', { 'config.json': cfg, 'diffusion_pytorch_model.safetensors': wts, 'scheduler_config.json': json({ ...SCHEDULER, prediction_type: 'v_prediction' }) });
    broken('pipeline-class', { 'config.json': json({ ...specToDiffusersConfig(SPEC), _class_name: 'UNet2DConditionModel' }), 'diffusion_pytorch_model.safetensors': wts });
    expectOneLineError(await runCli(['inspect', 'no-weights'], dir), /no diffusion_pytorch_model\.safetensors or diffusion_pytorch_model\.bin among the files.*Fix: give the folder diffusers saves/);
    expectOneLineError(await runCli(['inspect', 'no-config'], dir), /a diffusers model needs its config\.json, which is missing\. Fix:/);
    expectOneLineError(await runCli(['inspect', 'mismatch'], dir), /mismatch[\\/]diffusion_pytorch_model\.safetensors: .*shape.*Fix:/);
    expectOneLineError(await runCli(['inspect', 'v-prediction'], dir), /scheduler_config\.json: prediction_type is "v_prediction"; only "epsilon" models are read/);
    expectOneLineError(await runCli(['inspect', 'pipeline-class'], dir), /config\.json: .*UNet2DConditionModel/);
  });
});
