import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import { getDataset, snapshotDataset } from '../../runtime/lake/datasets.ts';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { evaluateModel, type Evaluation } from './evaluate.ts';
import { promoteIfBetter, type GateOptions } from '../../runtime/lake/model-registry.ts';
import { trainModel, type TrainDeps } from './training-job.ts';
import type { TrainerEvent } from './trainer-process.ts';

/** Settings of the incremental-learning loop. */
export interface RetrainOptions {
  readonly modelName: string;
  readonly datasetName: string;
  readonly config: 'tiny' | 'default';
  readonly epochs?: number;
  readonly seed?: number;
  /** Curated items since the champion's dataset version needed to retrain (the event trigger). */
  readonly minNewItems: number;
  /** Train items of older versions replayed per fine-tuning run (undefined: all). */
  readonly replayLimit?: number;
  /** Include machine-made captions in the snapshot (recorded in the dataset version). */
  readonly includeMachineCaptions?: boolean;
  /** Train also on the dataset version's augmentation variants (default true). */
  readonly trainOnAugmentations?: boolean;
  readonly gate: GateOptions;
  /** Retrain even when fewer than `minNewItems` arrived (manual runs). */
  readonly force?: boolean;
  readonly runId?: string;
  readonly onProgress?: (e: TrainerEvent) => void;
}

/** What one pass of the loop did. */
export interface RetrainOutcome {
  readonly status: 'skipped' | 'promoted' | 'rejected';
  readonly reason: string;
  readonly datasetId?: string;
  readonly candidate?: string;
  readonly champion: string | null;
  /** The candidate and the previous champion on the new version's test split (the gate's basis). */
  readonly candidateEval?: Evaluation;
  readonly championEval?: Evaluation;
  /** Both on the previous champion's own test split: forgetting shows here. */
  readonly candidateOldEval?: Evaluation;
  readonly championOldEval?: Evaluation;
  readonly trainSeconds?: number;
}

/**
 * One pass of incremental learning, end to end: if enough new curated data arrived since the
 * champion's dataset version, snapshot a new version, fine-tune from the champion with a replay
 * of its data, evaluate candidate and champion on the same frozen test split, and promote or
 * reject through the gate. The first model trains from scratch and needs no comparison.
 */
export async function retrain(deps: TrainDeps, opts: RetrainOptions): Promise<RetrainOutcome> {
  const { catalog, objects } = deps;
  const champion: ModelRecord | null = await catalog.models.byAlias(opts.modelName, 'champion');
  const championDataset = champion?.datasetId ? await catalog.datasets.get(champion.datasetId) : null;
  if (champion !== null && opts.force !== true) {
    const since = championDataset?.watermark ?? championDataset?.createdAt ?? new Date(0).toISOString();
    const fresh = await catalog.images.countCuratedSince(since);
    if (fresh < opts.minNewItems) {
      return { status: 'skipped', reason: `${fresh} new curated items since ${since}, fewer than ${opts.minNewItems}`, champion: champion.id };
    }
  }
  const snap = await snapshotDataset(
    { store: objects, catalog },
    { name: opts.datasetName, includeMachineCaptions: opts.includeMachineCaptions ?? false, parent: champion?.datasetId ?? null },
  );
  const dataset = snap.manifest;
  const { model: candidate, seconds } = await trainModel(deps, {
    name: opts.modelName,
    datasetId: dataset.id,
    config: opts.config,
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.epochs === undefined ? {} : { epochs: opts.epochs }),
    parent: champion,
    replayDatasetIds: champion?.datasetId ? [champion.datasetId] : [],
    ...(opts.replayLimit === undefined ? {} : { replayLimit: opts.replayLimit }),
    ...(opts.trainOnAugmentations === undefined ? {} : { augmented: opts.trainOnAugmentations }),
    ...(opts.runId === undefined ? {} : { trainingRunId: opts.runId }),
    ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
  });
  const candidateEval = await evaluateModel(objects, candidate, dataset);
  if (candidateEval.n === 0) throw new PipelineError(ErrorCodes.TRAINING_FAILED, `dataset ${dataset.id} has no test items to evaluate on`);
  let championEval: Evaluation | undefined;
  let candidateOldEval: Evaluation | undefined;
  let championOldEval: Evaluation | undefined;
  if (champion !== null) {
    championEval = await evaluateModel(objects, champion, dataset);
    const old = champion.datasetId ? await getDataset({ store: objects, catalog }, champion.datasetId) : null;
    if (old !== null) {
      candidateOldEval = await evaluateModel(objects, candidate, old);
      championOldEval = await evaluateModel(objects, champion, old);
    }
  }
  const decision = await promoteIfBetter(
    deps,
    opts.modelName,
    { version: candidate.id, metrics: candidateEval.metrics },
    champion === null || championEval === undefined ? null : { version: champion.id, metrics: championEval.metrics },
    opts.gate,
  );
  return {
    status: decision.promoted ? 'promoted' : 'rejected',
    reason: decision.reason,
    datasetId: dataset.id,
    candidate: candidate.id,
    champion: decision.champion,
    candidateEval,
    ...(championEval === undefined ? {} : { championEval }),
    ...(candidateOldEval === undefined ? {} : { candidateOldEval }),
    ...(championOldEval === undefined ? {} : { championOldEval }),
    trainSeconds: seconds,
  };
}
