import type { ModelRecord } from '../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import type { DatasetManifest } from '../../runtime/lake/datasets.ts';
import { parseModelBundle } from '../../processors/inference/model-bundle.ts';
import { OnnxCaptioner } from '../../processors/inference/captioner.ts';
import { evaluateCaptions } from '../../processors/metrics/index.ts';
import { loadArtifacts } from '../../runtime/lake/model-registry.ts';

/** Scores of a model on a split, and what it said. */
export interface Evaluation {
  readonly modelVersion: string;
  readonly datasetId: string;
  readonly split: string;
  readonly n: number;
  readonly metrics: Record<string, number>;
  readonly samples: readonly { imageId: string; hypothesis: string; references: readonly string[] }[];
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
  options: { split?: 'train' | 'val' | 'test'; batchSize?: number; strategy?: 'greedy' | 'beam'; beamSize?: number; filter?: (imageId: string) => boolean } = {},
): Promise<Evaluation> {
  const split = options.split ?? 'test';
  const items = dataset.items.filter((i) => i.split === split && i.captions.length > 0 && (options.filter?.(i.imageId) ?? true));
  const captioner = await loadCaptioner(objects, model);
  const gts: Record<string, string[]> = {};
  const res: Record<string, string> = {};
  const samples: { imageId: string; hypothesis: string; references: string[] }[] = [];
  try {
    const batch = options.batchSize ?? 16;
    for (let i = 0; i < items.length; i += batch) {
      const chunk = items.slice(i, i + batch);
      const images = await Promise.all(chunk.map((it) => objects.get(it.key)));
      const out = await captioner.caption(images, { strategy: options.strategy ?? 'greedy', ...(options.beamSize === undefined ? {} : { beamSize: options.beamSize }) });
      chunk.forEach((it, j) => {
        const references = it.captions.map((c) => c.text);
        gts[it.imageId] = references;
        res[it.imageId] = out[j]!.text;
        samples.push({ imageId: it.imageId, hypothesis: out[j]!.text, references });
      });
    }
  } finally {
    await captioner.close();
  }
  const metrics = items.length === 0 ? {} : { ...evaluateCaptions(gts, res) };
  return { modelVersion: model.id, datasetId: dataset.id, split, n: items.length, metrics, samples };
}
