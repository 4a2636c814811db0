/**
 * Backfill after a processing change: every image whose normalize step ran with another
 * processing version than the current one is sent through the pipeline again, by re-emitting
 * its image.ingested event (built from the catalog: the bronze object and the human captions).
 * Normalize and curate are idempotent per image, so a second run of this job (or a replay)
 * only rewrites what changed.
 */
import type { Catalog, ImageRecord } from '../../runtime/catalog/catalog.ts';
import { deriveId } from '../../runtime/ids.ts';
import type { Clock, LogProducer, Serde } from '../../runtime/ports.ts';
import type { ImageIngested, IngestSource } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';

/** What the reprocess job needs. */
export interface ReprocessDeps {
  readonly catalog: Catalog;
  readonly producer: LogProducer;
  readonly serde: Serde;
  readonly clock: Clock;
  /** Physical name of a logical topic. */
  readonly topicName: (logical: string) => string;
}

/** What a reprocess pass did. */
export interface ReprocessResult {
  readonly scanned: number;
  readonly stale: number;
  readonly emitted: number;
}

const SOURCES: ReadonlySet<string> = new Set<IngestSource>(['upload', 'mobile', 'bulk', 'external']);
const STATUSES = ['normalized', 'curated', 'rejected', 'duplicate'] as const;

/** The processing version normalize recorded last for an image (null when it never ran). */
export function processedVersion(image: ImageRecord): string | null {
  const hops = (image.lineage?.hops ?? []).filter((h) => h.topology === 'normalize');
  return hops.length === 0 ? null : hops.reduce((a, b) => (a.at >= b.at ? a : b)).processingVersion;
}

/**
 * Re-emit image.ingested for every image processed with a version other than `current`
 * (`dryRun`: count only). Stops between pages when `signal` aborts.
 */
export async function reprocessStale(
  deps: ReprocessDeps,
  options: { readonly current: string; readonly dryRun?: boolean; readonly limit?: number; readonly signal?: AbortSignal },
): Promise<ReprocessResult> {
  let scanned = 0;
  let stale = 0;
  let emitted = 0;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  for (const status of STATUSES) {
    let after: string | undefined;
    do {
      options.signal?.throwIfAborted();
      const page = await deps.catalog.images.list({ status }, { limit: 200, ...(after === undefined ? {} : { after }) });
      after = page.next ?? undefined;
      const todo = page.items.filter((img) => {
        const v = processedVersion(img);
        return v !== null && v !== options.current && img.objects.bronze !== undefined;
      });
      scanned += page.items.length;
      stale += todo.length;
      if (options.dryRun === true || todo.length === 0) continue;
      const captions = await deps.catalog.captions.byImages(todo.map((i) => i.id));
      for (const img of todo) {
        if (emitted >= limit) return { scanned, stale, emitted };
        const bronze = img.objects.bronze!;
        const eventId = deriveId('reprocess', img.id, options.current);
        const object = { layer: 'bronze' as const, bucket: bronze.bucket, key: bronze.key, sha256: bronze.sha256, size: bronze.size, contentType: null, versionId: bronze.versionId };
        const event: ImageIngested = {
          eventId,
          imageId: img.id,
          occurredAt: deps.clock.now(),
          object,
          originalFilename: null,
          captions: (captions.get(img.id) ?? []).filter((c) => c.origin === 'human').map((c) => ({ text: c.text, origin: 'human', modelVersion: null, language: c.language })),
          producer: 'captionflow-reprocess',
          externalId: null,
          importBatchId: null,
          attributes: { reprocessedFrom: processedVersion(img) ?? '' },
          lineage: { ingestEventId: img.lineage?.ingestEventId ?? eventId, source: SOURCES.has(img.source) ? (img.source as IngestSource) : 'external', hops: [], objects: [object] },
        };
        await deps.producer.send([{ topic: deps.topicName(Topics.imageIngested.name), key: img.id, value: await deps.serde.encode(Topics.imageIngested.name, event) }]);
        emitted++;
      }
    } while (after !== undefined);
  }
  return { scanned, stale, emitted };
}
