import { ErrorCodes, PipelineError } from '../schemas/errors.ts';
import type { Caption, ImageIngested, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { contentKey } from '../runtime/lake/object-keys.ts';
import { deriveId } from '../runtime/ids.ts';
import { processor, topology } from '../runtime/engine/builder.ts';
import type { NormalizeTaskResult } from '../processors/image/normalize-worker.ts';
import type normalizeTask from '../processors/image/normalize-worker.ts';
import type { AugmentTask } from '../processors/image/augment-worker.ts';
import type augmentTask from '../processors/image/augment-worker.ts';
import type { AugmentedVariant } from '../processors/image/augment.ts';
import { catalogLineage, catalogRef, extendLineage, extensionOf, hopOf, objectRef, type LakeDeps } from './lake-services.ts';
import { ingestedImageUpsert } from './ingest-attributes.ts';

const normalizeWorker = processor<typeof normalizeTask>(new URL('../processors/image/normalize-worker.ts', import.meta.url));
const augmentWorker = processor<typeof augmentTask>(new URL('../processors/image/augment-worker.ts', import.meta.url));

interface Normalizing {
  readonly ingested: ImageIngested;
  readonly image: NormalizeTaskResult;
}

interface Captioned extends Normalizing {
  readonly captions: Caption[];
  readonly captionsVersion: string;
}

/**
 * Bytes whose ArrayBuffer is safe to transfer to a worker thread, copied only when they must be.
 * `ObjectStore.get` hands over a fresh buffer the caller owns (fs: the file read whole, the store's
 * trailer after the object; S3: the body concatenated), so its buffer moves as it is, the view's
 * offset and length kept, the trailer's few bytes along — copying a photo of a few MB cost the main
 * thread ≈ 3.5 ms an image on a loaded 2-core machine. Small values may sit in Node's shared Buffer
 * pool slab, which must never move: those (and SharedArrayBuffers) are copied.
 */
function owned(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof ArrayBuffer && (bytes.byteLength === bytes.buffer.byteLength || bytes.buffer.byteLength > Buffer.poolSize)) return bytes;
  return new Uint8Array(bytes);
}

/**
 * normalize: image.ingested → silver. Fetches the bronze bytes, normalizes the image on the
 * worker pool (decode with limits, orient, strip metadata, sRGB, resize, encode, hashes,
 * quality), normalizes captions (NLP), writes silver objects (content-addressed, idempotent),
 * upserts the catalog and emits image.normalized. The first effect enters the image in the
 * catalog as it arrived (bronze, its lineage start and the producer's attributes): the
 * attributes are not part of image.normalized, and an image that is later dead-lettered is
 * still visible in the lake with its dead letters. Bad images and captions are dead-lettered
 * with their stable codes.
 */
