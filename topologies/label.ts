import { ErrorCodes, PipelineError } from '../schemas/errors.ts';
import type { CaptionGenerated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { deriveId } from '../runtime/ids.ts';
import { processor, topology } from '../runtime/engine/builder.ts';
import type { CaptionTask } from '../processors/inference/caption-worker.ts';
import type captionTask from '../processors/inference/caption-worker.ts';
import type { LakeDeps } from './lake-services.ts';
import type { Teacher } from './teacher.ts';

/** Dependencies of the labeling path. */
export type LabelDeps = LakeDeps & {
  /** The teacher captioner now (null when no model exists yet). */
  readonly teacher: () => Promise<Teacher | null>;
};

interface Proposal {
  readonly n: ImageNormalized;
  readonly teacher: string;
  readonly text: string;
  readonly score: number;
}

const captionWorker = processor<typeof captionTask>(new URL('../processors/inference/caption-worker.ts', import.meta.url));

/**
 * label: the path of images that arrive without a caption (mobile captures, mostly). A teacher
 * captioner — the champion by default, or a pinned/imported model — proposes a caption, stored
 * as machine-made with its model version and emitted as caption.generated; a person accepts or
 * corrects it through the review API. Training includes machine captions only when the dataset
 * version says so.
 */
export const labelTopology = topology<LabelDeps>(
  'label',
  {
    description: 'caption-less images: a teacher model proposes machine captions for review',
    // No teacher yet is retried for a long while (backlog waits for the first model).
    errors: { retry: { attempts: 8, initialDelayMs: 1_000, maxDelayMs: 60_000 }, otherwise: 'dead-letter' },
    run: { maxInFlight: 4, maxBatchRecords: 16 },
  },
  (b) =>
    b
      .stream(Topics.imageNormalized, { group: 'captionflow-label' })
      .filter('needs-caption', (n) => n.captions.length === 0)
      .worker('propose-caption', captionWorker, {
        toTask: async (n, ctx) => {
          const teacher = await ctx.deps.teacher();
          if (teacher === null) {
            // Retriable: once a model is promoted, the backlog gets labeled.
            throw new PipelineError(ErrorCodes.MODEL_LOAD_FAILED, 'no teacher model is available yet', { retriable: true });
          }
          ctx.labels.model_version = teacher.version;
          const image = await ctx.deps.objects.get(n.modelInput.key);
          const task: CaptionTask = { modelVersion: teacher.version, bundle: teacher.bundle, images: [image], decode: { strategy: 'beam', beamSize: 3 } };
          return { task };
        },
        fromResult: (r, n): Proposal => {
          const outcome = r.results[0];
          if (outcome === undefined || !outcome.ok) {
            throw new PipelineError(outcome?.error.code ?? ErrorCodes.INFERENCE_FAILED, outcome?.error.message ?? 'no caption');
          }
          return { n, teacher: r.modelVersion, text: outcome.caption.text, score: outcome.caption.score };
        },
      })
      .effect('catalog-machine-caption', {
        target: 'catalog: captions (origin machine, model version)',
        key: (p) => `${p.n.imageId}:${p.teacher}`,
        write: async (p, ctx) => {
          await ctx.deps.catalog.captions.upsert({ imageId: p.n.imageId, text: p.text, origin: 'machine', modelVersion: p.teacher, score: p.score, source: 'teacher' });
        },
      })
      .to(Topics.captionGenerated, {
        key: (p) => p.n.imageId,
        select: (p, ctx): CaptionGenerated => ({
          eventId: deriveId('caption.generated', p.n.eventId, p.teacher),
          requestId: null,
          imageId: p.n.imageId,
          image: p.n.modelInput,
          text: p.text,
          tokens: p.text.split(' '),
          origin: 'machine',
          modelName: 'teacher',
          modelVersion: p.teacher,
          score: p.score,
          language: null,
          generatedAt: ctx.clock.now(),
          lineage: p.n.lineage,
        }),
      }),
);
