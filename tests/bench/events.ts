/** Realistic event values for the benchmarks: an image.ingested of a bulk import with two captions (≈ 700 B of Avro). */
import { createHash, randomUUID } from 'node:crypto';
import type { ImageIngested, ObjectRef } from '../../schemas/generated/types.ts';

export function benchIngested(i: number, batch: string): ImageIngested {
  const imageId = createHash('sha256').update(`bench-image-${i}`).digest('hex');
  const eventId = randomUUID();
  const object: ObjectRef = {
    layer: 'bronze',
    bucket: 'lake',
    key: `bronze/${imageId.slice(0, 2)}/${imageId}.jpg`,
    sha256: imageId,
    size: 150_000 + (i % 10_000),
    contentType: 'image/jpeg',
    versionId: null,
  };
  return {
    eventId,
    imageId,
    occurredAt: 1_700_000_000_000 + i,
    object,
    originalFilename: `IMG_${String(i).padStart(6, '0')}.jpg`,
    captions: [
      {
        text: 'A man riding a bicycle down a street next to a red bus.',
        origin: 'human',
        modelVersion: null,
        language: 'en',
      },
      {
        text: 'A cyclist passes a double-decker bus in the city.',
        origin: 'human',
        modelVersion: null,
        language: 'en',
      },
    ],
    producer: 'coco-import',
    externalId: String(i),
    importBatchId: batch,
    attributes: { licence: 'CC-BY-4.0', dataset: 'bench' },
    lineage: { ingestEventId: eventId, source: 'bulk', hops: [], objects: [object] },
  };
}
