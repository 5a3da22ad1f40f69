/** A small strict parser for `--name value` options; unknown or malformed options are usage errors. */
export class UsageError extends Error {}

export type OptionKind = 'string' | 'number' | 'integer' | 'flag';

export function parseOptions<K extends string>(argv: string[], spec: Record<K, OptionKind>, command: string): Partial<Record<K, string | number | boolean>> {
  const out: Partial<Record<K, string | number | boolean>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument '${arg}'`);
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const name = rawName as K;
    const kind = spec[name];
    if (!kind) throw new UsageError(`${command}: unknown option --${rawName} (known: ${Object.keys(spec).map((k) => `--${k}`).join(', ')})`);
    if (kind === 'flag') {
      out[name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${command}: option --${rawName} needs a value`);
    if (kind === 'string') out[name] = value;
    else {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) {
        throw new UsageError(`${command}: option --${rawName} needs ${kind === 'integer' ? 'an integer' : 'a number'} (got '${value}')`);
      }
      out[name] = n;
    }
  }
  return out;
}
