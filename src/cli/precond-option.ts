/** `--precond edm|vp|ve`: the preconditioning of a bare state dict, which its tensors cannot tell. */
import { PRECOND_CHOICES, type PrecondType } from '../core/model-import';
import { UsageError } from './args';

export function precondOption(value: unknown, command: string): PrecondType | undefined {
  if (value === undefined) return undefined;
  if (!(PRECOND_CHOICES as unknown[]).includes(value)) throw new UsageError(`${command}: --precond must be one of ${PRECOND_CHOICES.join(', ')} (got '${String(value)}')`);
  return value as PrecondType;
}
