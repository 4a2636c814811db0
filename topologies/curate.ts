import type { ImageCurated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { contentKey } from '../runtime/lake/object-keys.ts';
import { deriveId } from '../runtime/ids.ts';
import { topology, type Stream } from '../runtime/engine/builder.ts';
import { stateStore, type StepContext } from '../runtime/engine/topology.ts';
import { qualityGate, withDomainVerdict } from '../processors/curate/quality-gate.ts';
import { splitOf } from '../processors/curate/split.ts';
import {
  catalogLineage,
  catalogRef,
  extendLineage,
  hopOf,
  objectRef,
  type LakeDeps,
} from './lake-services.ts';
import type { Judged, NearDuplicates } from './near-duplicates.ts';

/** Version of the curation rules, recorded in lineage. */
export const CURATE_VERSION = 'curate@1';

/** The verdict of curation, the route an image takes. */
type Verdict = 'curated' | 'duplicate' | 'rejected';

/**
 * The near-duplicate state every replica of curate shares: a band index over the pHash of the
 * images that passed the gate, who supersedes whom, and each image's rank (topologies/near-duplicates.ts).
 */
export const nearDuplicates = stateStore<NearDuplicates, LakeDeps>({
  name: 'near-duplicates',
  description:
    'pHash band index of gated images, their survivor ranks and supersessions; candidates confirmed by colour signature',
  backing: 'catalog: near_duplicate_members, near_duplicate_bands, near_duplicate_supersessions',
  open: (deps) => deps.dedup,
});

/** Copy a silver object to gold (content-addressed: a replay rewrites nothing). */
async function copyToGold(
  ctx: StepContext<LakeDeps>,
  imageId: string,
  ref: ImageNormalized['modelInput'],
): Promise<ImageCurated['goldImage']> {
  const { objects, bucket } = ctx.deps;
  const bytes = await objects.get(ref.key);
  const name = ref.key.split('/').pop()!;
  const put = await objects.put(
    contentKey('gold', ref.sha256, name.slice(name.lastIndexOf('.') + 1)),
    bytes,
    {
      sha256: ref.sha256,
      ...(ref.contentType === null ? {} : { contentType: ref.contentType }),
      metadata: { 'image-id': imageId },
    },
  );
  return objectRef('gold', bucket, put, ref.contentType);
}

/** The image.curated event of a judged image, with its gold objects when it was kept. */
function curatedEvent(
  { n, duplicateOf, gate, demotedBy }: Judged,
  gold: { image: ImageCurated['goldImage']; thumbnail: ImageCurated['goldThumbnail'] },
  ctx: StepContext<LakeDeps>,
): ImageCurated {
  return {
    // A demotion is an event of its own (the same image, judged again by another's arrival).
    eventId:
      demotedBy === null
        ? deriveId('curate', n.eventId)
        : deriveId('curate', n.eventId, 'demoted-by', demotedBy),
    imageId: n.imageId,
    split: splitOf(n.imageId, ctx.deps.curate.split),
    dedup: {
      duplicateOf: duplicateOf?.id ?? null,
      nearestImageId: duplicateOf?.id ?? null,
      nearestHammingDistance: duplicateOf?.distance ?? null,
    },
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
    lineage: extendLineage(
      n.lineage,
      hopOf(ctx, CURATE_VERSION),
      [gold.image, gold.thumbnail].filter((r) => r !== null),
    ),
  };
}

/** Every verdict ends the same way: the catalog learns the image's status, then image.curated. */
function recordVerdict(s: Stream<ImageCurated, LakeDeps>): void {
  s.effect(
    'catalog-curated',
    {
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
            reason:
              duplicateOf !== null
                ? `DUPLICATE_OF:${duplicateOf.id} (distance ${duplicateOf.distance})`
                : kept
                  ? null
                  : c.qualityGate.reasons.join('; '),
            // A replay keeps the first curation time, so "curated since" queries stay stable.
            curatedAt:
              kept && duplicateOf === null
                ? (existing?.curatedAt ?? new Date(c.datasetIngestedAt).toISOString())
                : null,
            lineage: catalogLineage(c.lineage),
          });
        // A survivor's write guards against a demotion racing it (see NearDuplicates.writeSurvivor).
        if (kept)
          await ctx
            .store(nearDuplicates)
            .writeSurvivor(c.imageId, (s) => write(s === null ? null : { id: s.by, distance: s.distance }));
        else
          await write(
            c.dedup.duplicateOf === null
              ? null
              : { id: c.dedup.duplicateOf, distance: c.dedup.nearestHammingDistance },
          );
      },
    },
    { stores: [nearDuplicates] },
  ).to(Topics.imageCurated, { key: (c) => c.imageId });
}

