/**
 * The survivor rule of near-duplicates: of images confirmed as near-duplicates of each other, the
 * one ingested earliest survives, ties broken by the smaller image id. The rule looks only at
 * facts every instance sees identically for an image (its ingest time and its id), never at the
 * order in which images happen to be judged, so one curate instance and several agree.
 *
 * An image is a duplicate as soon as ANY confirmed near neighbour (that passed the quality gate)
 * ranks before it — also a neighbour that is itself a duplicate of something earlier. That keeps
 * the rule monotonic: a new image can only demote, never revive, so no judgement has to be undone
 * in cascade. In a chain A < B < C where A ~ B and B ~ C but not A ~ C, B and C are both
 * duplicates (C of B): gold keeps fewer near-copies, never more.
 */

/** What the rule ranks an image by. */
export interface SurvivorRank {
  readonly imageId: string;
  /** ISO-8601 UTC time the image was ingested (string order is time order). */
  readonly ingestedAt: string;
}

/** Negative when `a` survives over `b`, positive when `b` survives, 0 for the same image. */
export function compareSurvivor(a: SurvivorRank, b: SurvivorRank): number {
  if (a.ingestedAt !== b.ingestedAt) return a.ingestedAt < b.ingestedAt ? -1 : 1;
  return a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0;
}

/** True when `a` ranks before `b` (would survive a near-duplicate pair with it). */
export function ranksBefore(a: SurvivorRank, b: SurvivorRank): boolean {
  return compareSurvivor(a, b) < 0;
}

/** The survivor of a set of mutual near-duplicates (undefined for an empty set). */
export function survivorOf<T extends SurvivorRank>(images: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const image of images) if (best === undefined || compareSurvivor(image, best) < 0) best = image;
  return best;
}

/**
 * Survivors of a set of judged images under the rule, given which pairs are confirmed
 * near-duplicates: every image that passed the gate and has no confirmed neighbour (that passed
 * the gate) ranking before it. The reference the store-backed judge must agree with.
 */
export function survivors<T extends SurvivorRank & { readonly passedGate: boolean }>(
  images: readonly T[],
  confirmed: (a: T, b: T) => boolean,
): T[] {
  const eligible = images.filter((i) => i.passedGate);
  return eligible
    .filter((i) => !eligible.some((o) => o.imageId !== i.imageId && ranksBefore(o, i) && confirmed(o, i)))
    .sort(compareSurvivor);
}
