/**
 * The caption service: images in, per image a caption (or its own error), the model version that
 * answered and where the time went. Each image is one item of the {@link MicroBatcher}; a batch is
 * one task of the caption worker (processors/inference/caption-worker.ts) in the Piscina pool, on
 * one model version with one set of decoding options. The model comes from the {@link ModelHost}.
 */
import sharp from 'sharp';
import { ErrorCodes, PipelineError, type SerializedError, serializeError } from '../../schemas/errors.ts';
import type { WorkerPool } from '../../runtime/ports.ts';
import type { CaptionTask, CaptionTaskResult } from '../../processors/inference/caption-worker.ts';
import type { DecodeOptions } from '../../processors/inference/captioner.ts';
import type { DomainScore } from '../../processors/inference/domain-gate.ts';
import { checkImageBytes } from '../../processors/image/check-image-bytes.ts';
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.ts';
import type { ModelChoice, ModelHost } from './model-host.ts';
import type { ServedModel } from './model-source.ts';
import type { ServingMetrics } from './serving-metrics.ts';

const WORKER = new URL('../../processors/inference/caption-worker.ts', import.meta.url);

/** Settings of the caption service. */
export interface CaptionServiceOptions {
  readonly batching: Omit<MicroBatcherOptions, 'maxConcurrentBatches'> & {
    readonly maxConcurrentBatches?: number;
  };
  /** ORT intra-op threads of each session in a worker (1: parallelism comes from the workers). */
  readonly intraOpThreads: number;
  /** How long a worker keeps a superseded model version after its last use, in ms. */
  readonly graceMs: number;
  /** Largest encoded image, in bytes. */
  readonly maxImageBytes: number;
  /** Largest decoded image, in pixels (decompression bombs). */
  readonly maxPixels: number;
}

/** Timings of one image, in ms. */
export interface ImageTimings {
  readonly queueMs: number;
  /** Preprocessing of the batch the image ran in. */
  readonly preprocessMs: number;
  /** Encoder and decoding of that batch. */
  readonly inferenceMs: number;
}

/** The answer for one image. */
export type ImageCaption =
  | {
      readonly ok: true;
      readonly text: string;
      readonly score: number;
      readonly finished: boolean;
      /** How far the image is from the model's training data; absent when the version has no domain gate. */
      readonly domain?: DomainScore;
      readonly modelVersion: string;
      readonly batchSize: number;
      readonly timings: ImageTimings;
    }
  | { readonly ok: false; readonly error: SerializedError; readonly modelVersion: string };

/** What a caption request asks for. */
export interface CaptionRequest {
  readonly images: readonly Uint8Array[];
  readonly decode?: DecodeOptions;
  readonly model?: ModelChoice;
  /** Absolute `performance.now()` time after which the request fails with DEADLINE_EXCEEDED. */
  readonly deadline?: number;
}

interface Item {
  readonly image: Uint8Array;
  readonly model: ServedModel;
  readonly decode: DecodeOptions;
}

type ItemResult =
  | { ok: true; text: string; score: number; finished: boolean; domain?: DomainScore; timings: Omit<ImageTimings, 'queueMs'> }
  | { ok: false; error: SerializedError };

/** The caption service of one process. */
export class CaptionService {
  readonly batcher: MicroBatcher<Item, ItemResult>;

  constructor(
    private readonly pool: WorkerPool,
    readonly host: ModelHost,
    readonly metrics: ServingMetrics,
    private readonly options: CaptionServiceOptions,
  ) {
    this.batcher = new MicroBatcher<Item, ItemResult>(
      { maxConcurrentBatches: pool.size, ...options.batching },
      (_key, items) => this.runBatch(items),
    );
  }

