#!/usr/bin/env node
// The `pid-studio` command line: the TypeScript sources run through tsx's loader, no build step needed.
import { register } from 'tsx/esm/api';

// A closed pipe (`pid-studio ... | head`) is not an error: the command finishes, its output goes nowhere.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
});
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
