/**
 * Hostile and broken files: thousands of mutations of valid model files (truncation, header length beyond the
 * file or huge, non-JSON headers, offsets out of range or overlapping, shapes that overflow or mismatch, unknown
 * dtypes, wrong config types, NaN weights, random byte flips), and of a torch.save .pt file (zip records, the
 * pickle, the storages), and of an EDM network snapshot (.pkl: its pickle and the legacy torch.save files of its
 * storages). Every one is read as a model or refused with a ModelFileError, each within a second;
 * nothing else may be thrown.
 */
import { describe, expect, it } from 'vitest';
import { validateModel } from '../../src/core/models';
import { Rng } from '../../src/core/rng';
import { ModelFileError } from '../../src/formats/errors';
import { readModelFile } from '../../src/formats/model-file';
import { readTorchStateDict } from '../../src/formats/torch-file';
import { readAnyModel } from '../../src/core/model-import';
import {
  SNAPSHOT_ALWAYS_REFUSED, TENSOR_MUTATIONS, TORCH_ALWAYS_REFUSED, mutations, snapshotMutations, sourceFile, torchMutations, validSnapshot, validTorchFile,
} from './mutations';

describe('fuzzed model files', () => {
  it('are each read or refused with a ModelFileError within a second, never anything else', async () => {
    const rng = new Rng(2024);
    const counts: Record<string, { refused: number; accepted: number }> = {};
    let slowest = 0;
    for (const [kind, mutate] of Object.entries(mutations)) {
      counts[kind] = { refused: 0, accepted: 0 };
      for (let i = 0; i < 150; i++) {
        const bytes = mutate(sourceFile(kind, i), rng);
        const start = performance.now();
        try {
          validateModel(await readModelFile([{ name: `fuzz-${i}.safetensors`, bytes }]));
          counts[kind].accepted++;
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw new Error(`${kind} #${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
          expect(e.message).toMatch(/^fuzz-\d+\.safetensors: /);
          expect(e.message).not.toMatch(/\n/);
          counts[kind].refused++;
        }
        slowest = Math.max(slowest, performance.now() - start);
      }
    }
    console.log(`fuzz: ${JSON.stringify(counts)}; slowest case ${slowest.toFixed(1)} ms`);
    expect(slowest).toBeLessThan(1000);
    for (const kind of ['truncate', 'header length beyond the file', 'huge header length', ...TENSOR_MUTATIONS]) {
      expect(counts[kind].accepted, kind).toBe(0);
    }
  });
});

describe('fuzzed torch.save files', () => {
  it('are each read as a state dict or refused with a ModelFileError within a second, never anything else', () => {
    const rng = new Rng(1606);
    const counts: Record<string, { refused: number; accepted: number }> = {};
    let slowest = 0;
    for (const [kind, mutate] of Object.entries(torchMutations)) {
      counts[kind] = { refused: 0, accepted: 0 };
      for (let i = 0; i < 150; i++) {
        const bytes = mutate(validTorchFile, rng);
        const start = performance.now();
        try {
          readTorchStateDict(bytes, `fuzz-${i}.pt`);
          counts[kind].accepted++;
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw new Error(`${kind} #${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
          expect(e.message).toMatch(/^fuzz-\d+\.pt: /);
          expect(e.message).not.toMatch(/\n/);
          counts[kind].refused++;
        }
        slowest = Math.max(slowest, performance.now() - start);
      }
    }
    console.log(`torch fuzz: ${JSON.stringify(counts)}; slowest case ${slowest.toFixed(1)} ms`);
    expect(slowest).toBeLessThan(1000);
    for (const kind of TORCH_ALWAYS_REFUSED) expect(counts[kind].accepted, kind).toBe(0);
    for (const kind of Object.keys(torchMutations)) expect(counts[kind].refused, kind).toBeGreaterThan(0);
  });
});

describe('fuzzed EDM network snapshots', () => {
  it('are each read as a teacher or refused with a ModelFileError within a second, never anything else', async () => {
    const rng = new Rng(2022);
    const counts: Record<string, { refused: number; accepted: number }> = {};
    let slowest = 0;
    for (const [kind, mutate] of Object.entries(snapshotMutations)) {
      counts[kind] = { refused: 0, accepted: 0 };
      for (let i = 0; i < 60; i++) {
        const bytes = mutate(validSnapshot, rng);
        const start = performance.now();
        try {
          await readAnyModel([{ name: `fuzz-${i}.pkl`, bytes }]);
          counts[kind].accepted++;
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw new Error(`${kind} #${i}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
          expect(e.message).toMatch(/^fuzz-\d+\.pkl: /);
          expect(e.message).not.toMatch(/\n/);
          counts[kind].refused++;
        }
        slowest = Math.max(slowest, performance.now() - start);
      }
    }
    console.log(`pkl fuzz: ${JSON.stringify(counts)}; slowest case ${slowest.toFixed(1)} ms`);
    expect(slowest).toBeLessThan(1000);
    for (const kind of SNAPSHOT_ALWAYS_REFUSED) expect(counts[kind].accepted, kind).toBe(0);
    for (const kind of Object.keys(snapshotMutations)) expect(counts[kind].refused, kind).toBeGreaterThan(0);
  });
});
