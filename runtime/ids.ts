import { createHash } from 'node:crypto';

/**
 * A deterministic UUID (version-8 layout) from the given parts: replays of the same input derive
 * the same event id, so idempotent sinks keyed by it change nothing on replay.
 */
export function deriveId(...parts: readonly (string | number)[]): string {
  const h = createHash('sha256').update(parts.map(String).join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
