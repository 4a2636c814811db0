import { ErrorCodes, PipelineError } from '../schemas/errors.ts';
import type { CaptionGenerated, ImageNormalized } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import { deriveId } from '../runtime/ids.ts';
import { processor, topology, type Stream } from '../runtime/engine/builder.ts';
import { stateStore, type StepContext } from '../runtime/engine/topology.ts';
import type { AwaitingModelRepository, JsonValue } from '../runtime/catalog/catalog.ts';
import type { CaptionTask } from '../processors/inference/caption-worker.ts';
import type captionTask from '../processors/inference/caption-worker.ts';
import type { LakeDeps } from './lake-services.ts';
import type { Teacher } from './teacher.ts';

/** Dependencies of the labeling path. */
export type LabelDeps = LakeDeps & {
  /** The teacher captioner now (null when no model exists yet). */
  readonly teacher: () => Promise<Teacher | null>;
};

/** A caption-less image and the teacher found for it (null: none exists yet). */
interface Found {
  readonly n: ImageNormalized;
  readonly teacher: Teacher | null;
}

/** A caption-less image with its teacher. */
interface Labeling {
  readonly n: ImageNormalized;
  readonly teacher: Teacher;
}

interface Proposal {
  readonly n: ImageNormalized;
  readonly teacher: string;
  readonly text: string;
  readonly score: number;
}

const captionWorker = processor<typeof captionTask>(
  new URL('../processors/inference/caption-worker.ts', import.meta.url),
);

/**
 * The records labeling parked while no model existed (catalog status `awaiting_model`); the
 * `label-backlog` topology resumes them when `model.promoted` arrives.
 */
export const awaitingModelStore = stateStore<AwaitingModelRepository, LabelDeps>({
  name: 'awaiting-model',
  description: 'caption-less images parked until a teacher model exists (status awaiting_model → labeled)',
  backing: 'catalog: awaiting_model',
  open: (deps) => deps.catalog.awaitingModel,
});

/** `topic/partition/offset` of the record a step works on: what a parked record is resumed by. */
function sourceOf(ctx: StepContext<LabelDeps>): string {
  return `${ctx.record.topic}/${ctx.record.partition}/${ctx.record.offset}`;
}

// Retries are for inference failures; a model that cannot load (MODEL_LOAD_FAILED, not retriable) dead-letters at once.
const LABEL_ERRORS = {
  retry: { attempts: 4, initialDelayMs: 1_000, maxDelayMs: 10_000 },
  otherwise: 'dead-letter',
} as const;
const LABEL_RUN = { maxInFlight: 4, maxBatchRecords: 16 } as const;

/**
 * Labeling itself, shared by the `label` topology (images as they arrive) and the `label-backlog`
 * topology (parked images, when a model is promoted): the teacher proposes a caption, stored as
 * machine-made with its model version, the parked record (if any) is marked labeled, and
 * caption.generated is emitted. Every write is keyed, so a replay writes nothing new and emits
 * the same event id.
 */
function labelWithTeacher(s: Stream<Labeling, LabelDeps>): void {
  s.worker('propose-caption', captionWorker, {
    toTask: async ({ n, teacher }, ctx) => {
      ctx.labels.model_version = teacher.version;
      const image = await ctx.deps.objects.get(n.modelInput.key);
      const task: CaptionTask = {
        modelVersion: teacher.version,
        bundle: teacher.bundle,
        images: [image],
        decode: { strategy: 'beam', beamSize: 3 },
      };
      return { task };
    },
    fromResult: (r, { n }): Proposal => {
      const outcome = r.results[0];
      if (outcome === undefined || !outcome.ok) {
        throw new PipelineError(
          outcome?.error.code ?? ErrorCodes.INFERENCE_FAILED,
          outcome?.error.message ?? 'no caption',
        );
      }
      return { n, teacher: r.modelVersion, text: outcome.caption.text, score: outcome.caption.score };
    },
  })
    .effect('catalog-machine-caption', {
      target: 'catalog: captions (origin machine, model version)',
      key: (p) => `${p.n.imageId}:${p.teacher}`,
      write: async (p, ctx) => {
        await ctx.deps.catalog.captions.upsert({
          imageId: p.n.imageId,
          text: p.text,
          origin: 'machine',
          modelVersion: p.teacher,
          score: p.score,
          source: 'teacher',
        });
      },
    })
    .effect(
      'mark-labeled',
      {
        target: 'catalog: awaiting_model (status labeled, by model and source record)',
        key: (p) => `${p.n.imageId}:${p.teacher}`,
        write: async (p, ctx) => {
          await ctx
            .store(awaitingModelStore)
            .resolve(p.n.imageId, { modelVersion: p.teacher, resumedBy: sourceOf(ctx) });
        },
      },
      { stores: [awaitingModelStore] },
    )
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
    });
}

