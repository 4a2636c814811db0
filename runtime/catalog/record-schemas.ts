/**
 * Validation of what callers write into the catalog (zod). A bad write fails up front with
 * CATALOG_RECORD_INVALID naming the field, instead of storing a record that a query or another
 * adapter would later choke on (MongoDB refuses `$` and `.` in keys; SQLite would not).
 */
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { LAKE_LAYERS } from '../lake/object-keys.ts';
import { JOB_RUN_LOG_LINES } from './catalog.ts';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');
const isoTime = z.iso.datetime({ offset: true });
const name = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, 'letters, digits and ._:@/- (not starting with a symbol)');
const portableKey = /^[A-Za-z_][A-Za-z0-9_-]*$/;

// JSON values whose object keys MongoDB and SQLite both store as they are.
const portableJson: z.ZodType = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(portableJson),
    z.record(z.string().regex(portableKey, 'keys match [A-Za-z_][A-Za-z0-9_-]*'), portableJson),
  ]),
);
const portableRecord = z.record(
  z.string().regex(portableKey, 'keys match [A-Za-z_][A-Za-z0-9_-]*'),
  portableJson,
);

/** An object reference. */
export const objectRefSchema = z
  .object({
    layer: z.enum(LAKE_LAYERS),
    bucket: z.string().min(1),
    key: z.string().min(1).max(1024),
    sha256,
    size: z.number().int().nonnegative(),
    versionId: z.string().nullable(),
  })
  .strict();

const hopSchema = z
  .object({
    topology: name,
    sourceTopic: z.string().min(1),
    partition: z.number().int().nonnegative(),
    offset: z.string().regex(/^\d+$/, 'a decimal offset'),
    schemaId: z.number().int(),
    processingVersion: z.string().min(1),
    at: isoTime,
  })
  .strict();

const lineagePatchSchema = z
  .object({
    ingestEventId: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    hops: z.array(hopSchema).optional(),
    objects: z.array(objectRefSchema).optional(),
  })
  .strict();

const split = z.enum(['train', 'val', 'test']);
const imageLayer = z.enum(['bronze', 'silver', 'gold']);

/** A write to an image. */
export const imageUpsertSchema = z
  .object({
    id: sha256,
    source: z.string().min(1).optional(),
    layer: imageLayer.optional(),
    status: z.enum(['ingested', 'normalized', 'curated', 'rejected', 'duplicate']).optional(),
    split: split.nullable().optional(),
    objects: z
      .object({
        bronze: objectRefSchema.optional(),
        silver: objectRefSchema.optional(),
        gold: objectRefSchema.optional(),
      })
      .strict()
      .optional(),
    width: z.number().int().positive().nullable().optional(),
    height: z.number().int().positive().nullable().optional(),
    format: z.string().min(1).nullable().optional(),
    dhash: z
      .string()
      .regex(/^[0-9a-f]+$/)
      .nullable()
      .optional(),
    phash: z
      .string()
      .regex(/^[0-9a-f]+$/)
      .nullable()
      .optional(),
    quality: z.number().nullable().optional(),
    reason: z.string().min(1).nullable().optional(),
    curatedAt: isoTime.nullable().optional(),
    lineage: lineagePatchSchema.optional(),
    attributes: portableRecord.optional(),
  })
  .strict();

/** A write to a caption. */
export const captionUpsertSchema = z
  .object({
    imageId: sha256,
    text: z.string().min(1).max(10_000),
    origin: z.enum(['human', 'machine']),
    normalizedText: z.string().min(1).max(10_000).optional(),
    language: z.string().min(1).max(35).nullable().optional(),
    modelVersion: z.string().min(1).nullable().optional(),
    score: z.number().nullable().optional(),
    source: z.string().min(1).nullable().optional(),
    lineage: lineagePatchSchema.optional(),
  })
  .strict();

const datasetFilterSchema = z
  .object({
    splits: z.array(split).optional(),
    sources: z.array(z.string().min(1)).optional(),
    minQuality: z.number().optional(),
    curatedBefore: isoTime.optional(),
  })
  .strict();

/** A dataset filter. */
export { datasetFilterSchema };

/** A dataset version record. */
export const datasetRecordSchema = z
  .object({
    id: z.string().regex(/^ds-[0-9a-f]{12}$/, 'ds- and 12 hex digits'),
    name,
    parent: z
      .string()
      .regex(/^ds-[0-9a-f]{12}$/)
      .nullable(),
    filter: datasetFilterSchema,
    includeMachineCaptions: z.boolean(),
    counts: z
      .object({
        train: z.number().int(),
        val: z.number().int(),
        test: z.number().int(),
        total: z.number().int(),
        captions: z.number().int(),
      })
      .strict(),
    manifest: objectRefSchema,
    watermark: isoTime.nullable(),
    createdAt: isoTime,
  })
  .strict();

/** A write to a model. */
export const modelUpsertSchema = z
  .object({
    id: name,
    name,
    datasetId: z.string().min(1).nullable().optional(),
    status: z.enum(['registered', 'evaluated', 'rejected', 'archived']).optional(),
    metrics: z.record(z.string().regex(portableKey), z.number()).optional(),
    artifacts: z.array(objectRefSchema).optional(),
    params: portableRecord.optional(),
  })
  .strict();

/** A write to a job run. */
export const jobRunUpsertSchema = z
  .object({
    id: name,
    name,
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    startedAt: isoTime.nullable().optional(),
    finishedAt: isoTime.nullable().optional(),
    params: portableRecord.optional(),
    result: portableRecord.nullable().optional(),
    error: z
      .object({ code: z.string().min(1), message: z.string(), retriable: z.boolean() })
      .strict()
      .nullable()
      .optional(),
    trigger: z.string().max(100).nullable().optional(),
    triggerDetail: z.string().max(1000).nullable().optional(),
    holder: z.string().max(200).nullable().optional(),
    attempts: z.number().int().min(0).optional(),
    log: z.array(z.string()).max(JOB_RUN_LOG_LINES).optional(),
  })
  .strict();

const pHash = z.string().regex(/^[0-9a-f]{16}$/, '16 lowercase hex digits');

/** An image entered in the near-duplicate state store. */
export const nearDuplicateMemberSchema = z
  .object({
    imageId: sha256,
    pHash,
    ingestedAt: isoTime,
    silverKey: z.string().min(1).max(1024),
    facts: portableJson,
  })
  .strict();

/** A supersession between two images. */
export const supersessionSchema = z
  .object({
    imageId: sha256,
    by: sha256,
    byIngestedAt: isoTime,
    distance: z.number().int().min(0).max(64),
  })
  .strict()
  .refine((s) => s.imageId !== s.by, { message: 'an image cannot supersede itself', path: ['by'] });

/** A Hamming radius of the band index. */
export const radiusSchema = z.number().int().min(0).max(63);

/** An alias name. */
export const aliasSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_-]*$/, 'lowercase letters, digits, _ and -');

/** A model or job name. */
export const nameSchema = name;

/** Throw CATALOG_RECORD_INVALID unless `value` matches `schema`. */
export function validate(schema: z.ZodType, value: unknown, what: string): void {
  const result = schema.safeParse(value);
  if (!result.success) {
    const first = result.error.issues[0];
    const path = first === undefined ? '' : first.path.map(String).join('.');
    throw new PipelineError(
      ErrorCodes.CATALOG_RECORD_INVALID,
      `invalid ${what}: ${z.prettifyError(result.error)}`,
      {
        context: {
          what,
          field: path,
          issues: result.error.issues
            .slice(0, 5)
            .map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
        },
      },
    );
  }
}
