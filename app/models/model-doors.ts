/**
 * The doors models come in by, and the one that moves their aliases by hand, as the pipeline
 * lists them (`captionflow describe`). Trained versions enter through the retrain job.
 */
import { Topics } from '../../schemas/topics.ts';
import type { Door } from '../../runtime/engine/pipeline.ts';

/** The model registry's doors. */
export const modelDoors: readonly Door[] = [
  {
    name: 'model-import',
    kind: 'cli',
    at: 'captionflow models import <dir>',
    description: 'a user-supplied captioner in the Hugging Face ONNX encoder/decoder layout: validated, scored on the frozen test split, alias candidate',
    emits: [Topics.modelRegistered],
    writes: ['objects: models/<name>/<version>/… (artifacts, evaluation report)', 'catalog: models (alias candidate)'],
  },
  {
    name: 'model-promotion',
    kind: 'http',
    at: 'POST /admin/models/{version}/promote',
    description: 'an administrator points champion or challenger at a version, or rolls it back (POST /admin/models/rollback; captionflow models promote|rollback); serving replicas hot-swap',
    emits: [Topics.modelPromoted],
    writes: ['catalog: model aliases'],
  },
];
