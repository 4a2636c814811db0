/**
 * How a write merges into a stored record. Pure functions, shared by both catalog adapters so
 * that they agree on every replay and every interleaving. Each merge is idempotent (applying the
 * same patch twice equals applying it once), which is what lets at-least-once delivery be
 * exactly-once in effect.
 */
import type {
  CaptionRecord,
  CaptionUpsert,
  ImageRecord,
  ImageStatus,
  ImageUpsert,
  JobRunRecord,
  JobRunUpsert,
  JobStatus,
  Lineage,
  LineageHop,
  LineagePatch,
  ModelRecord,
  ModelUpsert,
  ObjectRef,
} from './catalog.ts';
import { captionId, captionIdentityText } from './caption-id.ts';

/** An ISO-8601 UTC timestamp, normalized so that string order is time order. */
export function iso(time: string | Date): string {
  return (typeof time === 'string' ? new Date(time) : time).toISOString();
}

function isoOrNull(time: string | null): string | null {
  return time === null ? null : iso(time);
}

/** `record` without its undefined members (an explicit `undefined` means "leave as is"). */
function definedOnly<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

/** Pick `patch` when defined, else `current`. */
function pick<T>(patch: T | undefined, current: T): T {
  return patch === undefined ? current : patch;
}

const STATUS_RANK: Record<ImageStatus, number> = {
  ingested: 0,
  normalized: 1,
  curated: 2,
  rejected: 2,
  duplicate: 2,
};
const LAYER_RANK = { bronze: 0, silver: 1, gold: 2 } as const;
const JOB_RANK: Record<JobStatus, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function hopKey(hop: LineageHop): string {
  return `${hop.topology}\u0000${hop.sourceTopic}\u0000${String(hop.partition).padStart(10, '0')}\u0000${hop.offset.padStart(20, '0')}`;
}

function objectKey(ref: ObjectRef): string {
  return `${ref.layer}\u0000${ref.key}`;
}

/** Merge a lineage contribution into stored lineage (see LineagePatch). */
export function mergeLineage(current: Lineage | null, patch: LineagePatch | undefined): Lineage | null {
  if (patch === undefined) return current;
  const hops = new Map<string, LineageHop>((current?.hops ?? []).map((h) => [hopKey(h), h]));
  // The first record of a hop wins: a replay may carry a later `at`, which is not a new hop.
  for (const hop of patch.hops ?? [])
    if (!hops.has(hopKey(hop))) hops.set(hopKey(hop), { ...hop, at: iso(hop.at) });
  const objects = new Map<string, ObjectRef>((current?.objects ?? []).map((o) => [objectKey(o), o]));
  for (const ref of patch.objects ?? []) objects.set(objectKey(ref), { ...ref });
  return {
    ingestEventId: patch.ingestEventId ?? current?.ingestEventId ?? '',
    // The first door's lineage source stays (a second door does not rewrite the image's history).
    source: current?.source || (patch.source ?? ''),
    hops: [...hops.entries()].sort(([a], [b]) => compare(a, b)).map(([, h]) => h),
    objects: [...objects.entries()].sort(([a], [b]) => compare(a, b)).map(([, o]) => o),
  };
}

