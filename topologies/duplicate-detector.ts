import type { Catalog } from '../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../runtime/lake/object-store.ts';
import { NearDuplicateIndex, type NearMatch } from '../processors/curate/near-duplicate-index.ts';
import { colourSignature, signatureDistance } from '../processors/curate/colour-signature.ts';

/** Settings of duplicate detection. */
export interface DuplicateOptions {
  /** pHash Hamming distance at or below which two images are candidates. */
  readonly radius: number;
  /** Largest colour-signature distance (0..1) at which a candidate is confirmed. */
  readonly maxColourDistance: number;
}

/**
 * Near-duplicate detection in two stages: candidates from the pHash BK-tree, confirmed by a
 * colour signature of the silver images (pHash ignores colour). Judgements run one at a time
 * so two copies processed concurrently cannot both pass as originals; only originals that
 * passed the quality gate are indexed, so a replay gets the same verdict.
 */
export class DuplicateDetector {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly signatures = new Map<string, Uint8Array>();

  constructor(
    private readonly index: NearDuplicateIndex,
    private readonly catalog: Catalog,
    private readonly objects: ObjectStore,
    private readonly options: DuplicateOptions,
  ) {}

  /** Build from every curated image in the catalog. */
  static async load(catalog: Catalog, objects: ObjectStore, options: DuplicateOptions): Promise<DuplicateDetector> {
    const index = new NearDuplicateIndex();
    let after: string | undefined;
    for (;;) {
      const page = await catalog.images.list({ status: 'curated' }, { limit: 1000, ...(after === undefined ? {} : { after }) });
      for (const img of page.items) if (img.phash !== null) index.add(img.id, img.phash);
      if (page.next === null) break;
      after = page.next;
    }
    return new DuplicateDetector(index, catalog, objects, options);
  }

  /** Images indexed as originals. */
  get size(): number {
    return this.index.size;
  }

  /** Judge an image: the original it duplicates, or null. Indexes it when it is an original that passed the gate. */
  judge(image: { id: string; pHash: string; silverKey: string; passedGate: boolean }): Promise<NearMatch | null> {
    const run = this.queue.then(() => this.judgeNow(image));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async judgeNow(image: { id: string; pHash: string; silverKey: string; passedGate: boolean }): Promise<NearMatch | null> {
    let match: NearMatch | null = null;
    const candidates = this.index.within(image.pHash, this.options.radius, image.id);
    if (candidates.length > 0) {
      const mine = await this.signature(image.id, image.silverKey);
      for (const c of candidates) {
        const other = await this.catalog.images.get(c.id);
        const key = other?.objects.silver?.key;
        if (key === undefined) continue;
        if (signatureDistance(mine, await this.signature(c.id, key)) <= this.options.maxColourDistance) {
          match = c;
          break;
        }
      }
    }
    if (match === null && image.passedGate) this.index.add(image.id, image.pHash);
    return match;
  }

  private async signature(id: string, key: string): Promise<Uint8Array> {
    let sig = this.signatures.get(id);
    if (sig === undefined) {
      sig = await colourSignature(await this.objects.get(key));
      // A bounded cache: signatures are 192 bytes; keep the most recent 50k.
      if (this.signatures.size >= 50_000) this.signatures.delete(this.signatures.keys().next().value!);
      this.signatures.set(id, sig);
    }
    return sig;
  }
}
