import { createHash } from 'node:crypto';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { CurvePoint, EvaluationReport, PairedComparison } from '../../processors/metrics/index.ts';
import type { Catalog, ModelRecord, ObjectRef } from '../catalog/catalog.ts';
import type { ObjectStore } from './object-store.ts';

/** Format tag of a stored report; bumped when its shape changes incompatibly. */
export const EVALUATION_REPORT_FORMAT = 'captionflow.evaluation-report/v1';

/** The gate's verdict as the report records it. */
export interface ReportGate {
  readonly status: 'promoted' | 'rejected';
  readonly reason: string;
  readonly metric: string;
  readonly margin: number;
  readonly champion: string | null;
  /** Candidate − champion per-image differences, when there was a champion to compare with. */
  readonly paired?: PairedComparison;
}

/** What is stored next to a model version's artifacts. */
export interface StoredEvaluationReport extends EvaluationReport {
  readonly format: typeof EVALUATION_REPORT_FORMAT;
  readonly modelVersion: string;
  readonly datasetId: string;
  readonly split: string;
  readonly decoding: { readonly strategy: 'greedy' | 'beam'; readonly beamSize?: number };
  /** Train loss and validation metrics by epoch, as the trainer reported them. */
  readonly curves: readonly CurvePoint[];
  readonly gate?: ReportGate;
  readonly createdAt: string;
}

/** The model record's pointer to its report (`params.evaluationReport`). */
export type ReportPointer = {
  readonly key: string;
  readonly sha256: string;
  readonly size: number;
  readonly datasetId: string;
  readonly split: string;
};

/**
 * Store a model version's evaluation report in the lake beside its artifacts
 * (`models/<name>/<version>/evaluation-<dataset>-<split>.json`) and point the model record at
 * it (`params.evaluationReport`). The report is not an artifact: it does not change the
 * version, which is derived from the artifacts alone.
 */
export async function saveEvaluationReport(
  deps: { readonly objects: ObjectStore; readonly catalog: Catalog },
  model: ModelRecord,
  report: StoredEvaluationReport,
): Promise<ReportPointer> {
  const key = `models/${model.name}/${model.id}/evaluation-${report.datasetId}-${report.split}.json`;
  const put = await deps.objects.put(key, new TextEncoder().encode(`${JSON.stringify(report, null, 1)}\n`), { contentType: 'application/json' });
  const pointer: ReportPointer = { key: put.key, sha256: put.sha256, size: put.size, datasetId: report.datasetId, split: report.split };
  await deps.catalog.models.upsert({ id: model.id, name: model.name, params: { evaluationReport: { ...pointer } } });
  return pointer;
}

/**
 * The model record's report as an object reference (null when it has none), so the lake's
 * consistency check counts the report as referenced, not as an orphan beside the artifacts.
 */
export function evaluationReportRef(model: ModelRecord): ObjectRef | null {
  const pointer = reportPointerOf(model);
  if (pointer === null) return null;
  const bucket = model.artifacts[0]?.bucket ?? '';
  return { layer: 'models', bucket, key: pointer.key, sha256: pointer.sha256, size: pointer.size, versionId: null };
}

/** The model record's report pointer (`params.evaluationReport`), or null when it has none or it is incomplete. */
export function reportPointerOf(model: ModelRecord): ReportPointer | null {
  const p = model.params.evaluationReport;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return null;
  const { key, sha256, size, datasetId, split } = p as Record<string, unknown>;
  if (typeof key !== 'string' || typeof sha256 !== 'string' || typeof size !== 'number') return null;
  if (typeof datasetId !== 'string' || typeof split !== 'string') return null;
  return { key, sha256, size, datasetId, split };
}

/** The report a model record points to, checked against its checksum; null when it has none. */
export async function loadEvaluationReport(objects: ObjectStore, model: ModelRecord): Promise<StoredEvaluationReport | null> {
  const pointer = reportPointerOf(model);
  if (pointer === null) return null;
  const bytes = await objects.get(pointer.key);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== pointer.sha256) {
    throw new PipelineError(ErrorCodes.OBJECT_CHECKSUM_MISMATCH, `evaluation report ${pointer.key} is corrupt`, { context: { expected: pointer.sha256, actual: sha } });
  }
  const report = JSON.parse(new TextDecoder().decode(bytes)) as { format?: unknown };
  if (report.format !== EVALUATION_REPORT_FORMAT) {
    throw new PipelineError(ErrorCodes.MODEL_INVALID, `evaluation report ${pointer.key} has format ${JSON.stringify(report.format)}, expected ${EVALUATION_REPORT_FORMAT}`);
  }
  return report as StoredEvaluationReport;
}
