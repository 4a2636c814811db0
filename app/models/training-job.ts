import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Catalog, ModelRecord } from '../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import { getDataset, type DatasetManifest } from '../../runtime/lake/datasets.ts';
import type { Logger } from '../../runtime/logger.ts';
import { loadArtifacts, registerModel, type RegistryDeps } from '../../runtime/lake/model-registry.ts';
import { runTrainer, type TrainerEvent } from './trainer-process.ts';
import { datasetDomainGate, DOMAIN_GATE_FILE } from './domain-gate.ts';

/** Artifacts of a checkpoint are registered with this prefix (fine-tuning downloads them back). */
const CHECKPOINT_PREFIX = 'checkpoint.';

/** What a training run needs. */
export interface TrainDeps extends RegistryDeps {
  readonly logger: Logger;
  /** A scratch directory for materialized images, manifests, checkpoints and exports. */
  readonly workDir: string;
}

/** A training request. */
export interface TrainRequest {
  readonly name: string;
  readonly datasetId: string;
  readonly config: 'tiny' | 'default';
  readonly seed?: number;
  readonly epochs?: number;
  /** Fine-tune from this registered version (its checkpoint artifacts). */
  readonly parent?: ModelRecord | null;
  /** Older dataset versions replayed into fine-tuning so the model does not forget. */
  readonly replayDatasetIds?: readonly string[];
  readonly replayLimit?: number;
  /** Train also on the augmentation variants the dataset version lists (default true). */
  readonly augmented?: boolean;
  readonly trainingRunId?: string;
  readonly onProgress?: (e: TrainerEvent) => void;
  readonly signal?: AbortSignal;
}

/**
 * Write a dataset version as the trainer's manifest, with the gold images copied to local files
 * (the trainer reads files; the lake may be S3). Images already materialized are reused. With
 * `augmented`, each train item's augmentation variants become extra train items with the same
 * captions (ids `<imageId>~aug<n>`).
 */
export async function materializeManifest(
  objects: ObjectStore,
  manifest: DatasetManifest,
  workDir: string,
  options: { augmented: boolean },
): Promise<{ file: string; items: number; augmented: number }> {
  const images = join(workDir, 'images');
  mkdirSync(images, { recursive: true });
  const local = async (key: string, sha256: string): Promise<string> => {
    const path = join(images, `${sha256}.${key.slice(key.lastIndexOf('.') + 1)}`);
    if (!existsSync(path)) writeFileSync(path, await objects.get(key));
    return path;
  };
  const items = [];
  let augmented = 0;
  for (const item of manifest.items) {
    const captions = item.captions.map((c) => c.text);
    items.push({ id: item.imageId, split: item.split, image: await local(item.key, item.sha256), captions });
    if (!options.augmented || item.split !== 'train') continue;
    for (const [n, variant] of (item.augmentations ?? []).entries()) {
      items.push({ id: `${item.imageId}~aug${n}`, split: 'train', image: await local(variant.key, variant.sha256), captions });
      augmented += 1;
    }
  }
  const file = join(workDir, `manifest-${manifest.id}${options.augmented ? '' : '-plain'}.json`);
  writeFileSync(file, JSON.stringify({ datasetVersion: manifest.id, items }));
  return { file, items: items.length, augmented };
}

async function datasetOrFail(deps: { objects: ObjectStore; catalog: Catalog }, id: string): Promise<DatasetManifest> {
  const manifest = await getDataset({ store: deps.objects, catalog: deps.catalog }, id);
  if (manifest === null) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `dataset version ${id} does not exist`);
  return manifest;
}

/**
 * Train (or fine-tune) a captioner on a dataset version — never on "whatever is there now" —
 * export it to ONNX (the trainer checks ONNX against JAX), and register the version with its
 * checkpoint so later runs can fine-tune from it.
 */
