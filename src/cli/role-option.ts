/** `--role teacher|student`: what a bare state dict or EDM snapshot is; a pid-studio file says its own. */
import { type ModelRole, ROLE_CHOICES } from '../core/model-import';
import { UsageError } from './args';

export function roleOption(value: unknown, command: string): ModelRole | undefined {
  if (value === undefined) return undefined;
  if (!(ROLE_CHOICES as unknown[]).includes(value)) throw new UsageError(`${command}: --role must be one of ${ROLE_CHOICES.join(', ')} (got '${String(value)}')`);
  return value as ModelRole;
}
