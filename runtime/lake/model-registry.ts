import { createHash } from 'node:crypto';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { ModelArtifact, ModelPromoted, ModelRegistered } from '../../schemas/generated/types.ts';
import { Topics } from '../../schemas/topics.ts';
import type { Catalog, ModelRecord } from '../catalog/catalog.ts';
import type { ObjectStore } from './object-store.ts';
import type { Clock, LogProducer, Serde } from '../ports.ts';
import { deriveId } from '../ids.ts';
import type { PairedComparison } from '../../processors/metrics/paired-bootstrap.ts';

/** What the registry needs. */
export interface RegistryDeps {
  readonly objects: ObjectStore;
  readonly catalog: Catalog;
  readonly producer: LogProducer;
  readonly serde: Serde;
  readonly clock: Clock;
  readonly bucket: string;
  /**
   * The physical topic of a logical one (the deployment's topic namespace); identity when
   * absent. Without it a prefixed deployment's serving replicas never hear of a promotion.
   */
  readonly topicName?: (logical: string) => string;
}

/** A trained model to register. */
export interface RegisterInput {
  readonly name: string;
  /** Artifact files by name (encoder.onnx, decoder.onnx, tokenizer.json, model.json, checkpoint…). */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly format: 'captionflow-onnx' | 'hf-vision-encoder-decoder';
  readonly datasetId: string;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly parentVersion?: string | null;
  readonly trainingRunId?: string | null;
  /** The alias the new version gets (default `challenger`; imports get `candidate`). */
  readonly alias?: string;
}

const FILE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Register a model version: artifacts to `models/<name>/<version>/…` in the lake, a catalog
 * record with metrics, parameters, dataset version and checksums, alias `challenger` (or
 * `input.alias`), and a model.registered event. The version is derived from the artifacts' checksums, so registering
 * the same files twice is the same version (idempotent).
 */
export async function registerModel(deps: RegistryDeps, input: RegisterInput): Promise<ModelRecord> {
  if (input.files.size === 0) throw new PipelineError(ErrorCodes.MODEL_INVALID, 'a model needs at least one artifact');
  const entries = [...input.files.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [name] of entries) {
    if (!FILE_NAME.test(name)) throw new PipelineError(ErrorCodes.MODEL_INVALID, `artifact name ${JSON.stringify(name)} is not a plain file name`);
  }
  const digests = entries.map(([name, bytes]) => [name, createHash('sha256').update(bytes).digest('hex')] as const);
  const version = `${input.name}-${createHash('sha256').update(digests.map(([n, d]) => `${n}:${d}`).join('\n')).digest('hex').slice(0, 12)}`;
  const artifacts: ModelArtifact[] = [];
  const refs = [];
  for (const [name, bytes] of entries) {
    const put = await deps.objects.put(`models/${input.name}/${version}/${name}`, bytes, { contentType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    artifacts.push({ name, bucket: deps.bucket, key: put.key, sha256: put.sha256, size: put.size });
    refs.push({ layer: 'models' as const, bucket: deps.bucket, key: put.key, sha256: put.sha256, size: put.size, versionId: put.versionId });
  }
  const { record } = await deps.catalog.models.upsert({
    id: version,
    name: input.name,
    datasetId: input.datasetId,
    status: 'registered',
    metrics: input.metrics ?? {},
    artifacts: refs,
    params: { ...input.params, format: input.format, parentVersion: input.parentVersion ?? null, trainingRunId: input.trainingRunId ?? null },
  });
  await deps.catalog.models.setAlias(input.name, input.alias ?? 'challenger', version);
  const event: ModelRegistered = {
    eventId: deriveId('model.registered', version),
    modelName: input.name,
    modelVersion: version,
    format: input.format,
    artifacts,
    metrics: { ...input.metrics },
    datasetVersion: input.datasetId,
    trainingRunId: input.trainingRunId ?? null,
    parentVersion: input.parentVersion ?? null,
    params: { ...input.params },
    registeredAt: deps.clock.now(),
  };
  await deps.producer.send([{ topic: deps.topicName?.(Topics.modelRegistered.name) ?? Topics.modelRegistered.name, key: input.name, value: await deps.serde.encode(Topics.modelRegistered.name, event) }]);
  return record;
}

/** Download a registered model's artifacts (bytes by file name), checking their checksums. */
export async function loadArtifacts(objects: ObjectStore, model: ModelRecord): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const ref of model.artifacts) {
    const bytes = await objects.get(ref.key);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== ref.sha256) throw new PipelineError(ErrorCodes.OBJECT_CHECKSUM_MISMATCH, `artifact ${ref.key} is corrupt`, { context: { expected: ref.sha256, actual: sha } });
    out.set(ref.key.split('/').pop()!, bytes);
  }
  return out;
}