  /** Caption every image; per-image problems are per-image results, QUEUE_FULL / NO_MODEL / SHUTDOWN throw. */
  async caption(request: CaptionRequest): Promise<ImageCaption[]> {
    const model = await this.host.resolve(request.model);
    const decode = request.decode ?? {};
    const key = `${model.version}\u0000${JSON.stringify(decode)}`;
    // Cheap checks first, so that a bad image never takes a place in a batch.
    const checked = request.images.map((image, index) => {
      try {
        checkImageBytes(image, {
          maxBytes: this.options.maxImageBytes,
          subject: `image #${index}`,
          context: { index },
        });
        return undefined;
      } catch (err) {
        return serializeError(PipelineError.from(err, ErrorCodes.UNSUPPORTED_FORMAT));
      }
    });
    const good = request.images.filter((_, i) => checked[i] === undefined);
    const promises = this.batcher.submitMany(
      key,
      good.map((image) => ({ image, model, decode })),
      request.deadline,
    );
    const settled = await Promise.allSettled(promises);
    let next = 0;
    return checked.map((error): ImageCaption => {
      if (error !== undefined) {
        this.metrics.image(error.code, model.version);
        return { ok: false, error, modelVersion: model.version };
      }
      const outcome = settled[next++]!;
      if (outcome.status === 'rejected') {
        const e = serializeError(PipelineError.from(outcome.reason));
        this.metrics.image(e.code, model.version);
        return { ok: false, error: e, modelVersion: model.version };
      }
      const { result, queueMs, batchSize } = outcome.value;
      if (!result.ok) {
        this.metrics.image(result.error.code, model.version);
        return { ok: false, error: result.error, modelVersion: model.version };
      }
      this.metrics.image('ok', model.version, queueMs / 1000);
      return {
        ok: true,
        text: result.text,
        score: result.score,
        finished: result.finished,
        ...(result.domain === undefined ? {} : { domain: result.domain }),
        modelVersion: model.version,
        batchSize,
        timings: { queueMs, ...result.timings },
      };
    });
  }

  /** Load `model` on the workers and caption a blank image with it (a swap's warm-up). */
  async warmUp(model: ServedModel): Promise<void> {
    const blank = new Uint8Array(
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toBuffer(),
    );
    // One task per thread, concurrently, so that (most likely) every thread loads the model now rather than on a request.
    const results = await Promise.all(
      Array.from({ length: this.pool.size }, () =>
        this.pool.run<CaptionTask, CaptionTaskResult>(WORKER, this.task(model, [blank], {})),
      ),
    );
    for (const r of results) {
      const first = r.results[0];
      if (first === undefined || !first.ok) {
        throw new PipelineError(
          ErrorCodes.MODEL_LOAD_FAILED,
          `model ${model.version} failed its warm-up caption: ${first?.ok === false ? first.error.message : 'no result'}`,
          {
            context: { version: model.version },
          },
        );
      }
    }
  }

  /** Stop taking requests; queued ones get SHUTDOWN, running batches finish. */
  close(): void {
    this.batcher.close();
  }

  private task(model: ServedModel, images: readonly Uint8Array[], decode: DecodeOptions): CaptionTask {
    return {
      modelVersion: model.version,
      bundle: model.bundle,
      images,
      decode,
      intraOpThreads: this.options.intraOpThreads,
      graceMs: this.options.graceMs,
      preprocess: { maxPixels: this.options.maxPixels },
    };
  }

  private async runBatch(items: readonly Item[]): Promise<ItemResult[]> {
    const first = items[0]!;
    const started = performance.now();
    const result = await this.pool.run<CaptionTask, CaptionTaskResult>(
      WORKER,
      this.task(
        first.model,
        items.map((i) => i.image),
        first.decode,
      ),
    );
    this.metrics.batchRan(first.model.version, items.length, (performance.now() - started) / 1000);
    const timings = { preprocessMs: result.timings.preprocessMs, inferenceMs: result.timings.inferenceMs };
    return result.results.map((r): ItemResult =>
      r.ok
        ? {
            ok: true,
            text: r.caption.text,
            score: r.caption.score,
            finished: r.caption.finished,
            ...(r.caption.domain === undefined ? {} : { domain: r.caption.domain }),
            timings,
          }
        : { ok: false, error: r.error },
    );
  }
}
