/**
 * Error codes of caption serving that the shared error handler (runtime/http/server.ts
 * `statusOf`) has no status for, and the status each is answered with.
 */
import { PipelineError } from '../../schemas/errors.ts';

/** Stable codes of the serving edge (UPPER_SNAKE extensions of `ErrorCodes`). */
export const ServingErrorCodes = {
  /** The batching queue is full: retry after the `Retry-After` seconds (503). */
  QUEUE_FULL: 'QUEUE_FULL',
  /** The request's deadline passed before its caption was ready (504). */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** No model answers the requested alias or version yet (503 for an alias, 404 for a version). */
  NO_MODEL: 'NO_MODEL',
  /** The request names an alias the registry does not have (404): the request's mistake, not a state to wait out. */
  MODEL_ALIAS_UNKNOWN: 'MODEL_ALIAS_UNKNOWN',
  /** The request is malformed: no images, an unknown option, a bad value (400). */
  REQUEST_INVALID: 'REQUEST_INVALID',
} as const;

const STATUS: Readonly<Record<string, number>> = {
  [ServingErrorCodes.QUEUE_FULL]: 503,
  [ServingErrorCodes.DEADLINE_EXCEEDED]: 504,
  [ServingErrorCodes.NO_MODEL]: 503,
  [ServingErrorCodes.MODEL_ALIAS_UNKNOWN]: 404,
  [ServingErrorCodes.REQUEST_INVALID]: 400,
  CONFIG_INVALID: 400,
  OBJECT_NOT_FOUND: 404,
};

/** The HTTP status of a serving error, or undefined to leave it to the shared handler. */
export function servingStatus(err: PipelineError): number | undefined {
  return STATUS[err.code];
}

/** A QUEUE_FULL error that says when to come back. */
export function queueFull(queued: number, limit: number, retryAfterSeconds: number): PipelineError {
  return new PipelineError(
    ServingErrorCodes.QUEUE_FULL,
    `the caption queue is full (${queued} of ${limit} images waiting); retry after ${retryAfterSeconds}s`,
    { retriable: true, context: { queued, limit, retryAfterSeconds } },
  );
}