export const normalizeTopology = topology<LakeDeps>(
  'normalize',
  {
    description: 'bronze → silver: image normalization on the worker pool, caption NLP',
    errors: { retry: { attempts: 5, initialDelayMs: 200 }, otherwise: 'dead-letter' },
    run: { maxInFlight: 8, maxBatchRecords: 32 },
  },
  (b) =>
    b
      .stream(Topics.imageIngested, { group: 'captionflow-normalize' })
      .effect('catalog-ingested', {
        target: 'catalog: images (layer bronze, status ingested, attributes.ingest)',
        key: (ingested) => ingested.imageId,
        write: async (ingested, ctx) => {
          await ctx.deps.catalog.images.upsert(ingestedImageUpsert(ingested));
        },
      })
      .worker('normalize-image', normalizeWorker, {
        toTask: async (ingested, ctx) => {
          const bytes = owned(await ctx.deps.objects.get(ingested.object.key));
          return { task: { bytes, options: ctx.deps.normalize }, transfer: [bytes.buffer as ArrayBuffer] };
        },
        fromResult: (image, ingested): Normalizing => ({ ingested, image }),
      })
      .map('normalize-captions', ({ ingested, image }, ctx): Captioned => {
        const normalized = ctx.deps.captions.normalizeAll(ingested.captions.map((c) => c.text));
        if (normalized.dropped.length > 0) {
          ctx.logger.info({ imageId: ingested.imageId, dropped: normalized.dropped.map((d) => ({ reason: d.reason, index: d.index })) }, 'captions dropped');
        }
        if (ingested.captions.length > 0 && normalized.captions.length === 0) {
          // Every caption the image came with was bad: the record is bad input, not a caption-less capture.
          const first = normalized.dropped[0];
          throw new PipelineError(first?.reason ?? ErrorCodes.CAPTION_EMPTY, `no usable caption: ${first?.message ?? 'empty'}`, {
            context: { imageId: ingested.imageId, dropped: normalized.dropped.length },
          });
        }
        const captions = normalized.captions.map((c) => ({ ...ingested.captions[c.index]!, text: c.text }));
        return { ingested, image, captions, captionsVersion: ctx.deps.captions.fingerprint };
      })
      .effect('write-silver', {
        target: 'objects: silver/<sha256> (model input, thumbnail)',
        key: ({ image }) => image.modelInput.sha256,
        write: async ({ ingested, image, captions, captionsVersion }, ctx): Promise<ImageNormalized> => {
          const { objects, bucket } = ctx.deps;
          const put = async (encoded: NormalizeTaskResult['modelInput'], kind: string) =>
            objectRef(
              'silver',
              bucket,
              await objects.put(contentKey('silver', encoded.sha256, extensionOf(encoded.mime)), encoded.bytes, {
                contentType: encoded.mime,
                sha256: encoded.sha256,
                metadata: { 'image-id': ingested.imageId, kind },
              }),
              encoded.mime,
            );
          const modelInput = await put(image.modelInput, 'input');
          const thumbnail = await put(image.thumbnail, 'thumb');
          const processingVersion = `${image.fingerprint}+${captionsVersion}`;
          return {
            eventId: deriveId('normalize', ingested.eventId),
            imageId: ingested.imageId,
            width: image.original.orientedWidth,
            height: image.original.orientedHeight,
            format: image.original.format,
            modelInput,
            thumbnail,
            dHash: image.perceptual.dHash,
            pHash: image.perceptual.pHash,
            quality: { blur: image.quality.blurVariance, brightness: image.quality.brightness, contrast: image.quality.contrast },
            captions,
            processingVersion,
            normalizedAt: ctx.clock.now(),
            lineage: extendLineage(ingested.lineage, hopOf(ctx, processingVersion), [modelInput, thumbnail]),
          };
        },
      })
      .effect('augment', {
        target: 'objects: silver augmentation variants; catalog: images.attributes.augmentations',
        key: (n) => n.imageId,
        write: async (n, ctx) => {
          // Optional: seeded variants of the silver image, linked to their source in the catalog.
          const { count, seed } = ctx.deps.augment;
          if (count === 0 || ctx.pool === undefined) return;
          const bytes = owned(await ctx.deps.objects.get(n.modelInput.key));
          const task: AugmentTask = { bytes, options: { seed: `${seed}:${n.imageId}`, count, encode: { format: 'webp', quality: 90 } } };
          const variants = await ctx.pool.run<AugmentTask, AugmentedVariant[]>(augmentWorker.url, task, [bytes.buffer as ArrayBuffer]);
          const refs: Record<string, string>[] = [];
          for (const v of variants) {
            const put = await ctx.deps.objects.put(contentKey('silver', v.sha256, extensionOf(v.mime)), v.bytes, {
              contentType: v.mime,
              sha256: v.sha256,
              metadata: { 'augmented-from': n.imageId, 'augment-seed': String(v.seed) },
            });
            refs.push({ key: put.key, sha256: put.sha256, seed: String(v.seed), params: JSON.stringify(v.params) });
          }
          await ctx.deps.catalog.images.upsert({ id: n.imageId, attributes: { augmentations: refs } });
        },
      })
      .effect('catalog-normalized', {
        target: 'catalog: images (layer silver, status normalized)',
        key: (n) => n.imageId,
        write: async (n, ctx) => {
          const bronze = n.lineage.objects.find((o) => o.layer === 'bronze');
          await ctx.deps.catalog.images.upsert({
            id: n.imageId,
            source: n.lineage.source,
            layer: 'silver',
            status: 'normalized',
            objects: {
              ...(bronze === undefined ? {} : { bronze: catalogRef(bronze) }),
              silver: catalogRef(n.modelInput),
            },
            width: n.width,
            height: n.height,
            format: n.format,
            dhash: n.dHash,
            phash: n.pHash,
            lineage: catalogLineage(n.lineage),
          });
        },
      })
      .to(Topics.imageNormalized, { key: (n) => n.imageId }),
);
