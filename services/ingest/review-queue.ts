/**
 * The caption review queue: images whose captions are all machine-made (proposed by a teacher
 * model) and not yet rejected by a reviewer.
 *
 * The Catalog port has no query for "images whose captions are all machine", so this scans
 * `images.list` by id and joins `captions.byImages` a page at a time. A request scans at most
 * `maxScan` images; when it stops there with fewer than `limit` items, `next` still points on,
 * so a client pages until `next` is null. Cost is O(images), which is fine for the embedded
 * catalog and modest lakes; a large deployment wants an index (an `origin`-aware caption query
 * or a `needsReview` image field) in the port.
 */
import type { CaptionRecord, Catalog, ImageRecord } from '../../runtime/catalog/catalog.ts';

/** The image attribute listing caption ids a reviewer rejected. */
export const REVIEW_REJECTED_ATTRIBUTE = 'reviewRejected';

/** Images scanned per catalog page. */
const SCAN_PAGE = 200;
/** Default bound on images scanned by one queue request. */
export const DEFAULT_MAX_SCAN = 5000;

/** An image waiting for review and its pending machine captions. */
export interface ReviewQueueEntry {
  readonly image: ImageRecord;
  readonly pending: readonly CaptionRecord[];
}

/** Caption ids rejected in review (a single id written by hand is accepted too). */
export function rejectedCaptionIds(image: ImageRecord): ReadonlySet<string> {
  const value = image.attributes[REVIEW_REJECTED_ATTRIBUTE];
  if (typeof value === 'string') return new Set([value]);
  if (Array.isArray(value)) return new Set(value.filter((v): v is string => typeof v === 'string'));
  return new Set();
}

/**
 * The machine captions of `image` still waiting for a reviewer: none when any caption is
 * human-made (a person already captioned or confirmed it) or the image was refused by curation.
 */
export function pendingMachineCaptions(
  image: ImageRecord,
  captions: readonly CaptionRecord[],
): CaptionRecord[] {
  if (image.status === 'rejected' || image.status === 'duplicate') return [];
  if (captions.length === 0 || captions.some((c) => c.origin !== 'machine')) return [];
  const rejected = rejectedCaptionIds(image);
  return captions.filter((c) => !rejected.has(c.id));
}

/** One page of the review queue, ascending by image id, after the image id `after`. */
export async function reviewQueue(
  catalog: Catalog,
  options: { readonly limit: number; readonly after?: string; readonly maxScan?: number },
): Promise<{ items: ReviewQueueEntry[]; next: string | null }> {
  const maxScan = options.maxScan ?? DEFAULT_MAX_SCAN;
  const items: ReviewQueueEntry[] = [];
  let cursor = options.after;
  let scanned = 0;
  for (;;) {
    const pageSize = Math.max(1, Math.min(SCAN_PAGE, maxScan - scanned));
    const page = await catalog.images.list(
      {},
      { limit: pageSize, ...(cursor === undefined ? {} : { after: cursor }) },
    );
    const captions = await catalog.captions.byImages(page.items.map((i) => i.id));
    for (const image of page.items) {
      scanned += 1;
      const pending = pendingMachineCaptions(image, captions.get(image.id) ?? []);
      if (pending.length === 0) continue;
      items.push({ image, pending });
      if (items.length >= options.limit) return { items, next: image.id };
    }
    if (page.next === null) return { items, next: null };
    cursor = page.next;
    if (scanned >= maxScan) return { items, next: cursor };
  }
}
