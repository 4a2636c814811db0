/**
 * Worker-thread entry for captioning: the serving side hands this module's URL to its Piscina
 * pool. Each thread keeps its loaded captioners in a module-level map keyed by model version,
 * so a model is loaded once per thread, not once per request.
 *
 * Hot reload: a task names the model version it wants. A version the thread has not loaded is
 * loaded from the task's `bundle` files (MODEL_NOT_LOADED, retriable, when the task carries
 * none: resend with the bundle). The version of the latest task is the thread's current one;
 * every other version is closed once it has been idle for `graceMs` (and has no caption in
 * flight), so requests still running on the old model finish on it, and a rollback within the
 * grace costs nothing. Since the caller cannot choose which thread runs a task, the simplest
 * contract is to attach the bundle to every task with its files backed by SharedArrayBuffers:
 * structured clone then shares them across threads instead of copying.
 *
 * Per-image problems (undecodable bytes) come back as per-image errors, so one bad upload does
 * not fail a micro-batch; a model that cannot load throws MODEL_INVALID / MODEL_LOAD_FAILED,
 * a failed run throws INFERENCE_FAILED. Results are plain data.
 */
import { ErrorCodes, PipelineError, type SerializedError, serializeError } from '../../schemas/errors.ts';
import type { BundleFiles, BundleFormat } from './bundle-types.ts';
import { type Caption, type DecodeOptions, OnnxCaptioner } from './captioner.ts';
import { parseModelBundle } from './model-bundle.ts';
import { preprocessImage, type PreprocessOptions, tensorSize } from './preprocess.ts';

/** Default time a superseded model version stays loaded after its last use. */
export const DEFAULT_GRACE_MS = 30_000;

/** One unit of work for the pool. */
export interface CaptionTask {
  /** The model version wanted (any stable id, e.g. the registry's version or a content hash). */
  readonly modelVersion: string;
  /** The bundle's files by name; needed the first time a thread sees `modelVersion`. */
  readonly bundle?: BundleFiles;
  /** Encoded images; an empty list only loads (warms) the model. */
  readonly images: readonly (Uint8Array | ArrayBuffer)[];
  readonly decode?: DecodeOptions;
  /** ORT intra-op threads of a newly loaded model; 1 by default. */
  readonly intraOpThreads?: number;
  /** How long a superseded version stays loaded after its last use; {@link DEFAULT_GRACE_MS} by default. */
  readonly graceMs?: number;
  readonly preprocess?: PreprocessOptions;
}

/** The caption of one image, or why that image could not be captioned. */
export type CaptionOutcome =
  { readonly ok: true; readonly caption: Caption } | { readonly ok: false; readonly error: SerializedError };

/** What the worker returns. */
export interface CaptionTaskResult {
  readonly modelVersion: string;
  readonly format: BundleFormat;
  readonly modelId: string | undefined;
  /** True when this task loaded the model into its thread (a cold start). */
  readonly loaded: boolean;
  /** One per task image, in order. */
  readonly results: CaptionOutcome[];
  readonly timings: { readonly loadMs: number; readonly preprocessMs: number; readonly inferenceMs: number };
}

interface Entry {
  readonly captioner: Promise<OnnxCaptioner>;
  lastUsed: number;
  active: number;
}

const models = new Map<string, Entry>();
let current: string | undefined;
let sweepTimer: NodeJS.Timeout | undefined;

/** What a task needs to name (and, the first time in a thread, bring) its model. */
export type ModelTask = Pick<CaptionTask, 'modelVersion' | 'bundle' | 'intraOpThreads' | 'graceMs' | 'images'>;

/**
 * Run `fn` on the thread's captioner of the task's model version, loading it from the task's
 * bundle the first time; the version becomes the thread's current one once it has loaded, and
 * superseded versions are swept after their grace. Shared by every worker module of this
 * folder, so a thread loads a version once whatever it is asked to do with it.
 */
export async function withCaptioner<T>(
  task: ModelTask,
  fn: (captioner: OnnxCaptioner, info: { version: string; loaded: boolean; loadMs: number }) => Promise<T>,
): Promise<T> {
  const version = validateTask(task);
  const grace = task.graceMs ?? DEFAULT_GRACE_MS;
  const started = performance.now();
  const { entry, loaded } = entryFor(task, version);
  entry.active++;
  try {
    const captioner = await entry.captioner;
    // Only a version that loaded becomes current: a broken new version must not retire the working one.
    current = version;
    return await fn(captioner, { version, loaded, loadMs: performance.now() - started });
  } finally {
    entry.active--;
    entry.lastUsed = Date.now();
    scheduleSweep(grace);
  }
}