/** The promotion gate's settings. */
export interface GateOptions {
  /** The metric compared (e.g. `ciderD`). */
  readonly metric: string;
  /** The candidate must beat the champion by at least this much (absolute). */
  readonly margin: number;
  /** Paired bootstrap resamples of the per-image differences (default 2000). */
  readonly resamples?: number;
  /** Seed of the resampling (default 1): the same evaluations give the same verdict. */
  readonly seed?: number;
  /** Confidence of the interval (default 0.95). */
  readonly confidence?: number;
}

/** The gate's verdict. */
export interface PromotionDecision {
  readonly promoted: boolean;
  readonly reason: string;
  readonly champion: string | null;
  /** The paired comparison the verdict rests on, when one was given. */
  readonly paired?: PairedComparison;
}

/** `+0.1234 [−0.0100, +0.2500]`: a difference and its interval, signed. */
function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
}

/**
 * The promotion gate: `candidate` replaces the champion only if, on the same frozen test set,
 * it beats the champion's score by `margin`. With `paired` (a paired bootstrap of the per-image
 * differences, candidate − champion, on that set) the bar is the interval's lower bound: a gain
 * inside the noise of which images the split holds is not a gain, however large its mean. Either way the decision is recorded: the winner
 * gets alias `champion` (compare-and-set against the current champion, so concurrent promoters
 * cannot both win) and a model.promoted event for serving; a loser is marked rejected with the
 * reason.
 */
