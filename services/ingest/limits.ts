/**
 * Limits of the ingest doors. Uploads are buffered in memory until every file of a request has
 * been checked (so a bad file rejects the whole request before anything is written): these
 * limits are what bound that memory, roughly `maxFiles × maxFileBytes + 3 × maxFieldBytes`.
 */
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** Limits applied to every multipart request of the ingest routes. */
export interface IngestLimits {
  /** Most `file` parts in one `POST /v1/images` request. */
  readonly maxFiles: number;
  /** Largest file part in bytes (the effective limit is the smaller of this and `IngestDeps.maxBytes`). */
  readonly maxFileBytes: number;
  /** Most captions given for one image. */
  readonly maxCaptionsPerImage: number;
  /** Largest text field (`captions`, `metadata`, `externalId`) in bytes. */
  readonly maxFieldBytes: number;
}

/** Defaults a deployment starts from: 10 files of at most 20 MiB, 20 captions an image, 64 KiB fields. */
export const DEFAULT_INGEST_LIMITS: IngestLimits = Object.freeze({
  maxFiles: 10,
  maxFileBytes: 20 * 1024 * 1024,
  maxCaptionsPerImage: 20,
  maxFieldBytes: 64 * 1024,
});

const positiveInt = z.number().int().positive();

const LimitsSchema = z
  .object({
    maxFiles: positiveInt.max(1000),
    maxFileBytes: positiveInt,
    maxCaptionsPerImage: positiveInt.max(1000),
    maxFieldBytes: positiveInt.max(16 * 1024 * 1024),
  })
  .strict();

/** Validate limits up front; CONFIG_INVALID names the key, the value and what was expected. */
export function validateIngestLimits(limits: IngestLimits): IngestLimits {
  const parsed = LimitsSchema.safeParse(limits);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = issue?.path.join('.') ?? '';
  const value: unknown = key === '' ? limits : (limits as unknown as Record<string, unknown>)[key];
  throw new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `ingest limits: ${key === '' ? '' : `${key}=${JSON.stringify(value)}: `}${issue?.message ?? 'invalid'}`,
    {
      context: { key, value },
    },
  );
}
