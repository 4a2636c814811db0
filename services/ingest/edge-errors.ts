/**
 * Error codes of the HTTP edge that the shared error handler (runtime/http/server.ts
 * `statusOf`) has no status for. They are PipelineErrors like every other failure; the routes
 * answer them with the status below and the same `{ error: { code, message, context } }` body.
 */
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { PipelineError } from '../../schemas/errors.ts';

/** Stable codes raised by the ingest routes (free-form UPPER_SNAKE extensions of `ErrorCodes`). */
export const EdgeErrorCodes = {
  /** A field or part is missing, unknown, repeated, not JSON or fails its schema (400). */
  REQUEST_INVALID: 'REQUEST_INVALID',
  /** The request is not `multipart/form-data` (415). */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** More file parts than `maxFiles` (413). */
  UPLOAD_TOO_MANY_FILES: 'UPLOAD_TOO_MANY_FILES',
  /** More text fields or parts than the route takes (413). */
  UPLOAD_TOO_MANY_PARTS: 'UPLOAD_TOO_MANY_PARTS',
  /** A text field over `maxFieldBytes` (413). */
  FIELD_TOO_LARGE: 'FIELD_TOO_LARGE',
  /** A text field whose bytes are not valid UTF-8 (400): refused, never stored with replacement characters. */
  FIELD_INVALID_UTF8: 'FIELD_INVALID_UTF8',
  /** The same (deviceId, clientCaptureId) was sent earlier with different image bytes (409). */
  CAPTURE_CONFLICT: 'CAPTURE_CONFLICT',
} as const;

const STATUS: Readonly<Record<string, number>> = {
  [EdgeErrorCodes.REQUEST_INVALID]: 400,
  [EdgeErrorCodes.UNSUPPORTED_MEDIA_TYPE]: 415,
  [EdgeErrorCodes.UPLOAD_TOO_MANY_FILES]: 413,
  [EdgeErrorCodes.UPLOAD_TOO_MANY_PARTS]: 413,
  [EdgeErrorCodes.FIELD_TOO_LARGE]: 413,
  [EdgeErrorCodes.FIELD_INVALID_UTF8]: 400,
  [EdgeErrorCodes.CAPTURE_CONFLICT]: 409,
};

/** A REQUEST_INVALID error about `field` (and, for JSON fields, the `path` inside it). */
export function invalidField(
  field: string,
  reason: string,
  context: Record<string, unknown> = {},
): PipelineError {
  return new PipelineError(EdgeErrorCodes.REQUEST_INVALID, `${field}: ${reason}`, {
    context: { field, ...context },
  });
}

function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/**
 * A REQUEST_INVALID error for a JSON field that failed its zod schema: the message starts with
 * the field and the path of the first problem (`metadata.location.lat: …`); the context lists
 * every problem as `{ path, message }`.
 */
export function schemaError(field: string, error: z.ZodError): PipelineError {
  const issues = error.issues.map((i) => ({ path: pathOf(i.path), message: i.message }));
  const first = issues[0] ?? { path: '', message: 'invalid' };
  const where =
    first.path === ''
      ? field
      : first.path.startsWith('[')
        ? `${field}${first.path}`
        : `${field}.${first.path}`;
  return new PipelineError(EdgeErrorCodes.REQUEST_INVALID, `${where}: ${first.message}`, {
    context: { field, path: first.path, issues },
  });
}

/**
 * Run a route handler; an edge error is answered here with its status, anything else goes on
 * to the shared error handler (which maps the pipeline's own codes).
 */
export async function answerEdgeErrors<T>(
  reply: FastifyReply,
  handler: () => Promise<T>,
): Promise<T | FastifyReply> {
  try {
    return await handler();
  } catch (err) {
    const status = err instanceof PipelineError ? STATUS[err.code] : undefined;
    if (status === undefined || !(err instanceof PipelineError)) throw err;
    return reply.code(status).send({ error: { code: err.code, message: err.message, context: err.context } });
  }
}
