import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import type { DatasetManifest } from '../../runtime/lake/datasets.ts';
import { parseModelBundle } from '../../processors/inference/model-bundle.ts';
import { OnnxCaptioner } from '../../processors/inference/captioner.ts';
import { buildEvaluationReport, type ConceptTagger, type EvaluationReport } from '../../processors/metrics/index.ts';
import { loadArtifacts } from '../../runtime/lake/model-registry.ts';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import type { Clock } from '../../runtime/ports.ts';
import {
  EVALUATION_REPORT_FORMAT,
  saveEvaluationReport,
  type ReportPointer,
  type StoredEvaluationReport,
} from '../../runtime/lake/model-reports.ts';

/** Scores of a model on a split, and what it said. */
export interface Evaluation {
  readonly modelVersion: string;
  readonly datasetId: string;
  readonly split: string;
  readonly n: number;
  readonly metrics: Record<string, number>;
  readonly samples: readonly { imageId: string; hypothesis: string; references: readonly string[] }[];
  /** CIDEr-D of each image on this split (the paired gate compares these image by image). */
  readonly perImageCiderD: Readonly<Record<string, number>>;
  /** How the captions were decoded. */
  readonly decoding: { readonly strategy: 'greedy' | 'beam'; readonly beamSize?: number };
  /** By length, by concept, samples, worst captions (undefined when the split is empty). */
  readonly report?: EvaluationReport;
}

/** Options of {@link evaluateModel}. */
export interface EvaluateOptions {
  readonly split?: 'train' | 'val' | 'test';
  readonly batchSize?: number;
  readonly strategy?: 'greedy' | 'beam';
  readonly beamSize?: number;
  readonly filter?: (imageId: string) => boolean;
  /** Concepts the report groups by (the synthetic scenes' vocabulary, a user's attribute…). */
  readonly concepts?: ConceptTagger;
}

/** Load a registered model's ONNX captioner. */
export async function loadCaptioner(objects: ObjectStore, model: ModelRecord, threads = 1): Promise<OnnxCaptioner> {
  const files = await loadArtifacts(objects, model);
  return OnnxCaptioner.create(parseModelBundle(files), { intraOpThreads: threads });
}

/**
 * Caption every image of a dataset version's split with the model and score the captions
 * against the references: BLEU-1..4, ROUGE-L and CIDEr-D (pycocoevalcap's definitions).
 * Champion and candidate are compared on the same frozen split of the same version.
 */
export async function evaluateModel(
  objects: ObjectStore,
  model: ModelRecord,
  dataset: DatasetManifest,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const captioner = await loadCaptioner(objects, model);
  try {
    return await evaluateCaptioner(objects, captioner, model.id, dataset, options);
  } finally {
    await captioner.close();
  }
}

/**
 * {@link evaluateModel} with a captioner already loaded (an import is scored before it is
 * registered, so a model that cannot be scored is never registered). The caller closes it.
 */
export async function evaluateCaptioner(
  objects: ObjectStore,
  captioner: OnnxCaptioner,
  modelVersion: string,
  dataset: DatasetManifest,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const split = options.split ?? 'test';
  const items = dataset.items.filter((i) => i.split === split && i.captions.length > 0 && (options.filter?.(i.imageId) ?? true));
  const samples: { imageId: string; hypothesis: string; references: string[] }[] = [];
  const decoding = { strategy: options.strategy ?? 'greedy', ...(options.beamSize === undefined ? {} : { beamSize: options.beamSize }) } as const;
  const batch = options.batchSize ?? 16;
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const images = await Promise.all(chunk.map((it) => objects.get(it.key)));
    const out = await captioner.caption(images, decoding);
    chunk.forEach((it, j) => {
      const references = it.captions.map((c) => c.text);
      samples.push({ imageId: it.imageId, hypothesis: out[j]!.text, references });
    });
  }
  if (items.length === 0) return { modelVersion, datasetId: dataset.id, split, n: 0, metrics: {}, samples, perImageCiderD: {}, decoding };
  const report = buildEvaluationReport(samples, { ...(options.concepts === undefined ? {} : { concepts: options.concepts }), listSize: 20 });
  return {
    modelVersion,
    datasetId: dataset.id,
    split,
    n: items.length,
    metrics: { ...report.overall },
    samples,
    perImageCiderD: report.perImageCiderD,
    decoding,
    report,
  };
}

/**
 * Store an evaluation's report with the model version it scored (trained or imported), with the
 * learning curves and gate verdict when there are any; undefined when the split was empty.
 */
export async function saveEvaluation(
  deps: { readonly objects: ObjectStore; readonly catalog: Catalog; readonly clock: Clock },
  model: ModelRecord,
  evaluation: Evaluation,
  extra: Pick<StoredEvaluationReport, 'curves' | 'gate'>,
): Promise<ReportPointer | undefined> {
  if (evaluation.report === undefined) return undefined;
  return saveEvaluationReport(deps, model, {
    format: EVALUATION_REPORT_FORMAT,
    modelVersion: model.id,
    datasetId: evaluation.datasetId,
    split: evaluation.split,
    decoding: evaluation.decoding,
    ...evaluation.report,
    ...extra,
    createdAt: new Date(deps.clock.now()).toISOString(),
  });
}