/** Caption the images of one task (the pool calls this). */
export default async function captionTask(task: CaptionTask): Promise<CaptionTaskResult> {
  return withCaptioner(task, async (captioner, { version, loaded, loadMs }) => {
    const started = performance.now() - loadMs;
    const spec = captioner.bundle.preprocess;
    const size = tensorSize(spec);
    const prepared = await Promise.all(
      task.images.map((image) =>
        preprocessImage(
          image instanceof ArrayBuffer ? new Uint8Array(image) : image,
          spec,
          task.preprocess ?? {},
        ).then(
          (pixels) => ({ ok: true as const, pixels }),
          (err: unknown) => ({
            ok: false as const,
            error: serializeError(PipelineError.from(err, ErrorCodes.IMAGE_DECODE_FAILED)),
          }),
        ),
      ),
    );
    const good = prepared.filter((p) => p.ok);
    const batch = new Float32Array(good.length * size);
    good.forEach((p, i) => batch.set(p.pixels, i * size));
    const preprocessMs = performance.now() - started - loadMs;

    let captions: Caption[] = [];
    if (good.length > 0) {
      try {
        captions = await captioner.caption(batch, task.decode ?? {});
      } catch (err) {
        if (err instanceof PipelineError) throw err;
        throw new PipelineError(ErrorCodes.INFERENCE_FAILED, `captioning failed: ${(err as Error).message}`, {
          cause: err,
          context: { modelVersion: version },
        });
      }
    }
    const inferenceMs = performance.now() - started - loadMs - preprocessMs;
    let next = 0;
    const results = prepared.map((p): CaptionOutcome =>
      p.ok ? { ok: true, caption: captions[next++] as Caption } : p,
    );
    return {
      modelVersion: version,
      format: captioner.bundle.format,
      modelId: captioner.bundle.modelId,
      loaded,
      results,
      timings: { loadMs, preprocessMs, inferenceMs },
    };
  });
}

/** Model versions loaded (or loading) in this thread, for tests and diagnostics. */
export function loadedModelVersions(): string[] {
  return [...models.keys()];
}

/** Close every model of this thread (shutdown, tests). */
export async function closeAllModels(): Promise<void> {
  if (sweepTimer !== undefined) clearTimeout(sweepTimer);
  sweepTimer = undefined;
  const entries = [...models.values()];
  models.clear();
  current = undefined;
  await Promise.allSettled(entries.map(async (e) => (await e.captioner).close()));
}

function validateTask(task: ModelTask): string {
  const version = (task as Partial<ModelTask> | null)?.modelVersion;
  if (typeof version !== 'string' || version === '') {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, 'caption task needs a non-empty modelVersion string');
  }
  if (!Array.isArray(task.images))
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, 'caption task needs an images array');
  if (task.graceMs !== undefined && !(Number.isFinite(task.graceMs) && task.graceMs >= 0)) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `graceMs must be a number >= 0, got ${String(task.graceMs)}`,
    );
  }
  return version;
}

function entryFor(task: ModelTask, version: string): { entry: Entry; loaded: boolean } {
  const existing = models.get(version);
  if (existing !== undefined) return { entry: existing, loaded: false };
  if (task.bundle === undefined) {
    throw new PipelineError(
      ErrorCodes.MODEL_NOT_LOADED,
      `model version ${version} is not loaded in this worker; send the bundle with the task`,
      {
        retriable: true,
        context: { modelVersion: version, loaded: loadedModelVersions() },
      },
    );
  }
  const bundle = task.bundle;
  const captioner = (async () => {
    try {
      return await OnnxCaptioner.create(
        parseModelBundle(bundle),
        task.intraOpThreads === undefined ? {} : { intraOpThreads: task.intraOpThreads },
      );
    } catch (err) {
      // A bad bundle keeps its specific code (MODEL_INVALID, CONFIG_INVALID); anything else is a load failure.
      if (err instanceof PipelineError) throw err;
      throw new PipelineError(
        ErrorCodes.MODEL_LOAD_FAILED,
        `cannot load model version ${version}: ${(err as Error).message}`,
        {
          cause: err,
          context: { modelVersion: version },
        },
      );
    }
  })();
  const entry: Entry = { captioner, lastUsed: Date.now(), active: 0 };
  models.set(version, entry);
  // A failed load must not stay cached: the next task retries with its bundle.
  captioner.catch(() => {
    if (models.get(version) === entry) models.delete(version);
  });
  return { entry, loaded: true };
}

function scheduleSweep(grace: number): void {
  sweep(grace);
  if (sweepTimer !== undefined || ![...models.keys()].some((v) => v !== current)) return;
  // Unref'd: a pending sweep never keeps a thread (or a test process) alive.
  sweepTimer = setTimeout(
    () => {
      sweepTimer = undefined;
      scheduleSweep(grace);
    },
    Math.max(grace, 10),
  ).unref();
}

function sweep(grace: number): void {
  const now = Date.now();
  for (const [version, entry] of models) {
    if (version === current || entry.active > 0 || now - entry.lastUsed < grace) continue;
    models.delete(version);
    void entry.captioner.then(
      (c) => c.close(),
      () => undefined,
    );
  }
}
