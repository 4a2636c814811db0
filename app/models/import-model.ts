/**
 * Import a user-supplied captioner in the common Hugging Face ONNX encoder/decoder layout
 * (optimum's `--task image-to-text` export): check the folder, load both graphs, score the
 * model on a frozen test split exactly as trained versions are scored, and only then register
 * it (artifacts copied into the lake, a model.registered event) with the alias `candidate`.
 * Nothing is registered when any step before that fails, so a bad folder leaves no trace.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import { getDataset, type DatasetManifest } from '../../runtime/lake/datasets.ts';
import { registerModel, type RegistryDeps } from '../../runtime/lake/model-registry.ts';
import type { ReportPointer } from '../../runtime/lake/model-reports.ts';
import { parseHfBundle } from '../../processors/inference/hf-bundle.ts';
import { BundleFileSet } from '../../processors/inference/bundle-types.ts';
import { OnnxCaptioner } from '../../processors/inference/captioner.ts';
import { evaluateCaptioner, saveEvaluation, type Evaluation } from './evaluate.ts';
import { DEFAULT_EVAL_DECODING, SCENE_CONCEPTS } from './retrain.ts';

/** The alias an imported version gets: never champion until an administrator promotes it. */
export const IMPORT_ALIAS = 'candidate';

/** The layout an import needs: each entry is one file, or alternatives of which one is enough. */
export const IMPORT_LAYOUT: readonly (readonly string[])[] = [
  ['encoder_model.onnx'],
  ['decoder_model_merged.onnx', 'decoder_model.onnx'],
  ['tokenizer.json'],
  ['preprocessor_config.json'],
  ['generation_config.json'],
];

/** Files of the layout copied when present (the tokenizer and model configs transformers reads beside the required ones). */
const OPTIONAL_FILES = ['config.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'vocab.txt'];

/** What an import needs from the registry (the model registry's dependencies). */
export type ImportDeps = RegistryDeps;

/** An import request. */
export interface ImportRequest {
  /** The model folder. */
  readonly dir: string;
  /** The registered model name (the configured one, `captioner`, by default). */
  readonly name: string;
  /** The dataset version whose test split scores it; default the champion's, else the newest of `datasetName`. */
  readonly datasetId?: string;
  readonly datasetName?: string;
  /** How the evaluation decodes (default: as trained versions are scored, {@link DEFAULT_EVAL_DECODING}). */
  readonly decoding?: { readonly strategy: 'greedy' | 'beam'; readonly beamSize?: number };
}

/** What an import did. */
export interface ImportOutcome {
  readonly model: ModelRecord;
  readonly alias: typeof IMPORT_ALIAS;
  readonly evaluation: Evaluation;
  readonly report?: ReportPointer;
  /** Files of the folder left out (not part of the layout). */
  readonly ignored: readonly string[];
}

/**
 * The layout's files of a model folder by name, and the plain files left out. MODEL_FILES_MISSING
 * (context: `missing`, `found`) when a required file is absent; nothing is read beyond the layout.
 */
export async function readModelFolder(dir: string): Promise<{ files: Map<string, Uint8Array>; ignored: string[] }> {
  const path = resolve(dir);
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new PipelineError(ErrorCodes.MODEL_FILES_MISSING, `${path} is not a folder`, { context: { dir: path } });
  }
  const found = (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const missing = IMPORT_LAYOUT.filter((alternatives) => !alternatives.some((f) => found.includes(f))).map((alternatives) => alternatives.join(' or '));
  if (missing.length > 0) {
    throw new PipelineError(ErrorCodes.MODEL_FILES_MISSING, `model folder ${path} lacks ${missing.join(', ')} (the Hugging Face ONNX encoder/decoder layout needs ${IMPORT_LAYOUT.map((a) => a.join(' or ')).join(', ')})`, {
      context: { dir: path, missing, found },
    });
  }
  const wanted = new Set([...IMPORT_LAYOUT.flat(), ...OPTIONAL_FILES]);
  const files = new Map<string, Uint8Array>();
  for (const name of found) if (wanted.has(name)) files.set(name, new Uint8Array(await readFile(join(path, name))));
  return { files, ignored: found.filter((n) => !wanted.has(n)) };
}

/**
 * Parse the folder's files and load both graphs in onnxruntime, checking their input and output
 * names: MODEL_ONNX_INVALID when a graph cannot be loaded, MODEL_IO_MISMATCH when its inputs or
 * outputs are not the layout's, MODEL_INVALID when a config file is wrong. The caller closes the captioner.
 */
export async function loadImportedCaptioner(files: ReadonlyMap<string, Uint8Array>, dir: string): Promise<OnnxCaptioner> {
  const bundle = parseHfBundle(new BundleFileSet(files));
  try {
    return await OnnxCaptioner.create(bundle);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const context = { dir, ...((err as PipelineError).context ?? {}) };
    if (code === ErrorCodes.MODEL_LOAD_FAILED) throw new PipelineError(ErrorCodes.MODEL_ONNX_INVALID, `model folder ${dir}: ${(err as Error).message}`, { cause: err, context });
    if (code === ErrorCodes.MODEL_INVALID) throw new PipelineError(ErrorCodes.MODEL_IO_MISMATCH, `model folder ${dir}: ${(err as Error).message}`, { cause: err, context });
    throw err;
  }
}

/** The dataset version an import is scored on: the one asked for, else the champion's, else the newest of the name. */
async function evaluationDataset(deps: ImportDeps, req: ImportRequest): Promise<DatasetManifest> {
  const lake = { store: deps.objects, catalog: deps.catalog };
  let id = req.datasetId;
  id ??= (await deps.catalog.models.byAlias(req.name, 'champion'))?.datasetId ?? undefined;
  id ??= (await deps.catalog.datasets.latest(req.datasetName ?? 'default'))?.id;
  if (id === undefined) {
    throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, 'no dataset version to evaluate the import on: run `captionflow pipeline` (or `captionflow lake snapshot`) first, or pass --dataset <id>');
  }
  const manifest = await getDataset(lake, id);
  if (manifest === null) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `dataset version ${id} does not exist`, { context: { datasetId: id } });
  return manifest;
}

