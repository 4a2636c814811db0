import type { ImageCurated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { contentKey } from '../runtime/lake/object-keys.ts';
import { deriveId } from '../runtime/ids.ts';
import { defineTopology, effect, flatMap, map, toTopic, topic } from '../runtime/engine/topology.ts';
import { qualityGate } from '../processors/curate/quality-gate.ts';
import { splitOf } from '../processors/curate/split.ts';
import { catalogLineage, catalogRef, extendLineage, hopOf, objectRef, type LakeServices } from './lake-services.ts';
import type { Judged } from './near-duplicates.ts';

/** Version of the curation rules, recorded in lineage. */
export const CURATE_VERSION = 'curate@1';

/**
 * curate: image.normalized → gold. Near-duplicate detection against the catalog's shared state
 * store (pHash candidates from a band index — dHash flips bits in flat regions under
 * re-encoding, the DCT-based pHash does not — confirmed by a colour signature; the earliest
 * ingested survives, see near-duplicates.ts), the quality gate with reasons, a deterministic
 * train/val/test split by content hash; images that pass are copied to gold, every image gets its
 * catalog status (curated, duplicate or rejected) and an image.curated event. A judgement that
 * demotes an earlier survivor emits a second image.curated record, for the demoted image.
 */
export const curateTopology = defineTopology<LakeServices>({
  name: 'curate',
  description: 'silver → gold: near-duplicates, quality gate, deterministic split',
  source: { topic: topic<ImageNormalized>(Topics.imageNormalized.name), group: 'captionflow-curate' },
  steps: [
    flatMap<ImageNormalized, Judged, LakeServices>('judge', (n, ctx) =>
      ctx.services.dedup.judge(n, qualityGate({ width: n.width, height: n.height, ...n.quality }, ctx.services.curate.quality)),
    ),
    map<Judged, ImageCurated, LakeServices>('write-gold', async ({ n, duplicateOf, gate, demotedBy }, ctx) => {
      const { objects, bucket } = ctx.services;
      const keep = gate.passed && duplicateOf === null;
      let goldImage = null;
      let goldThumbnail = null;
      if (keep) {
        const copy = async (ref: ImageNormalized['modelInput']) => {
          const bytes = await objects.get(ref.key);
          const name = ref.key.split('/').pop()!;
          const put = await objects.put(contentKey('gold', ref.sha256, name.slice(name.lastIndexOf('.') + 1)), bytes, {
            sha256: ref.sha256,
            ...(ref.contentType === null ? {} : { contentType: ref.contentType }),
            metadata: { 'image-id': n.imageId },
          });
          return objectRef('gold', bucket, put, ref.contentType);
        };
        goldImage = await copy(n.modelInput);
        goldThumbnail = await copy(n.thumbnail);
      }
      const hop = hopOf(ctx, CURATE_VERSION);
      return {
        eventId: demotedBy === null ? deriveId('curate', n.eventId) : deriveId('curate', n.eventId, 'demoted-by', demotedBy),
        imageId: n.imageId,
        split: splitOf(n.imageId, ctx.services.curate.split),
        dedup: { duplicateOf: duplicateOf?.id ?? null, nearestImageId: duplicateOf?.id ?? null, nearestHammingDistance: duplicateOf?.distance ?? null },
        qualityGate: gate,
        width: n.width,
        height: n.height,
        format: n.format,
        dHash: n.dHash,
        pHash: n.pHash,
        quality: n.quality,
        captions: n.captions,
        goldImage,
        goldThumbnail,
        datasetIngestedAt: ctx.clock.now(),
        processingVersion: `${n.processingVersion}+${CURATE_VERSION}`,
        lineage: extendLineage(n.lineage, hop, [goldImage, goldThumbnail].filter((r) => r !== null)),
      };
    }),
  ],
  sinks: [
    effect<ImageCurated, LakeServices>('catalog-curated', async (c, ctx) => {
      const { catalog } = ctx.services;
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
      const write = (duplicateOf: { id: string; distance: number | null } | null) =>
        catalog.images.upsert({
          id: c.imageId,
          source: c.lineage.source,
          layer: kept ? 'gold' : 'silver',
          status: duplicateOf !== null ? 'duplicate' : kept ? 'curated' : 'rejected',
          split: c.split,
          // A demoted survivor keeps its gold object: datasets take curated images only, and
          // dataset versions made before the demotion still reference it.
          ...(kept ? { objects: { ...existing?.objects, gold: catalogRef(c.goldImage!) } } : {}),
          quality: c.quality.blur,
          reason: duplicateOf !== null ? `DUPLICATE_OF:${duplicateOf.id} (distance ${duplicateOf.distance})` : kept ? null : c.qualityGate.reasons.join('; '),
          // A replay keeps the first curation time, so "curated since" queries stay stable.
          curatedAt: kept && duplicateOf === null ? (existing?.curatedAt ?? new Date(c.datasetIngestedAt).toISOString()) : null,
          lineage: catalogLineage(c.lineage),
        });
      const own = c.dedup.duplicateOf === null ? null : { id: c.dedup.duplicateOf, distance: c.dedup.nearestHammingDistance };
      // A survivor's write guards against a demotion racing it (see NearDuplicates.writeSurvivor).
      if (kept) await ctx.services.dedup.writeSurvivor(c.imageId, (s) => write(s === null ? null : { id: s.by, distance: s.distance }));
      else await write(own);
    }),
    toTopic<ImageCurated>(topic(Topics.imageCurated.name), { key: (c) => c.imageId }),
  ],
  errors: { retry: { attempts: 5, initialDelayMs: 200 }, otherwise: 'dead-letter' },
  // Judgements of distinct images may run at once: the state store's write-then-look-up makes that safe.
  run: { maxInFlight: 4, maxBatchRecords: 64 },
});
