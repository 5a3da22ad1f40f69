/**
 * Output paths checked before a command does its work: a run into a missing folder must fail at once, not after
 * training. Nothing is written: the checks are stat and access calls.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './args';

export interface OutputPath {
  /** The option that named the path, e.g. '--log'. */
  flag: string;
  path: string;
  /** The command appends to the file (a resumed --log): the check is the same, a file that is there must be writable. */
  append?: boolean;
}

/** Why `path` cannot be written as a file, or null when it can. */
export function whyNotWritable(path: string): string | null {
  if (path === '') return 'the path is empty';
  const own = statOf(path);
  if (own?.isDirectory()) return 'it is a folder; give a file path';
  const folder = dirname(resolve(path));
  if (own) return canWrite(path) ? null : 'the file is not writable';
  const parent = statOf(folder);
  if (!parent) return `the folder ${dirname(path)} does not exist`;
  if (!parent.isDirectory()) return `${dirname(path)} is not a folder`;
  return canWrite(folder) ? null : `the folder ${dirname(path)} is not writable`;
}

/** Throws one usage line (exit 2) for the first path that cannot be written, naming its flag, the path and why. */
export function checkWritableOutputs(paths: OutputPath[], command: string): void {
  for (const { flag, path } of paths) {
    const why = whyNotWritable(path);
    if (why) throw new UsageError(`${command}: ${flag} ${path} cannot be written: ${why}`);
  }
}

function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function canWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
