import { createHash } from 'node:crypto';

/** Fractions of the train and validation splits; the rest is test. */
export interface SplitRatios {
  readonly train: number;
  readonly val: number;
}

/**
 * Deterministic split by content hash: the same image always lands in the same split, on any
 * machine, at any time — so the frozen test split never leaks into training as the lake grows.
 */
export function splitOf(imageId: string, ratios: SplitRatios = { train: 0.8, val: 0.1 }): 'train' | 'val' | 'test' {
  const h = createHash('sha256').update(`split:${imageId}`).digest();
  const u = h.readUInt32BE(0) / 0x1_0000_0000;
  if (u < ratios.train) return 'train';
  if (u < ratios.train + ratios.val) return 'val';
  return 'test';
}
