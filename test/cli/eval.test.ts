/** `pid-studio eval`: the FD line, on analytic digit-like teachers whose ranking is known in advance. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';
import { loadMnist } from '../../src/cli/mnist';
import { DEFAULT_EDM, type PidStudioConfig } from '../../src/formats/config';
import { writeModelFile } from '../../src/formats/model-file';
import { fdMinimumSamples, fdSampleWarning } from '../../src/cli/eval';
import { runInProcess } from './in-process';
import { runCli } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'pid-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mixtureFile(name: string, means: number[][]): Uint8Array {
  const config: PidStudioConfig = {
    format: 'pid-studio/1',
    role: 'teacher',
    name,
    data: { shape: [14, 14, 1], range: [-1, 1] },
    edm: DEFAULT_EDM,
    network: { type: 'gaussian-mixture', weights: means.map(() => 1 / means.length), means, stds: means.map(() => 0.15) },
  };
  return writeModelFile(config, new Map());
}

describe('pid-studio eval', () => {
  it('prints "FD <value> (NFE <k>, n <n>)" and ranks class-mean digits far above random blobs', async () => {
    const train = loadMnist('train', 14);
    const classMeans = Array.from({ length: 10 }, (_, c) => {
      const mean = new Array(196).fill(0);
      let count = 0;
      for (let i = 0; i < train.n; i++) {
        if (train.labels[i] !== c) continue;
        count++;
        for (let j = 0; j < 196; j++) mean[j] += train.images[i * 196 + j];
      }
      return mean.map((v) => v / count);
    });
    const rng = new Rng(5);
    const blobs = Array.from({ length: 10 }, () => Array.from({ length: 196 }, () => 2 * rng.uniform() - 1));
    writeFileSync(join(dir, 'digits.safetensors'), mixtureFile('class means', classMeans));
    writeFileSync(join(dir, 'blobs.safetensors'), mixtureFile('random blobs', blobs));
    const fdOf = async (file: string) => {
      const r = await runCli(['eval', '--model', file, '--n', '300', '--steps', '10'], dir);
      expect(r.code, r.stderr).toBe(0);
      const m = r.stdout.trim().match(/^FD (\d+\.\d+) \(NFE 19, n 300\)$/);
      expect(m, r.stdout).not.toBeNull();
      return Number(m![1]);
    };
    const [digits, noise] = [await fdOf('digits.safetensors'), await fdOf('blobs.safetensors')];
    console.log(`FD: class-mean mixture ${digits}, random-blob mixture ${noise}`);
    expect(digits).toBeLessThan(noise / 3);
  });

  it('warns on stderr when n is too small for a stable FD, and says how many are needed', async () => {
    expect(fdMinimumSamples(128)).toBe(500);
    expect(fdMinimumSamples(300)).toBe(600);
    expect(fdSampleWarning(499)).toBe('warning: n 499 is too few for a stable FD over 128 classifier features; use --n 500 or more');
    expect(fdSampleWarning(500)).toBeNull();
    writeFileSync(join(dir, 'one-blob.safetensors'), mixtureFile('one blob', [new Array(196).fill(0)]));
    const small = await runInProcess(['eval', '--model', 'one-blob.safetensors', '--n', '200', '--steps', '2'], dir);
    expect(small.code, small.err.join('\n')).toBe(0);
    expect(small.err).toEqual(['pid-studio eval: warning: n 200 is too few for a stable FD over 128 classifier features; use --n 500 or more']);
    expect(small.out).toHaveLength(1);
    expect(small.out[0]).toMatch(/^FD \d+\.\d+ \(NFE 3, n 200\)$/);
  });

  it('refuses models that are not digits', async () => {
    const r = await runCli(['eval', '--model', 'builtin:ring8'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ring8\.safetensors: has data of shape \[2\]; the FD score is for MNIST digits/);
  });
});
