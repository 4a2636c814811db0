/**
 * Realistic sample values of the topic records, shared by the schema, serde and integration
 * tests (and by the interop test's Python side, which checks the same field values).
 */
import type {
  CaptureReceived,
  DeadLetter,
  ImageIngested,
  JobRun,
  Lineage,
  ObjectRef,
} from '../../../schemas/generated/types.ts';

/** SHA-256 of the bytes `captionflow sample image` (a stand-in for an image id). */
export const SAMPLE_IMAGE_ID = 'a3f1c8d2e4b5a6978812f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f';

/** The bronze object of the sample image. */
export function sampleBronzeObject(imageId: string = SAMPLE_IMAGE_ID): ObjectRef {
  return {
    layer: 'bronze',
    bucket: 'captionflow',
    key: `bronze/${imageId.slice(0, 2)}/${imageId}`,
    sha256: imageId,
    size: 48_213,
    contentType: 'image/jpeg',
    versionId: null,
  };
}

/** Lineage of a freshly ingested image. */
export function sampleLineage(eventId: string, imageId: string = SAMPLE_IMAGE_ID): Lineage {
  return {
    ingestEventId: eventId,
    source: 'external',
    hops: [
      {
        topology: 'ingest',
        sourceTopic: 'uploads',
        partition: 3,
        offset: 9_007_199_254_740, // large offsets must survive the long encoding
        schemaId: 7,
        processingVersion: 'ingest@1',
        at: 1_767_225_600_123,
      },
    ],
    objects: [sampleBronzeObject(imageId)],
  };
}

/** An image.ingested value with every optional field set, unicode text and a map. */
export function sampleImageIngested(eventId = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'): ImageIngested {
  return {
    eventId,
    imageId: SAMPLE_IMAGE_ID,
    occurredAt: 1_767_225_600_000,
    object: sampleBronzeObject(),
    originalFilename: 'café-sunset.jpg',
    captions: [
      { text: 'A dog catches a frisbee on the beach.', origin: 'human', modelVersion: null, language: 'en' },
      {
        text: 'Un chien attrape un frisbee — à la plage.',
        origin: 'human',
        modelVersion: null,
        language: 'fr',
      },
    ],
    producer: 'partner-x',
    externalId: 'coco:391895',
    importBatchId: null,
    attributes: { licence: 'CC-BY-4.0', author: 'Zoë' },
    lineage: sampleLineage(eventId),
  };
}

/** A capture.received value with a location. */
export function sampleCaptureReceived(): CaptureReceived {
  return {
    eventId: '0b8a7c6d-5e4f-4321-9abc-def012345678',
    clientCaptureId: 'cap-000042',
    deviceId: 'device-7',
    capturedAt: 1_767_225_000_000,
    receivedAt: 1_767_225_001_500,
    imageId: SAMPLE_IMAGE_ID,
    object: sampleBronzeObject(),
    location: { lat: 48.8584, lon: 2.2945, accuracyMeters: 12.5 },
    caption: 'Eiffel tower at dusk',
    language: 'en',
    appVersion: '2.3.1',
  };
}

/** A job.run value of a failed run. */
export function sampleJobRun(): JobRun {
  return {
    eventId: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
    jobName: 'train',
    runId: '9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b',
    trigger: 'event',
    triggerDetail: 'image.curated@0:1200',
    status: 'failed',
    attempt: 2,
    scheduledAt: null,
    startedAt: 1_767_225_600_000,
    finishedAt: 1_767_225_660_000,
    durationMs: 60_000,
    params: { epochs: '3', lr: '0.0003' },
    outputs: {},
    error: { code: 'TRAINING_FAILED', message: 'loss is NaN', retriable: false },
  };
}

/** A dead.letter value with bytes, headers and a stack. */
export function sampleDeadLetter(): DeadLetter {
  return {
    eventId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a',
    originalTopic: 'image.ingested',
    originalPartition: 1,
    originalOffset: 42,
    originalKey: Buffer.from(SAMPLE_IMAGE_ID),
    originalValue: Buffer.from([0x07, 0x00, 0x00, 0x00, 0x01, 0xff]),
    originalHeaders: { 'cf-producer': Buffer.from('partner-x'), traceparent: Buffer.from([0, 1, 2, 255]) },
    originalTimestamp: 1_767_225_600_000,
    errorCode: 'SCHEMA_BAD_MAGIC',
    errorMessage: 'not a Confluent-framed value: first byte is 7, expected 0',
    retriable: false,
    errorContext: '{"magic":7}',
    stack: 'PipelineError: not a Confluent-framed value\n    at readFrameHeader',
    topology: 'normalize',
    step: 'decode',
    attempts: 1,
    firstFailureAt: 1_767_225_600_100,
    lastFailureAt: 1_767_225_600_100,
  };
}