/**
 * Import a model folder (see the module comment). Importing the same files again is the same
 * version (versions are derived from the artifacts' checksums) and scores it again.
 */
export async function importModel(deps: ImportDeps, req: ImportRequest): Promise<ImportOutcome> {
  const dir = resolve(req.dir);
  const { files, ignored } = await readModelFolder(dir);
  const captioner = await loadImportedCaptioner(files, dir);
  let dataset: DatasetManifest;
  let evaluation: Evaluation;
  try {
    dataset = await evaluationDataset(deps, req);
    evaluation = await evaluateCaptioner(deps.objects, captioner, '(import)', dataset, { ...(req.decoding ?? DEFAULT_EVAL_DECODING), concepts: SCENE_CONCEPTS });
  } finally {
    await captioner.close();
  }
  if (evaluation.n === 0) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `dataset version ${dataset.id} has no test items to evaluate the import on`, { context: { datasetId: dataset.id } });
  const decoder = files.has('decoder_model_merged.onnx') ? 'decoder_model_merged.onnx' : 'decoder_model.onnx';
  const registered = await registerModel(deps, {
    name: req.name,
    files,
    format: 'hf-vision-encoder-decoder',
    datasetId: dataset.id,
    metrics: evaluation.metrics,
    params: { source: 'imported', importedFrom: dir, decoder, evaluatedOn: `${dataset.id}/${evaluation.split}` },
    alias: IMPORT_ALIAS,
  });
  await deps.catalog.models.upsert({ id: registered.id, name: req.name, status: 'evaluated', metrics: evaluation.metrics });
  const report = await saveEvaluation(deps, registered, evaluation, { curves: [] });
  const model = (await deps.catalog.models.get(registered.id)) ?? registered;
  return { model, alias: IMPORT_ALIAS, evaluation: { ...evaluation, modelVersion: model.id }, ...(report === undefined ? {} : { report }), ignored };
}