/**
 * curate: image.normalized → gold. Near-duplicate detection against the shared state store
 * (pHash candidates from a band index — dHash flips bits in flat regions under re-encoding, the
 * DCT-based pHash does not — confirmed by a colour signature; the earliest ingested survives,
 * whichever replica judges first), the quality gate with reasons (OUT_OF_DOMAIN too when
 * `processing.rejectOutOfDomain` asks the champion's domain gate), a deterministic
 * train/val/test split by content hash; images that pass are copied to gold, every image gets
 * its catalog status (curated, duplicate or rejected) and an image.curated event. A judgement
 * that demotes an earlier survivor emits a second image.curated record, for the demoted image.
 */
export const curateTopology = topology<LakeDeps>(
  'curate',
  {
    description: 'silver → gold: near-duplicates, quality gate, deterministic split',
    errors: { retry: { attempts: 5, initialDelayMs: 200 }, otherwise: 'dead-letter' },
    // Judgements of distinct images may run at once: the state store's write-then-look-up makes that safe.
    run: { maxInFlight: 4, maxBatchRecords: 64 },
  },
  (b) => {
    const index = b.store(nearDuplicates);
    b.stream(Topics.imageNormalized, { group: 'captionflow-curate' })
      // Off by default (processing.rejectOutOfDomain): then no model is consulted at all.
      .map('domain-gate', async (n, ctx) => {
        const gate = ctx.deps.domainGate;
        return { n, domain: gate === undefined ? null : await gate(await ctx.deps.objects.get(n.modelInput.key)) };
      })
      // The image's own verdict, then the demotions of earlier survivors its arrival announces.
      .flatMap(
        'judge',
        ({ n, domain }, ctx) =>
          ctx
            .store(index)
            .judge(
              n,
              withDomainVerdict(
                qualityGate({ width: n.width, height: n.height, ...n.quality }, ctx.deps.curate.quality),
                domain,
              ),
            ),
        { stores: [index] },
      )
      .branch(
        'verdict',
        (j): Verdict => (j.duplicateOf !== null ? 'duplicate' : j.gate.passed ? 'curated' : 'rejected'),
        {
          curated: (s) =>
            s
              .effect('write-gold', {
                target: 'objects: gold/<sha256> (model input, thumbnail)',
                key: (j) => j.n.modelInput.sha256,
                write: async (j, ctx) =>
                  curatedEvent(
                    j,
                    {
                      image: await copyToGold(ctx, j.n.imageId, j.n.modelInput),
                      thumbnail: await copyToGold(ctx, j.n.imageId, j.n.thumbnail),
                    },
                    ctx,
                  ),
              })
              .through(recordVerdict),
          duplicate: (s) =>
            s
              .map('as-duplicate', (j, ctx) => curatedEvent(j, { image: null, thumbnail: null }, ctx))
              .through(recordVerdict),
          rejected: (s) =>
            s
              .map('as-rejected', (j, ctx) => curatedEvent(j, { image: null, thumbnail: null }, ctx))
              .through(recordVerdict),
        },
      );
  },
);
