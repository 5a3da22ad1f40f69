/** Numbers as the CLI and the studio print them, one format for each kind. */

/**
 * A relative error (0.088 for 8.8 %) as a percentage with one decimal: "8.8 %", "230.0 %". A value that is not
 * finite (a diverged run) prints as "NaN %" or "Infinity %", so it is never mistaken for a small error.
 */
export function formatRelative(x: number): string {
  if (!Number.isFinite(x)) return `${x} %`;
  const text = (100 * x).toFixed(1);
  return `${text === '-0.0' ? '0.0' : text} %`;
}
