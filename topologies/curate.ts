import type { ImageCurated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { contentKey } from '../runtime/lake/object-keys.ts';
import { deriveId } from '../runtime/ids.ts';
import { topology, type Stream } from '../runtime/engine/builder.ts';
import { stateStore, type StepContext } from '../runtime/engine/topology.ts';
import { qualityGate } from '../processors/curate/quality-gate.ts';
import { splitOf } from '../processors/curate/split.ts';
import { catalogLineage, catalogRef, extendLineage, hopOf, objectRef, type LakeDeps } from './lake-services.ts';
import type { DuplicateDetector } from './duplicate-detector.ts';

/** Version of the curation rules, recorded in lineage. */
export const CURATE_VERSION = 'curate@1';

interface Judged {
  readonly n: ImageNormalized;
  readonly duplicateOf: { id: string; distance: number } | null;
  readonly gate: { passed: boolean; reasons: string[] };
}

/** The verdict of curation, the route an image takes. */
type Verdict = 'curated' | 'duplicate' | 'rejected';

/**
 * The near-duplicate index: pHash candidates confirmed by a colour signature, kept where every
 * replica of curate sees it.
 */
export const nearDuplicates = stateStore<DuplicateDetector, LakeDeps>({
  name: 'near-duplicates',
  description: 'pHash index of the images kept as originals; candidates confirmed by colour signature',
  backing: 'catalog: images (status curated, pHash)',
  open: (deps) => deps.dedup(),
});

/** Copy a silver object to gold (content-addressed: a replay rewrites nothing). */
async function copyToGold(ctx: StepContext<LakeDeps>, imageId: string, ref: ImageNormalized['modelInput']): Promise<ImageCurated['goldImage']> {
  const { objects, bucket } = ctx.deps;
  const bytes = await objects.get(ref.key);
  const name = ref.key.split('/').pop()!;
  const put = await objects.put(contentKey('gold', ref.sha256, name.slice(name.lastIndexOf('.') + 1)), bytes, {
    sha256: ref.sha256,
    ...(ref.contentType === null ? {} : { contentType: ref.contentType }),
    metadata: { 'image-id': imageId },
  });
  return objectRef('gold', bucket, put, ref.contentType);
}

/** The image.curated event of a judged image, with its gold objects when it was kept. */
function curatedEvent({ n, duplicateOf, gate }: Judged, gold: { image: ImageCurated['goldImage']; thumbnail: ImageCurated['goldThumbnail'] }, ctx: StepContext<LakeDeps>): ImageCurated {
  return {
    eventId: deriveId('curate', n.eventId),
    imageId: n.imageId,
    split: splitOf(n.imageId, ctx.deps.curate.split),
    dedup: { duplicateOf: duplicateOf?.id ?? null, nearestImageId: duplicateOf?.id ?? null, nearestHammingDistance: duplicateOf?.distance ?? null },
    qualityGate: gate,
    width: n.width,
    height: n.height,
    format: n.format,
    dHash: n.dHash,
    pHash: n.pHash,
    quality: n.quality,
    captions: n.captions,
    goldImage: gold.image,
    goldThumbnail: gold.thumbnail,
    datasetIngestedAt: ctx.clock.now(),
    processingVersion: `${n.processingVersion}+${CURATE_VERSION}`,
    lineage: extendLineage(n.lineage, hopOf(ctx, CURATE_VERSION), [gold.image, gold.thumbnail].filter((r) => r !== null)),
  };
}

/** Every verdict ends the same way: the catalog learns the image's status, then image.curated. */
function recordVerdict(s: Stream<ImageCurated, LakeDeps>): void {
  s.effect('catalog-curated', {
    target: 'catalog: captions; images (status curated | duplicate | rejected, gold ref)',
    key: (c) => c.imageId,
    write: async (c, ctx) => {
      const { catalog } = ctx.deps;
      const kept = c.goldImage !== null;
      // Captions first, then the image: an image marked curated always has its captions.
      for (const caption of c.captions) {
        await catalog.captions.upsert({
          imageId: c.imageId,
          text: caption.text,
          origin: caption.origin,
          language: caption.language,
          modelVersion: caption.modelVersion,
          source: c.lineage.source,
        });
      }
      const existing = await catalog.images.get(c.imageId);
      await catalog.images.upsert({
        id: c.imageId,
        source: c.lineage.source,
        layer: kept ? 'gold' : 'silver',
        status: kept ? 'curated' : c.dedup.duplicateOf !== null ? 'duplicate' : 'rejected',
        split: c.split,
        ...(kept ? { objects: { ...existing?.objects, gold: catalogRef(c.goldImage!) } } : {}),
        quality: c.quality.blur,
        reason: kept ? null : c.dedup.duplicateOf !== null ? `DUPLICATE_OF:${c.dedup.duplicateOf} (distance ${c.dedup.nearestHammingDistance})` : c.qualityGate.reasons.join('; '),
        // A replay keeps the first curation time, so "curated since" queries stay stable.
        curatedAt: kept ? (existing?.curatedAt ?? new Date(c.datasetIngestedAt).toISOString()) : null,
        lineage: catalogLineage(c.lineage),
      });
    },
  }).to(Topics.imageCurated, { key: (c) => c.imageId });
}

/**
 * curate: image.normalized → gold. Near-duplicate detection (pHash candidates — dHash flips
 * bits in flat regions under re-encoding, the DCT-based pHash does not — confirmed by a colour
 * signature), the quality gate with reasons, a deterministic train/val/test split by content
 * hash; images that pass are copied to gold, every image gets its catalog status (curated,
 * duplicate or rejected) and an image.curated event.
 */
export const curateTopology = topology<LakeDeps>(
  'curate',
  {
    description: 'silver → gold: near-duplicates, quality gate, deterministic split',
    errors: { retry: { attempts: 5, initialDelayMs: 200 }, otherwise: 'dead-letter' },
    // Curation judges images in order within a partition; the index check-and-add is serialized.
    run: { maxInFlight: 4, maxBatchRecords: 64 },
  },
  (b) => {
    const index = b.store(nearDuplicates);
    b.stream(Topics.imageNormalized, { group: 'captionflow-curate' })
      .map(
        'judge',
        async (n, ctx): Promise<Judged> => {
          const gate = qualityGate({ width: n.width, height: n.height, ...n.quality }, ctx.deps.curate.quality);
          // Only originals that pass the gate are indexed: a rejected image must not shadow a good copy.
          const duplicateOf = await ctx.store(index).judge({ id: n.imageId, pHash: n.pHash, silverKey: n.modelInput.key, passedGate: gate.passed });
          return { n, duplicateOf, gate };
        },
        { stores: [index] },
      )
      .branch('verdict', (j): Verdict => (j.duplicateOf !== null ? 'duplicate' : j.gate.passed ? 'curated' : 'rejected'), {
        curated: (s) =>
          s
            .effect('write-gold', {
              target: 'objects: gold/<sha256> (model input, thumbnail)',
              key: (j) => j.n.modelInput.sha256,
              write: async (j, ctx) => curatedEvent(j, { image: await copyToGold(ctx, j.n.imageId, j.n.modelInput), thumbnail: await copyToGold(ctx, j.n.imageId, j.n.thumbnail) }, ctx),
            })
            .through(recordVerdict),
        duplicate: (s) => s.map('as-duplicate', (j, ctx) => curatedEvent(j, { image: null, thumbnail: null }, ctx)).through(recordVerdict),
        rejected: (s) => s.map('as-rejected', (j, ctx) => curatedEvent(j, { image: null, thumbnail: null }, ctx)).through(recordVerdict),
      });
  },
);
