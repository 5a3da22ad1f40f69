/**
 * Hostile files through the page's loader: mutated model files (test/formats/mutations.ts) dropped on the teacher
 * zone are each refused next to it within a second, naming the file, and the page keeps its teacher and still runs.
 * The same for EDM network snapshots (.pkl) and legacy torch.save files: truncated, holding another global, the fuzz
 * test's snapshot mutations, each refused in one line (no stack trace); a snapshot whose module_src would write a
 * marker file if executed loads as a teacher and writes nothing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { readAnyModel } from '../src/core/model-import';
import { validateModel } from '../src/core/models';
import { Rng } from '../src/core/rng';
import { readModelFile } from '../src/formats/model-file';
import { LEGACY_MAGIC } from '../src/formats/torch-legacy';
import { mutations, snapshotMutations, sourceFile, validSnapshot } from '../test/formats/mutations';
import { dropFiles, stepOf, watchPage } from './helpers';

const PER_KIND = 3;

test('mutated model files dropped on the page are refused, each within a second, and the page still works', async ({ page, baseURL }) => {
  test.setTimeout(300_000);
  const seen = watchPage(page, baseURL!);
  await page.goto('?backend=wasm&batch=32&steps=3&evalEvery=3&heunSteps=4');
  await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
  const error = page.getByTestId('teacher-error');
  const rng = new Rng(77);
  let refused = 0;
  let slowest = 0;
  for (const [kind, mutate] of Object.entries(mutations)) {
    for (let i = 0; i < PER_KIND; i++) {
      const name = `hostile-${kind.replace(/\W+/g, '-')}-${i}.safetensors`;
      const bytes = mutate(sourceFile(kind, i), rng);
      // Only files that the library refuses are dropped: a harmless byte flip would just load a new teacher.
      const library = await readModelFile([{ name, bytes }]).then(validateModel).then(() => 'read', () => 'refused');
      if (library === 'read') continue;
      const start = Date.now();
      await dropFiles(page, 'teacher-dropzone', [{ name, bytes: [...bytes] }]);
      await expect(error).toContainText(`${name}:`, { timeout: 1000 });
      slowest = Math.max(slowest, Date.now() - start);
      refused++;
    }
  }
  console.log(`hostile drops: ${refused} refused by the page, slowest ${slowest} ms`);
  expect(refused).toBeGreaterThanOrEqual(25);
  await expect(page.getByTestId('teacher-card')).toContainText('moons');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('run-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  expect(await stepOf(page)).toBe(3);
  expect(seen.errors).toEqual([]);
});

/** Legacy torch.save files (one per storage) embedded in a snapshot, as offsets. */
function legacyStarts(b: Uint8Array): number[] {
  const found: number[] = [];
  for (let p = b.indexOf(0x80); p >= 0; p = b.indexOf(0x80, p + 1)) if (LEGACY_MAGIC.every((v, i) => b[p + i] === v)) found.push(p);
  return found;
}
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
const fromLatin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));
/** No stack frame ("at f (file.js:1:2)"), no second line: the page's refusal is one sentence. */
const ONE_LINE = /^[^\n]*$/;
const STACK_FRAME = /\bat \S+ \(|\.js:\d+:\d+|\bError: /;

test('hostile EDM snapshots and legacy torch.save files: refused in one line within a second, module_src never run', async ({ page, baseURL }) => {
  test.setTimeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'pid-e2e-pkl-'));
  try {
    const seen = watchPage(page, baseURL!);
    await page.goto('?backend=wasm&batch=2&steps=2&evalEvery=2&heunSteps=2');
    await expect(page.getByTestId('teacher-card')).toContainText('moons', { timeout: 60_000 });
    const error = page.getByTestId('teacher-error');
    const original = latin1(validSnapshot);
    const starts = legacyStarts(validSnapshot);
    const os = new Uint8Array([0x80, 4, 0x63, ...Buffer.from('os\nsystem\n'), 0x8c, 7, ...Buffer.from('touch x'), 0x85, 0x52, 0x2e]);
    const named: { name: string; bytes: Uint8Array; says?: RegExp }[] = [
      { name: 'truncated.pkl', bytes: validSnapshot.slice(0, validSnapshot.length >> 1), says: /^truncated\.pkl: the pickle/ },
      { name: 'truncated-early.pkl', bytes: validSnapshot.slice(0, 5000) },
      {
        // the ModuleDict's global renamed (same length, so every other byte stays where it was)
        name: 'other-global.pkl', bytes: fromLatin1(original.replace('ModuleDict', 'ModuleList')),
        says: /^other-global\.pkl: the pickle needs the global 'torch\.nn\.modules\.container\.ModuleList', which an EDM network snapshot never holds/,
      },
      { name: 'os-system.pkl', bytes: os, says: /^os-system\.pkl: .*the global 'os\.system'/ },
      // one storage's legacy torch.save file cut out of the snapshot, whole (with the pickle after it) and truncated
      { name: 'legacy-storage.pt', bytes: validSnapshot.slice(starts[0], starts[1]), says: /^legacy-storage\.pt: the legacy torch\.save file/ },
      { name: 'legacy-truncated.pt', bytes: validSnapshot.slice(starts[0], starts[0] + 100), says: /^legacy-truncated\.pt: the legacy torch\.save file/ },
    ];
    // ... and the fuzz test's snapshot mutations (test/formats/mutations.ts) that the library refuses
    const rng = new Rng(19);
    for (const [kind, mutate] of Object.entries(snapshotMutations)) {
      for (let i = 0; i < PER_KIND; i++) {
        const name = `hostile-${kind.replace(/\W+/g, '-')}-${i}.pkl`;
        const bytes = mutate(validSnapshot, rng);
        if (await readAnyModel([{ name, bytes }]).then(() => false, () => true)) named.push({ name, bytes });
      }
    }
    let slowest = 0;
    const zone = page.getByTestId('teacher-dropzone');
    for (const { name, bytes, says } of named) {
      // the File made in the page first (a quarter megabyte sent as JSON takes a while), then the drop is timed
      const dataTransfer = await page.evaluateHandle(({ n, b }) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(b)], n));
        return dt;
      }, { n: name, b: [...bytes] });
      const start = Date.now();
      await zone.dispatchEvent('dragover', { dataTransfer });
      await zone.dispatchEvent('drop', { dataTransfer });
      await expect(error).toContainText(`${name}:`, { timeout: 1000 });
      slowest = Math.max(slowest, Date.now() - start);
      const text = await error.innerText();
      expect(text, name).toMatch(ONE_LINE);
      expect(text, name).not.toMatch(STACK_FRAME);
      expect(text, name).toContain('Fix:');
      if (says) expect(text).toMatch(says);
    }
    console.log(`hostile .pkl/.pt drops: ${named.length} refused by the page, slowest ${slowest} ms from the drop to its refusal`);
    expect(named.length).toBeGreaterThanOrEqual(10);
    await expect(page.getByTestId('teacher-card')).toContainText('moons');

    // module_src (EDM's source text, which pickle.load would exec) made a program that writes a marker file
    const marker = join(dir, 'MARKER');
    const placeholder = /module_src: [^\x00-\x1f]*?\.{10,}/.exec(original)![0];
    const program = `import pathlib; pathlib.Path(${JSON.stringify(marker)}).write_text('ran') #`;
    expect(program.length).toBeLessThan(placeholder.length);
    const hostile = fromLatin1(original.split(placeholder).join(program.padEnd(placeholder.length, ' ')));
    expect(latin1(hostile)).toContain(program);
    await dropFiles(page, 'teacher-dropzone', [{ name: 'module-src.pkl', bytes: [...hostile] }]);
    // validSnapshot is edm-adm-cond.pkl: a class-conditional DhariwalUNet under EDMPrecond
    await expect(page.getByTestId('teacher-architecture')).toHaveText('EDM DhariwalUNet (ADM)', { timeout: 120_000 });
    await expect(page.getByTestId('teacher-card')).toContainText('module-src.pkl');
    await expect(page.getByTestId('teacher-card')).toContainText('EDM (EDMPrecond, σ_data 0.5)');
    await expect(error).toHaveCount(0);
    expect(existsSync(marker)).toBe(false);
    expect(seen.errors).toEqual([]);
    expect(seen.foreign).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