/** The record an image upsert yields (timestamps excluded: the repository sets them). */
export function mergeImage(
  current: ImageRecord | null,
  patch: ImageUpsert,
  now: string,
): Omit<ImageRecord, 'createdAt' | 'updatedAt'> {
  const base: Omit<ImageRecord, 'createdAt' | 'updatedAt'> = current ?? {
    id: patch.id,
    source: 'unknown',
    sources: [],
    layer: 'bronze',
    status: 'ingested',
    split: null,
    objects: {},
    width: null,
    height: null,
    format: null,
    dhash: null,
    phash: null,
    quality: null,
    reason: null,
    curatedAt: null,
    lineage: null,
    attributes: {},
    integrity: null,
  };
  const status =
    patch.status !== undefined && STATUS_RANK[patch.status] >= STATUS_RANK[base.status]
      ? patch.status
      : base.status;
  const layer =
    patch.layer !== undefined && LAYER_RANK[patch.layer] >= LAYER_RANK[base.layer] ? patch.layer : base.layer;
  let curatedAt = patch.curatedAt === undefined ? base.curatedAt : isoOrNull(patch.curatedAt);
  if (status === 'curated' && curatedAt === null) curatedAt = now;
  return {
    id: base.id,
    // The first door is kept; every door is listed (an image sent twice is not re-attributed).
    source: base.source === 'unknown' ? (patch.source ?? base.source) : base.source,
    sources: patch.source === undefined || (base.sources ?? []).includes(patch.source) ? (base.sources ?? []) : [...(base.sources ?? []), patch.source].sort(),
    layer,
    status,
    split: pick(patch.split, base.split),
    objects: definedOnly({ ...base.objects, ...patch.objects }),
    width: pick(patch.width, base.width),
    height: pick(patch.height, base.height),
    format: pick(patch.format, base.format),
    dhash: pick(patch.dhash, base.dhash),
    phash: pick(patch.phash, base.phash),
    quality: pick(patch.quality, base.quality),
    reason: pick(patch.reason, base.reason),
    curatedAt,
    lineage: mergeLineage(base.lineage, patch.lineage),
    attributes: definedOnly({ ...base.attributes, ...patch.attributes }),
    integrity: base.integrity,
  };
}

/** The record a caption upsert yields. */
export function mergeCaption(
  current: CaptionRecord | null,
  patch: CaptionUpsert,
): Omit<CaptionRecord, 'createdAt' | 'updatedAt'> {
  const identity = captionIdentityText(patch.text);
  return {
    id: captionId(patch.imageId, patch.text),
    imageId: patch.imageId,
    // The first wording wins: re-imports differing only in case or spacing are the same caption.
    text: current?.text ?? patch.text,
    normalizedText: pick(patch.normalizedText, current?.normalizedText ?? identity),
    origin: current?.origin === 'human' ? 'human' : patch.origin,
    language: pick(patch.language, current?.language ?? null),
    modelVersion: pick(patch.modelVersion, current?.modelVersion ?? null),
    score: pick(patch.score, current?.score ?? null),
    source: pick(patch.source, current?.source ?? null),
    lineage: mergeLineage(current?.lineage ?? null, patch.lineage),
  };
}

/** The record a model upsert yields. */
export function mergeModel(
  current: ModelRecord | null,
  patch: ModelUpsert,
): Omit<ModelRecord, 'createdAt' | 'updatedAt'> {
  return {
    id: patch.id,
    name: current?.name ?? patch.name,
    datasetId: pick(patch.datasetId, current?.datasetId ?? null),
    status: pick(patch.status, current?.status ?? 'registered'),
    metrics: definedOnly({ ...current?.metrics, ...patch.metrics }),
    artifacts: pick(patch.artifacts, current?.artifacts ?? []),
    params: definedOnly({ ...current?.params, ...patch.params }),
    integrity: current?.integrity ?? null,
  };
}

/** The record a job-run upsert yields. */
export function mergeJobRun(
  current: JobRunRecord | null,
  patch: JobRunUpsert,
): Omit<JobRunRecord, 'createdAt' | 'updatedAt'> {
  const status =
    current === null || JOB_RANK[patch.status] >= JOB_RANK[current.status] ? patch.status : current.status;
  // A late write of an earlier state (a replayed "running") must not reopen a finished run.
  const regressed = status !== patch.status;
  return {
    id: patch.id,
    name: current?.name ?? patch.name,
    status,
    startedAt: patch.startedAt === undefined ? (current?.startedAt ?? null) : isoOrNull(patch.startedAt),
    finishedAt:
      regressed || patch.finishedAt === undefined
        ? (current?.finishedAt ?? null)
        : isoOrNull(patch.finishedAt),
    params: definedOnly({ ...current?.params, ...patch.params }),
    result: regressed ? (current?.result ?? null) : pick(patch.result, current?.result ?? null),
    error: regressed ? (current?.error ?? null) : pick(patch.error, current?.error ?? null),
    trigger: pick(patch.trigger, current?.trigger ?? null),
    triggerDetail: pick(patch.triggerDetail, current?.triggerDetail ?? null),
    holder: pick(patch.holder, current?.holder ?? null),
    attempts: Math.max(patch.attempts ?? 0, current?.attempts ?? 0),
    log: regressed || patch.log === undefined ? (current?.log ?? []) : [...patch.log],
  };
}