export async function trainModel(deps: TrainDeps, req: TrainRequest): Promise<{ model: ModelRecord; seconds: number; events: TrainerEvent[] }> {
  const started = Date.now();
  const run = join(deps.workDir, `run-${req.trainingRunId ?? started}`);
  mkdirSync(run, { recursive: true });
  const augmented = req.augmented ?? true;
  const manifest = await datasetOrFail(deps, req.datasetId);
  const trainerManifest = await materializeManifest(deps.objects, manifest, deps.workDir, { augmented });
  deps.logger.info({ dataset: manifest.id, items: trainerManifest.items, augmentedItems: trainerManifest.augmented }, 'trainer manifest written');
  const args = ['train', '--manifest', trainerManifest.file, '--out', join(run, 'checkpoint'), '--config', req.config, '--seed', String(req.seed ?? 0)];
  if (req.epochs !== undefined) args.push('--epochs', String(req.epochs));
  if (req.parent) {
    const parentDir = join(run, 'parent');
    mkdirSync(parentDir, { recursive: true });
    const files = await loadArtifacts(deps.objects, req.parent);
    let found = 0;
    for (const [name, bytes] of files) {
      if (!name.startsWith(CHECKPOINT_PREFIX)) continue;
      writeFileSync(join(parentDir, name.slice(CHECKPOINT_PREFIX.length)), bytes);
      found++;
    }
    if (found === 0) throw new PipelineError(ErrorCodes.MODEL_INVALID, `model ${req.parent.id} has no checkpoint to fine-tune from`);
    args.push('--init-from', parentDir);
  }
  for (const id of req.replayDatasetIds ?? []) {
    args.push('--replay-manifest', (await materializeManifest(deps.objects, await datasetOrFail(deps, id), deps.workDir, { augmented })).file);
  }
  if (req.replayLimit !== undefined) args.push('--replay-limit', String(req.replayLimit));
  const log = deps.logger.child({ job: 'train', dataset: req.datasetId });
  const events = await runTrainer(args, { logger: log, ...(req.onProgress ? { onEvent: req.onProgress } : {}), ...(req.signal ? { signal: req.signal } : {}) });
  await runTrainer(['export', '--checkpoint', join(run, 'checkpoint'), '--out', join(run, 'export')], { logger: log, ...(req.signal ? { signal: req.signal } : {}) });

  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(join(run, 'export'))) files.set(name, readFileSync(join(run, 'export', name)));
  // The domain gate is fitted with the exported graphs themselves, so serving scores exactly as fitted.
  const domain: Record<string, string> = {};
  try {
    const { gate, bytes } = await datasetDomainGate(deps.objects, files, manifest);
    files.set(DOMAIN_GATE_FILE, bytes);
    domain.domainThreshold = gate.threshold.toFixed(4);
    domain.domainPercentile = String(gate.info.percentile);
  } catch (err) {
    // A dataset without a val split cannot calibrate a gate; the model is still worth registering.
    log.warn({ err: (err as Error).message }, 'no domain gate for this model');
  }
  for (const name of readdirSync(join(run, 'checkpoint'))) files.set(`${CHECKPOINT_PREFIX}${name}`, readFileSync(join(run, 'checkpoint', name)));
  const done = events.filter((e) => e.event === 'done').pop();
  const trainMetrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(done ?? {})) if (typeof v === 'number') trainMetrics[`train_${k}`] = v;
  const model = await registerModel(deps, {
    name: req.name,
    files,
    format: 'captionflow-onnx',
    datasetId: req.datasetId,
    metrics: trainMetrics,
    params: { config: req.config, seed: String(req.seed ?? 0), ...(req.epochs === undefined ? {} : { epochs: String(req.epochs) }), replay: (req.replayDatasetIds ?? []).join(','), augmentedItems: String(trainerManifest.augmented), ...domain },
    parentVersion: req.parent?.id ?? null,
    trainingRunId: req.trainingRunId ?? null,
  });
  return { model, seconds: (Date.now() - started) / 1000, events };
}
