/**
 * `POST /v1/images`: the upload door. One or many `file` parts plus optional `captions`,
 * `metadata` and `externalId` fields. The request is accepted or refused as a whole: every part
 * is read (under the multipart limits) and every file checked before the first one is written,
 * so a bad file means nothing was stored and nothing emitted.
 */
import type { FastifyInstance } from 'fastify';
import { ingestImage, type IngestDeps } from '../../topologies/ingest.ts';
import { answerEdgeErrors, invalidField } from './edge-errors.ts';
import { callerOf } from './caller.ts';
import { checkImage } from './image-check.ts';
import type { IngestLimits } from './limits.ts';
import { readMultipart } from './multipart-reader.ts';
import { parseCaptions, parseExternalId, parseMetadata } from './upload-fields.ts';
import { AUTH_ERRORS, RATE_LIMIT_ERRORS, ErrorBody, UploadAccepted } from './http-schemas.ts';

/** Register `POST /v1/images` on `app` (which must have @fastify/multipart). */
export function registerUploadRoute(app: FastifyInstance, ingest: IngestDeps, limits: IngestLimits): void {
  const maxFileBytes = Math.min(limits.maxFileBytes, ingest.maxBytes);
  app.post(
    '/v1/images',
    {
      config: { auth: 'api-key' },
      schema: {
        summary: 'Upload images with optional captions',
        response: { 202: UploadAccepted, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, ...RATE_LIMIT_ERRORS, ...AUTH_ERRORS },
      },
    },
    (req, reply) =>
      answerEdgeErrors(reply, async () => {
        const { files, fields } = await readMultipart(req, {
          fileFields: ['file'],
          textFields: ['captions', 'metadata', 'externalId'],
          maxFiles: limits.maxFiles,
          maxFileBytes,
          maxFieldBytes: limits.maxFieldBytes,
        });
        if (files.length === 0) throw invalidField('file', 'at least one file part named "file" is required');
        for (const file of files) checkImage(file);
        const captionsOf = parseCaptions(fields, files, limits.maxCaptionsPerImage);
        const attributes = parseMetadata(fields);
        const externalId = parseExternalId(fields, files.length);
        const producer = callerOf(req);
        const images = [];
        // One at a time: each write is idempotent (content-addressed object, derived event id),
        // so a failure half-way is fixed by the client retrying the same request.
        for (const file of files) {
          const { event, storedNew } = await ingestImage(ingest, {
            bytes: file.bytes,
            source: 'upload',
            producer,
            filename: file.filename,
            captions: captionsOf(file).map((text) => ({ text })),
            externalId,
            attributes,
          });
          images.push({
            imageId: event.imageId,
            eventId: event.eventId,
            storedNew,
            originalFilename: event.originalFilename,
          });
        }
        req.log.info(
          { images: images.length, stored: images.filter((i) => i.storedNew).length },
          'images ingested',
        );
        return reply.code(202).send({ images });
      }),
  );
}
