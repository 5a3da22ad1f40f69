/**
 * `pid-studio` on EDM network snapshots (.pkl, written by EDM's code: test/fixtures/edm-snapshots) and on
 * safetensors state dicts with EDMPrecond's "model." or DataParallel's "module." prefix.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { initParams } from '../../src/core/nets';
import { Rng } from '../../src/core/rng';
import { writeSafetensors } from '../../src/formats/safetensors';
import { tinySongUnet } from '../helpers/edm-teacher';
import { runCli } from './run-cli';

const FIXTURES = fileURLToPath(new URL('../fixtures/edm-snapshots', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pid-cli-pkl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pid-studio on EDM network snapshots', () => {
  it('inspect names the network, the preconditioning read from the snapshot (not assumed) and the EMA weights', async () => {
    copyFileSync(join(FIXTURES, 'vp-ddpmpp-cond.pkl'), join(dir, 'edm-cifar10-32x32-cond-vp.pkl'));
    const r = await runCli(['inspect', 'edm-cifar10-32x32-cond-vp.pkl'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid EDM network snapshot .*read as a teacher/);
    expect(r.stdout).toMatch(/weights {4}EMA weights \('ema'\), key prefix 'model\.' stripped/);
    expect(r.stdout).toMatch(/precond {4}vp \{"beta_d":19\.9,"beta_min":0\.1,"M":1000,"epsilon_t":0\.00001\} \(the snapshot's VPPrecond\)/);
    expect(r.stdout).not.toMatch(/assumed/);
    expect(r.stdout).toMatch(/network {4}EDM SongUNet \(DDPM\+\+\)/);
    expect(r.stdout).toMatch(/label_dim 4 \(class-conditional\)/);
  });

  it('a pickle needing any other global: exit 2, one line naming it, nothing run', async () => {
    const marker = join(dir, 'pwned');
    const command = `touch ${marker}`;
    const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
    writeFileSync(join(dir, 'evil.pkl'), new Uint8Array([0x80, 4, 0x63, ...ascii('posix\nsystem\n'), 0x8c, command.length, ...ascii(command), 0x85, 0x52, 0x2e]));
    const r = await runCli(['inspect', 'evil.pkl'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/evil\.pkl: the pickle needs the global 'posix\.system', which an EDM network snapshot never holds/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('safetensors state dicts with a prefix', () => {
  for (const prefix of ['model.', 'module.']) {
    it(`'${prefix}' keys are read as the .pt ones are, the prefix reported`, async () => {
      const net = tinySongUnet();
      const host = initParams(net, [8, 8, 3], new Rng(4));
      const name = `prefixed-${prefix.slice(0, -1)}.safetensors`;
      writeFileSync(join(dir, name), writeSafetensors(new Map([...host].map(([k, t]) => [`${prefix}${k}`, t])), {}));
      const r = await runCli(['inspect', name], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/safetensors state dict, read as a teacher/);
      expect(r.stdout).toContain(`weights    state dict, key prefix '${prefix}' stripped`);
      expect(r.stdout).toMatch(/network {4}EDM SongUNet \(DDPM\+\+\)/);
    });
  }
});
