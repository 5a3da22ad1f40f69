/**
 * Hostile files through the page's loader: mutated model files (test/formats/mutations.ts) dropped on the teacher
 * zone are each refused next to it within a second, naming the file, and the page keeps its teacher and still runs.
 */
import { expect, test } from '@playwright/test';
import { validateModel } from '../src/core/models';
import { Rng } from '../src/core/rng';
import { readModelFile } from '../src/formats/model-file';
import { mutations, sourceFile } from '../test/formats/mutations';
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
