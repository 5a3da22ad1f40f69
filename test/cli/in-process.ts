/** Runs `pid-studio` in this process through main(), capturing stdout and stderr lines (no child process to start). */
import { main } from '../../src/cli/main';

export interface InProcessResult {
  code: number;
  out: string[];
  err: string[];
}

/** Runs the command with `cwd` as the working folder for its relative paths. */
export async function runInProcess(args: string[], cwd: string): Promise<InProcessResult> {
  const out: string[] = [];
  const err: string[] = [];
  const before = process.cwd();
  process.chdir(cwd);
  try {
    const code = await main(args, (l) => out.push(...l.split('\n')), (l) => err.push(...l.split('\n')));
    return { code, out, err };
  } finally {
    process.chdir(before);
  }
}