/**
 * label: the path of images that arrive without a caption (mobile captures, mostly). A teacher
 * captioner — the champion by default, or a pinned/imported model — proposes a caption, stored
 * as machine-made with its model version and emitted as caption.generated; a person accepts or
 * corrects it through the review API. Training includes machine captions only when the dataset
 * version says so.
 *
 * No model yet is not an error: the image is parked (catalog `awaiting_model`) and the record
 * committed; `label-backlog` labels it when a model is promoted. Parking writes first and looks
 * for the teacher again after: a promotion that landed in between is seen then (the image is
 * labeled here), and one that lands after the second look finds the parked record — so no image
 * waits forever, whatever the interleaving.
 */
export const labelTopology = topology<LabelDeps>(
  'label',
  {
    description:
      'caption-less images: a teacher model proposes machine captions for review; with no model yet they are parked',
    errors: LABEL_ERRORS,
    run: LABEL_RUN,
  },
  (b) => {
    b.store(awaitingModelStore);
    b.stream(Topics.imageNormalized, { group: 'captionflow-label' })
      .filter('needs-caption', (n) => n.captions.length === 0)
      .map('find-teacher', async (n, ctx): Promise<Found> => ({ n, teacher: await ctx.deps.teacher() }))
      .effect(
        'park-awaiting-model',
        {
          target: 'catalog: awaiting_model (status awaiting_model), when no model exists',
          key: (f) => f.n.imageId,
          write: async (f, ctx): Promise<Found> => {
            if (f.teacher !== null) return f;
            await ctx.store(awaitingModelStore).park(f.n.imageId, f.n as unknown as JsonValue);
            // Promoted while parking: label now rather than wait for the next promotion.
            return { n: f.n, teacher: await ctx.deps.teacher() };
          },
        },
        { stores: [awaitingModelStore] },
      )
      .filter('has-teacher', (f): f is Labeling => f.teacher !== null)
      .through(labelWithTeacher);
  },
);

/**
 * label-backlog: when a model is promoted (the `model.promoted` event, not polling), the images
 * labeling parked while no model existed are labeled by the teacher now in place. The promotion
 * record is committed once all of them are labeled; a crash before that replays it, which finds
 * the still-parked images and those it had labeled already (by its source record), whose writes
 * are keyed and whose events keep their ids.
 */
export const labelBacklogTopology = topology<LabelDeps>(
  'label-backlog',
  {
    description: 'on model.promoted: images parked while no model existed get their machine captions',
    errors: LABEL_ERRORS,
    run: { maxInFlight: 1, maxBatchRecords: 1 },
  },
  (b) => {
    b.store(awaitingModelStore);
    b.stream(Topics.modelPromoted, { group: 'captionflow-label-backlog' })
      .flatMap(
        'parked-images',
        async (_promoted, ctx): Promise<Labeling[]> => {
          const teacher = await ctx.deps.teacher();
          // Promoted under another name or alias than the teacher's: nothing to resume yet.
          if (teacher === null) return [];
          const entries = await ctx.store(awaitingModelStore).toResume(sourceOf(ctx));
          return entries.map((e) => ({ n: e.event as unknown as ImageNormalized, teacher }));
        },
        { stores: [awaitingModelStore] },
      )
      .through(labelWithTeacher);
  },
);
