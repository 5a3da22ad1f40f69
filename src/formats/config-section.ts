/**
 * Reading one object of a config with one-line errors that name the field path ("network.channel_mult[1]"):
 * unknown keys are rejected, each field is checked by a rule. Shared by every part of the config parser.
 */
import { ModelFileError } from './errors.ts';

export type Obj = Record<string, unknown>;

/** The config's `data` section: the shape of one sample, its value range, the classes of a class-conditional model. */
export interface DataSpec { shape: number[]; range: [number, number]; label_dim?: number }

/** Reads one object of the config: unknown keys are rejected, each field is checked by a rule. */
export class Section {
  constructor(readonly file: string, readonly path: string, readonly o: Obj, known: readonly string[]) {
    for (const key of Object.keys(o)) {
      if (!known.includes(key)) this.fail(key, `is not a known field (known: ${known.join(', ')})`, undefined, 'remove it or fix its spelling');
    }
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  fail(key: string, must: string, got: unknown, fix?: string): never {
    const field = `config field "${this.at(key)}"`;
    const problem = must.startsWith('is ') ? `${field} ${must}`
      : got === undefined ? `${field} is missing; it must be ${must}` : `${field} must be ${must} (got ${preview(got)})`;
    throw new ModelFileError(this.file, problem, fix);
  }

  get<T>(key: string, test: (v: unknown) => boolean, must: string, fix?: string): T {
    const v = this.o[key];
    if (!test(v)) this.fail(key, must, v, fix);
    return v as T;
  }

  section(key: string, known: readonly string[]): Section {
    return new Section(this.file, this.at(key), this.get<Obj>(key, isObject, 'an object'), known);
  }
}

export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isPositive = (v: unknown) => isFiniteNum(v) && v > 0;
export const isPositiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
export const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
export const oneOf = (...values: string[]) => (v: unknown) => values.includes(v as string);
export const POSITIVE = 'a positive finite number';

export function preview(v: unknown): string {
  if (Array.isArray(v) && v.length > 8) return `an array of ${v.length}`;
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  if (typeof v === 'number' && !Number.isFinite(v)) s = String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

