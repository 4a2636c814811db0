/**
 * Fitting a model version's domain gate (processors/inference/domain-gate.ts): embed the train
 * split with the model's own encoder, fit, calibrate on the validation split, and store the
 * result as `domain-gate.json` among the version's artifacts, so every replica that loads the
 * version scores images the same way.
 */
import { deserializeError } from '../../schemas/errors.ts';
import type { DatasetManifest } from '../../runtime/lake/datasets.ts';
import type { WorkerPool } from '../../runtime/ports.ts';
import type { DomainVerdict } from '../../processors/curate/quality-gate.ts';
import type { DomainTask, DomainTaskResult } from '../../processors/inference/domain-worker.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import { OnnxCaptioner } from '../../processors/inference/captioner.ts';
import {
  DOMAIN_GATE_FILE,
  type DomainGate,
  type EmbeddingRows,
  fitDomainGate,
  serializeDomainGate,
} from '../../processors/inference/domain-gate.ts';
import { parseModelBundle } from '../../processors/inference/model-bundle.ts';

export { DOMAIN_GATE_FILE };

/** Reads one image's bytes. */
export type ImageLoader = () => Promise<Uint8Array>;

/** Options of {@link fitBundleDomainGate}. */
export interface FitBundleOptions {
  /** Calibration percentile of the validation scores (default 99). */
  readonly percentile?: number;
  /** Images per encoder run (default 32). */
  readonly batchSize?: number;
  /** At most this many train images are embedded (default 4000, an even sample of the split). */
  readonly maxFit?: number;
  readonly source?: string;
}

/** Every `step`-th item so that at most `max` remain (deterministic, spread over the split). */
function spread<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]!);
}

/** Embed images with a loaded captioner, `batch` at a time. */
export async function embedAll(captioner: OnnxCaptioner, images: readonly ImageLoader[], batch = 32): Promise<EmbeddingRows> {
  const parts: EmbeddingRows[] = [];
  for (let i = 0; i < images.length; i += batch) {
    const bytes = await Promise.all(images.slice(i, i + batch).map((load) => load()));
    parts.push(await captioner.embed(bytes));
  }
  const dim = parts.find((p) => p.count > 0)?.dim ?? 0;
  const count = parts.reduce((n, p) => n + p.count, 0);
  const data = new Float32Array(count * dim);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { data, count, dim };
}

/**
 * Fit and calibrate the gate of a bundle (its files by name) on train and validation images.
 * @throws PipelineError MODEL_INVALID when a split is too small to fit or calibrate.
 */
export async function fitBundleDomainGate(
  files: ReadonlyMap<string, Uint8Array>,
  images: { readonly train: readonly ImageLoader[]; readonly validation: readonly ImageLoader[] },
  options: FitBundleOptions = {},
): Promise<DomainGate> {
  const captioner = await OnnxCaptioner.create(parseModelBundle(files));
  try {
    const batch = options.batchSize ?? 32;
    const train = await embedAll(captioner, spread(images.train, options.maxFit ?? 4000), batch);
    const validation = await embedAll(captioner, images.validation, batch);
    return fitDomainGate(train, validation, {
      ...(options.percentile === undefined ? {} : { percentile: options.percentile }),
      ...(options.source === undefined ? {} : { source: options.source }),
    });
  } finally {
    await captioner.close();
  }
}

/**
 * The gate of a bundle fitted on a dataset version's train split and calibrated on its val
 * split (the test split stays untouched for evaluation), as the artifact's bytes.
 */
export async function datasetDomainGate(
  objects: Pick<ObjectStore, 'get'>,
  files: ReadonlyMap<string, Uint8Array>,
  dataset: Pick<DatasetManifest, 'id' | 'items'>,
  options: Omit<FitBundleOptions, 'source'> = {},
): Promise<{ gate: DomainGate; bytes: Uint8Array }> {
  const loaders = (split: string): ImageLoader[] =>
    dataset.items.filter((i) => i.split === split).map((i) => () => objects.get(i.key));
  const gate = await fitBundleDomainGate(
    files,
    { train: loaders('train'), validation: loaders('val') },
    { ...options, source: `dataset ${dataset.id}: fit on train, calibrated on val` },
  );
  return { gate, bytes: new TextEncoder().encode(serializeDomainGate(gate)) };
}

const DOMAIN_WORKER = new URL('../../processors/inference/domain-worker.ts', import.meta.url);

/**
 * Curation's view of the domain gate: the current model's verdict on an image, computed on the
 * worker pool (encoder only, the caption worker's model cache), or null when no model exists
 * yet or the model has no gate. An image the encoder cannot read fails the step (retried, then
 * dead-lettered) like any other curation failure.
 */
export function domainJudge(
  pool: WorkerPool,
  model: () => Promise<{ readonly version: string; readonly bundle: ReadonlyMap<string, Uint8Array> } | null>,
): (image: Uint8Array) => Promise<DomainVerdict | null> {
  return async (image) => {
    const current = await model();
    if (current === null) return null;
    const task: DomainTask = { modelVersion: current.version, bundle: current.bundle, images: [image] };
    const result = await pool.run<DomainTask, DomainTaskResult>(DOMAIN_WORKER, task);
    const outcome = result.results[0];
    if (outcome === undefined) return null;
    if (!outcome.ok) throw deserializeError(outcome.error);
    return outcome.domain === null ? null : { modelVersion: result.modelVersion, ...outcome.domain };
  };
}
