/** A failure as the page shows it: one line, a model file's own message, a backend's error explained. */
import { explainBackendError } from '../core/backend';
import { ModelFileError } from '../formats/errors';

export function errorMessage(e: unknown): string {
  if (e instanceof ModelFileError) return e.message;
  const msg = explainBackendError(e instanceof Error ? e.message : String(e));
  return msg.replace(/\s+/g, ' ').trim() || 'unknown error';
}
