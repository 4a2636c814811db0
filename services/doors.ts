/**
 * The doors images come in by, as the pipeline lists them (`captionflow describe`): what each
 * appends to the log and what it writes before that. The code behind them is in ingest/ (HTTP)
 * and import/ (bulk); external producers publish Avro to the topic directly
 * (schemas/PUBLISHING.md).
 */
import { Topics } from '../schemas/topics.ts';
import type { Door } from '../runtime/engine/pipeline.ts';

const BRONZE = 'objects: bronze/<sha256> (content-addressed, before the event)';

/** Every door of the pipeline. */
export const doors: readonly Door[] = [
  { name: 'upload', kind: 'http', at: 'POST /v1/images', description: 'multipart upload of an image with captions and metadata (API key, size limit)', emits: [Topics.imageIngested], writes: [BRONZE] },
  {
    name: 'mobile-capture',
    kind: 'http',
    at: 'POST /v1/captures',
    description: 'a capture from the mobile app: image, device, time, optional caption; idempotent by device + capture id',
    emits: [Topics.imageIngested, Topics.captureReceived],
    writes: [BRONZE],
  },
  {
    name: 'caption-review',
    kind: 'http',
    at: 'POST /v1/review/{imageId}',
    description: 'a person accepts or corrects a machine caption',
    emits: [],
    writes: ['catalog: captions (origin human), images (review state)'],
  },
  { name: 'bulk-import', kind: 'cli', at: 'captionflow import', description: 'COCO or Karpathy captions JSON plus an image folder; resumable', emits: [Topics.imageIngested], writes: [BRONZE] },
  {
    name: 'external-producers',
    kind: 'topic',
    at: Topics.imageIngested.name,
    description: 'other systems publish Avro image.ingested events (with the image already in bronze)',
    emits: [Topics.imageIngested],
    writes: [],
  },
];
