/** No import circle in src/, bench/ or scripts/ (scripts/import-cycles.ts); and the check finds one when there is. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importGraph } from '../scripts/import-cycles';

describe('import circles', () => {
  it('there are none in src/, bench/ or scripts/', () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(100);
    expect(importCycles(graph).map((c) => c.map((f) => relative(process.cwd(), f)))).toEqual([]);
  });

  it('are found through type-only, re-exported and dynamic imports', () => {
    const root = mkdtempSync(join(tmpdir(), 'pid-cycles-'));
    mkdirSync(join(root, 'src', 'b'), { recursive: true });
    writeFileSync(join(root, 'src', 'a.ts'), "import type { B } from './b/b';\nexport const a = 1;\n");
    writeFileSync(join(root, 'src', 'b', 'b.ts'), "export type B = number;\nexport { c } from '../c.ts';\n");
    writeFileSync(join(root, 'src', 'c.ts'), "export const c = () => import('./a');\n");
    writeFileSync(join(root, 'src', 'd.ts'), "import { a } from './a';\n");
    const cycles = importCycles(importGraph(root)).map((c) => c.map((f) => relative(root, f)));
    expect(cycles).toEqual([['src/a.ts', 'src/b/b.ts', 'src/c.ts']]);
  });
});
