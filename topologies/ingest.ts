import { createHash } from 'node:crypto';
import type { Caption, CaptureReceived, GeoLocation, ImageIngested, IngestSource } from '../schemas/generated/types.ts';
import { Topics } from '../schemas/topics.ts';
import type { Clock, LogProducer, Serde } from '../runtime/ports.ts';
import type { ObjectStore } from '../runtime/lake/object-store.ts';
import { contentKey } from '../runtime/lake/object-keys.ts';
import { deriveId } from '../runtime/ids.ts';
import { checkImageBytes } from '../processors/image/check-image-bytes.ts';
import { extensionOf, objectRef } from './lake-services.ts';

/** What every ingest door (upload, mobile capture, bulk import) needs. */
export interface IngestDeps {
  readonly objects: ObjectStore;
  readonly bucket: string;
  readonly producer: LogProducer;
  readonly serde: Serde;
  readonly clock: Clock;
  /** Largest accepted image in bytes. */
  readonly maxBytes: number;
  /** Physical topic name of a logical one (topic prefix); identity when absent. */
  readonly topicName?: (logical: string) => string;
  /**
   * Keep a capture's location in the image attributes (`locationLat`, `locationLon`,
   * `locationAccuracyMeters`), hence in the catalog and gold tables. Off by default: the location
   * then stays in capture.received only.
   */
  readonly keepCaptureLocation?: boolean;
}

/** One image arriving at a door. */
export interface IngestInput {
  readonly bytes: Uint8Array;
  readonly source: IngestSource;
  /** Who produced it (API key name, importer, device app…). */
  readonly producer: string;
  readonly filename?: string | null;
  readonly captions?: readonly (Partial<Caption> & { text: string })[];
  /** The producer's id for the image (dataset image id, client capture id): with the source it makes the event id. */
  readonly externalId?: string | null;
  readonly importBatchId?: string | null;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** What the door answers. */
export interface IngestResult {
  readonly event: ImageIngested;
  /** False when the same bytes were already in bronze (content-addressed: nothing rewritten). */
  readonly storedNew: boolean;
}

/**
 * The raw door: checks the bytes are an image format we accept (cheap magic-byte sniff, size
 * limit — full decoding happens in normalize, on the worker pool), writes them to bronze under
 * their sha256, then emits image.ingested. Object first, event second: an event never points to
 * a missing object. The event id is derived from the source and the producer's id (or the
 * content and captions), so a retried upload or a resumed import emits the same event id and
 * downstream idempotent sinks change nothing.
 */
export async function ingestImage(deps: IngestDeps, input: IngestInput): Promise<IngestResult> {
  const { bytes } = input;
  const { mime } = checkImageBytes(bytes, { maxBytes: deps.maxBytes });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const captions: Caption[] = (input.captions ?? []).map((c) => ({
    text: c.text,
    origin: c.origin ?? 'human',
    modelVersion: c.modelVersion ?? null,
    language: c.language ?? null,
  }));
  const put = await deps.objects.put(contentKey('bronze', sha256, extensionOf(mime)), bytes, {
    contentType: mime,
    sha256,
    metadata: { source: input.source },
  });
  const bronze = objectRef('bronze', deps.bucket, put, mime);
  const identity = input.externalId ?? `${sha256}:${createHash('sha256').update(JSON.stringify(captions)).digest('hex')}`;
  const eventId = deriveId('ingest', input.source, input.importBatchId ?? '', identity);
  const event: ImageIngested = {
    eventId,
    imageId: sha256,
    occurredAt: deps.clock.now(),
    object: bronze,
    originalFilename: input.filename ?? null,
    captions,
    producer: input.producer,
    externalId: input.externalId ?? null,
    importBatchId: input.importBatchId ?? null,
    attributes: { ...input.attributes },
    lineage: { ingestEventId: eventId, source: input.source, hops: [], objects: [bronze] },
  };
  const topic = deps.topicName?.(Topics.imageIngested.name) ?? Topics.imageIngested.name;
  await deps.producer.send([
    { topic, key: sha256, value: await deps.serde.encode(Topics.imageIngested.name, event), headers: { 'cf-source': input.source } },
  ]);
  return { event, storedNew: put.written };
}

function locationAttributes(location: GeoLocation): Record<string, string> {
  return {
    locationLat: String(location.lat),
    locationLon: String(location.lon),
    ...(location.accuracyMeters === null ? {} : { locationAccuracyMeters: String(location.accuracyMeters) }),
  };
}

/** A mobile capture: the image plus device metadata. */
export interface CaptureInput {
  readonly bytes: Uint8Array;
  readonly clientCaptureId: string;
  readonly deviceId: string;
  readonly capturedAt: number;
  readonly location?: GeoLocation | null;
  readonly caption?: string | null;
  readonly language?: string | null;
  readonly appVersion?: string | null;
  readonly producer: string;
}

/**
 * The mobile door: the image goes in like any other (source `mobile`, idempotent by the client's
 * capture id), and a capture.received event keeps the device facts. The location stays in that
 * event only unless `deps.keepCaptureLocation` says otherwise — never in objects (EXIF location
 * is stripped in normalize).
 */
export async function ingestCapture(deps: IngestDeps, input: CaptureInput): Promise<{ ingested: ImageIngested; capture: CaptureReceived }> {
  const { event } = await ingestImage(deps, {
    bytes: input.bytes,
    source: 'mobile',
    producer: input.producer,
    externalId: `${input.deviceId}:${input.clientCaptureId}`,
    captions: input.caption === undefined || input.caption === null || input.caption.trim() === '' ? [] : [{ text: input.caption, language: input.language ?? null }],
    attributes: {
      deviceId: input.deviceId,
      capturedAt: new Date(input.capturedAt).toISOString(),
      ...(input.appVersion ? { appVersion: input.appVersion } : {}),
      ...(deps.keepCaptureLocation === true && input.location ? locationAttributes(input.location) : {}),
    },
  });
  const capture: CaptureReceived = {
    eventId: deriveId('capture', input.deviceId, input.clientCaptureId),
    clientCaptureId: input.clientCaptureId,
    deviceId: input.deviceId,
    capturedAt: input.capturedAt,
    receivedAt: deps.clock.now(),
    imageId: event.imageId,
    object: event.object,
    location: input.location ?? null,
    caption: input.caption ?? null,
    language: input.language ?? null,
    appVersion: input.appVersion ?? null,
  };
  await deps.producer.send([
    { topic: deps.topicName?.(Topics.captureReceived.name) ?? Topics.captureReceived.name, key: input.deviceId, value: await deps.serde.encode(Topics.captureReceived.name, capture) },
  ]);
  return { ingested: event, capture };
}
