/**
 * `POST /v1/captures`: the mobile door. One `image` part and a `metadata` JSON field.
 *
 * Idempotent on (deviceId, clientCaptureId): `ingestCapture` derives both event ids from that
 * pair and keys the object by content, so a resent capture stores nothing new and emits records
 * with the ids downstream sinks already deduplicate on. A retry is recognised as one — answered
 * 200 instead of 202 — when this process still remembers it (it is then answered without
 * re-emitting), or when the catalog already holds the image with this capture's ingest event
 * id (normalize has seen it). Otherwise it is answered 202 with the same ids.
 *
 * Given a `captioner` (caption serving in the same process), the answer also carries the image's
 * caption, made while the capture is stored; the caption is never a reason to fail a capture.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PipelineError } from '../../schemas/errors.ts';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import { ingestCapture, type IngestDeps } from '../../topologies/ingest.ts';
import { EdgeErrorCodes, answerEdgeErrors, invalidField, schemaError } from './edge-errors.ts';
import { callerOf } from './caller.ts';
import { CaptureMetadataSchema, geoLocationOf } from './capture-metadata.ts';
import { checkImage } from './image-check.ts';
import type { IngestLimits } from './limits.ts';
import { jsonField, readMultipart } from './multipart-reader.ts';
import { RecentCaptures } from './recent-captures.ts';
import { AUTH_ERRORS, RATE_LIMIT_ERRORS, CaptureAccepted, ErrorBody } from './http-schemas.ts';
import { NO_CAPTION_SERVING, type CaptureCaptioner } from './capture-caption.ts';

/** The ingest event id the catalog holds for an image; undefined when unknown or unreachable. */
async function knownIngestEventId(
  catalog: Catalog,
  imageId: string,
  req: FastifyRequest,
): Promise<string | undefined> {
  try {
    return (await catalog.images.get(imageId))?.lineage?.ingestEventId;
  } catch (err) {
    // The catalog only refines the status code: a capture must not fail because it is down.
    req.log.warn({ code: PipelineError.from(err).code }, 'catalog unavailable for the capture retry check');
    return undefined;
  }
}

/** Register `POST /v1/captures` on `app` (which must have @fastify/multipart). */
export function registerCaptureRoute(
  app: FastifyInstance,
  ingest: IngestDeps,
  catalog: Catalog,
  limits: IngestLimits,
  recent = new RecentCaptures(),
  captioner?: CaptureCaptioner,
): void {
  const maxFileBytes = Math.min(limits.maxFileBytes, ingest.maxBytes);
  app.post(
    '/v1/captures',
    {
      config: { auth: 'api-key' },
      schema: {
        summary: 'Send a mobile capture (idempotent on deviceId + clientCaptureId)',
        response: {
          200: CaptureAccepted,
          202: CaptureAccepted,
          400: ErrorBody,
          409: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          ...RATE_LIMIT_ERRORS,
          ...AUTH_ERRORS,
        },
      },
    },
    (req, reply) =>
      answerEdgeErrors(reply, async () => {
        const { files, fields } = await readMultipart(req, {
          fileFields: ['image'],
          textFields: ['metadata'],
          maxFiles: 1,
          maxFileBytes,
          maxFieldBytes: limits.maxFieldBytes,
        });
        if (!fields.has('metadata'))
          throw invalidField(
            'metadata',
            'required (a JSON object: clientCaptureId, deviceId, capturedAt, …)',
          );
        const parsed = CaptureMetadataSchema.safeParse(jsonField(fields, 'metadata'));
        if (!parsed.success) throw schemaError('metadata', parsed.error);
        const meta = parsed.data;
        const image = files[0];
        if (image === undefined) throw invalidField('image', 'an image file part named "image" is required');
        checkImage(image);

        const key = RecentCaptures.key(meta.deviceId, meta.clientCaptureId);
        const imageId = createHash('sha256').update(image.bytes).digest('hex');
        const remembered = recent.get(key);
        const captionOf = (): ReturnType<CaptureCaptioner> =>
          captioner === undefined ? Promise.resolve(NO_CAPTION_SERVING) : captioner(image.bytes);
        if (remembered !== undefined) {
          if (remembered.imageId === imageId)
            return reply.code(200).send({ ...remembered, ...(await captionOf()) });
          throw new PipelineError(
            EdgeErrorCodes.CAPTURE_CONFLICT,
            `capture ${JSON.stringify(meta.clientCaptureId)} of device ${JSON.stringify(meta.deviceId)} was already received with a different image`,
            {
              context: {
                deviceId: meta.deviceId,
                clientCaptureId: meta.clientCaptureId,
                imageId: remembered.imageId,
              },
            },
          );
        }
        // Captioned while the capture is stored; a captioner never rejects, so nothing floats if storing fails.
        const captioned = captionOf();
        const knownEventId = await knownIngestEventId(catalog, imageId, req);
        const { ingested, capture } = await ingestCapture(ingest, {
          bytes: image.bytes,
          clientCaptureId: meta.clientCaptureId,
          deviceId: meta.deviceId,
          capturedAt: Date.parse(meta.capturedAt),
          location: geoLocationOf(meta.location),
          caption: meta.caption ?? null,
          language: meta.language ?? null,
          appVersion: meta.appVersion ?? null,
          producer: callerOf(req),
        });
        const ids = { imageId: ingested.imageId, eventId: ingested.eventId, captureEventId: capture.eventId };
        recent.set(key, ids);
        return reply
          .code(knownEventId === ingested.eventId ? 200 : 202)
          .send({ ...ids, ...(await captioned) });
      }),
  );
}