export async function promoteIfBetter(
  deps: RegistryDeps,
  name: string,
  candidate: { version: string; metrics: Readonly<Record<string, number>> },
  champion: { version: string; metrics: Readonly<Record<string, number>> } | null,
  gate: GateOptions,
  paired?: PairedComparison,
): Promise<PromotionDecision> {
  const cand = candidate.metrics[gate.metric];
  if (cand === undefined || !Number.isFinite(cand)) {
    throw new PipelineError(ErrorCodes.MODEL_INVALID, `candidate ${candidate.version} has no ${gate.metric} score`);
  }
  const model = await deps.catalog.models.get(candidate.version);
  if (model === null) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model version ${candidate.version} is not registered`);
  const base = champion?.metrics[gate.metric];
  const usePaired = champion !== null && paired !== undefined;
  const wins = champion === null || (usePaired ? paired.low > gate.margin : base === undefined || cand >= base + gate.margin);
  const pct = Math.round((paired?.confidence ?? 0) * 100);
  const reason =
    champion === null
      ? `first model: ${gate.metric}=${cand.toFixed(4)}`
      : usePaired
        ? `${gate.metric} ${cand.toFixed(4)} vs champion ${champion.version} ${(base ?? NaN).toFixed(4)}: paired difference ${signed(paired.meanDiff)}, ${pct}% CI [${signed(paired.low)}, ${signed(paired.high)}] over ${paired.n} images (${paired.resamples} resamples, seed ${paired.seed}); lower bound ${paired.low > gate.margin ? 'above' : 'not above'} the margin ${gate.margin}`
        : `${gate.metric} ${cand.toFixed(4)} vs champion ${champion.version} ${(base ?? NaN).toFixed(4)} (margin ${gate.margin})`;
  const evidence = usePaired ? { paired } : {};
  if (!wins) {
    await deps.catalog.models.upsert({ id: model.id, name, status: 'rejected', metrics: { ...model.metrics, ...candidate.metrics }, params: { ...model.params, rejectedReason: reason } });
    return { promoted: false, reason: `rejected: ${reason}`, champion: champion?.version ?? null, ...evidence };
  }
  await deps.catalog.models.upsert({ id: model.id, name, status: 'evaluated', metrics: { ...model.metrics, ...candidate.metrics } });
  await deps.catalog.models.setAlias(name, 'champion', candidate.version, { expected: champion?.version ?? null });
  await announcePromotion(deps, name, 'champion', model, candidate.metrics, champion, `promoted: ${reason}`);
  return { promoted: true, reason: `promoted: ${reason}`, champion: candidate.version, ...evidence };
}

async function announcePromotion(
  deps: RegistryDeps,
  name: string,
  alias: string,
  model: ModelRecord,
  metrics: Readonly<Record<string, number>>,
  previous: { version: string; metrics: Readonly<Record<string, number>> } | null,
  reason: string,
): Promise<void> {
  const event: ModelPromoted = {
    // The champion's ids stay as they were (no alias in them) so replays of old promotions dedupe.
    eventId: alias === 'champion' ? deriveId('model.promoted', name, model.id, previous?.version ?? '') : deriveId('model.promoted', name, alias, model.id, previous?.version ?? ''),
    modelName: name,
    modelVersion: model.id,
    alias,
    previousVersion: previous?.version ?? null,
    metrics: { ...metrics },
    previousMetrics: { ...previous?.metrics },
    artifacts: model.artifacts.map((a) => ({ name: a.key.split('/').pop()!, bucket: a.bucket, key: a.key, sha256: a.sha256, size: a.size })),
    datasetVersion: model.datasetId ?? '',
    reason,
    promotedAt: deps.clock.now(),
  };
  await deps.producer.send([{ topic: deps.topicName?.(Topics.modelPromoted.name) ?? Topics.modelPromoted.name, key: name, value: await deps.serde.encode(Topics.modelPromoted.name, event) }]);
}

/** The aliases an administrator moves by hand (`candidate` is set by imports only). */
export const PROMOTABLE_ALIASES = ['champion', 'challenger'] as const;

/** An alias an administrator can point at a version. */
export type PromotableAlias = (typeof PROMOTABLE_ALIASES)[number];

/**
 * An administrator's promotion: point `alias` of model `name` at `version`, with no gate
 * (compare-and-set against the alias's current version, so a concurrent promotion is not lost
 * silently), and announce it with a model.promoted event like the gated promotion does, so
 * serving replicas hot-swap. Promoting the version the alias already points to changes nothing.
 */
export async function promoteVersion(
  deps: RegistryDeps,
  name: string,
  version: string,
  alias: PromotableAlias = 'champion',
  reason = 'manual promotion',
): Promise<PromotionDecision> {
  const model = await deps.catalog.models.get(version);
  if (model === null || model.name !== name) {
    throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model ${name} has no version ${version}`, { context: { name, version } });
  }
  if (model.status === 'archived') throw new PipelineError(ErrorCodes.MODEL_INVALID, `model version ${version} is archived`, { context: { version } });
  const current = await deps.catalog.models.getAlias(name, alias);
  if (current?.version === version) return { promoted: false, reason: `${version} is already ${alias}`, champion: version };
  const previous = current === null ? null : await deps.catalog.models.get(current.version);
  await deps.catalog.models.setAlias(name, alias, version, { expected: current?.version ?? null });
  const why = `${reason}: ${alias} ${current?.version ?? '(none)'} -> ${version}`;
  await announcePromotion(deps, name, alias, model, model.metrics, previous === null ? null : { version: previous.id, metrics: previous.metrics }, why);
  return { promoted: true, reason: why, champion: version };
}

/** Point `champion` back at the version it pointed to before the last promotion. */
export function rollbackChampion(deps: RegistryDeps, name: string): Promise<PromotionDecision> {
  return rollbackAlias(deps, name, 'champion');
}

/** Point `alias` (default `champion`) back at the version it pointed to before its last change, with a model.promoted event. */
export async function rollbackAlias(deps: RegistryDeps, name: string, which: PromotableAlias = 'champion'): Promise<PromotionDecision> {
  const alias = await deps.catalog.models.getAlias(name, which);
  if (alias === null || alias.previous === null) {
    throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model ${name} has no previous ${which} to roll back to`);
  }
  const target = await deps.catalog.models.get(alias.previous);
  if (target === null) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `previous ${which} ${alias.previous} is not registered`);
  const current = await deps.catalog.models.get(alias.version);
  await deps.catalog.models.setAlias(name, which, target.id, { expected: alias.version });
  await announcePromotion(deps, name, which, target, target.metrics, current === null ? null : { version: current.id, metrics: current.metrics }, `rollback from ${alias.version}`);
  return { promoted: true, reason: `rolled back from ${alias.version} to ${target.id}`, champion: target.id };
}
