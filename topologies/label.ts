import { ErrorCodes, PipelineError } from '../schemas/errors.ts';
import type { CaptionGenerated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { deriveId } from '../runtime/ids.ts';
import { defineTopology, effect, filter, toTopic, topic, worker } from '../runtime/engine/topology.ts';
import type { CaptionTask, CaptionTaskResult } from '../processors/inference/caption-worker.ts';
import type { LakeServices } from './lake-services.ts';
import type { Teacher } from './teacher.ts';

/** Services of the labeling path. */
export type LabelServices = LakeServices & {
  /** The teacher captioner now (null when no model exists yet). */
  readonly teacher: () => Promise<Teacher | null>;
};

interface Proposal {
  readonly n: ImageNormalized;
  readonly teacher: string;
  readonly text: string;
  readonly score: number;
}

/**
 * label: the path of images that arrive without a caption (mobile captures, mostly). A teacher
 * captioner — the champion by default, or a pinned/imported model — proposes a caption, stored
 * as machine-made with its model version and emitted as caption.generated; a person accepts or
 * corrects it through the review API. Training includes machine captions only when the dataset
 * version says so.
 */
export const labelTopology = defineTopology<LabelServices>({
  name: 'label',
  description: 'caption-less images: a teacher model proposes machine captions for review',
  source: { topic: topic<ImageNormalized>(Topics.imageNormalized.name), group: 'captionflow-label' },
  steps: [
    filter<ImageNormalized, LabelServices>('needs-caption', (n) => n.captions.length === 0),
    worker<ImageNormalized, Proposal, LabelServices>('propose-caption', new URL('../processors/inference/caption-worker.ts', import.meta.url), {
      toTask: async (n, ctx) => {
        const teacher = await ctx.services.teacher();
        if (teacher === null) {
          // Retriable: once a model is promoted, the backlog gets labeled.
          throw new PipelineError(ErrorCodes.MODEL_LOAD_FAILED, 'no teacher model is available yet', { retriable: true });
        }
        ctx.labels.model_version = teacher.version;
        const image = await ctx.services.objects.get(n.modelInput.key);
        const task: CaptionTask = { modelVersion: teacher.version, bundle: teacher.bundle, images: [image], decode: { strategy: 'beam', beamSize: 3 } };
        return { task };
      },
      fromResult: (result, n) => {
        const r = result as CaptionTaskResult;
        const outcome = r.results[0];
        if (outcome === undefined || !outcome.ok) {
          throw new PipelineError(outcome?.error.code ?? ErrorCodes.INFERENCE_FAILED, outcome?.error.message ?? 'no caption');
        }
        return { n, teacher: r.modelVersion, text: outcome.caption.text, score: outcome.caption.score };
      },
    }),
  ],
  sinks: [
    effect<Proposal, LabelServices>('catalog-machine-caption', async (p, ctx) => {
      await ctx.services.catalog.captions.upsert({
        imageId: p.n.imageId,
        text: p.text,
        origin: 'machine',
        modelVersion: p.teacher,
        score: p.score,
        source: 'teacher',
      });
    }),
    toTopic<Proposal>(topic(Topics.captionGenerated.name), {
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
  ],
  // No teacher yet is retried for a long while (backlog waits for the first model).
  errors: { retry: { attempts: 8, initialDelayMs: 1_000, maxDelayMs: 60_000 }, otherwise: 'dead-letter' },
  run: { maxInFlight: 4, maxBatchRecords: 16 },
});
