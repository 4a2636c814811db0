/**
 * The text fields of `POST /v1/images`: `captions`, `metadata` and `externalId`, parsed and
 * matched to the request's files. Every failure is REQUEST_INVALID naming the field.
 */
import { z } from 'zod';
import { invalidField, schemaError } from './edge-errors.ts';
import { jsonField, type BufferedFile } from './multipart-reader.ts';

/** Longest uploaded caption in characters (the caption normalizer applies its own rules downstream). */
export const MAX_UPLOAD_CAPTION_CHARS = 2000;
/** Most `metadata` entries. */
export const MAX_METADATA_ENTRIES = 64;
/** Longest `externalId`. */
export const MAX_EXTERNAL_ID_CHARS = 256;

// The catalog's attribute key syntax, so metadata can become catalog attributes unchanged.
const ATTRIBUTE_KEY = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const PRINTABLE = /^[^\p{Cc}]+$/u;

const captionText = z
  .string()
  .max(MAX_UPLOAD_CAPTION_CHARS)
  .refine((s) => s.trim() !== '', 'a caption must not be blank');

const captionList = (max: number): z.ZodArray<typeof captionText> =>
  z.array(captionText).max(max, `at most ${max} captions per image`);

const MetadataSchema = z
  .record(
    z
      .string()
      .regex(ATTRIBUTE_KEY, 'keys are [A-Za-z_][A-Za-z0-9_-]*, at most 64 characters')
      .refine((k) => !RESERVED_KEYS.has(k), 'reserved key'),
    z.string().max(1024),
  )
  .refine((m) => Object.keys(m).length <= MAX_METADATA_ENTRIES, `at most ${MAX_METADATA_ENTRIES} entries`);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The captions of each file. `captions` is either a JSON array of strings (one file only) or
 * a JSON object from a file's filename to its array of strings; files it does not name get none.
 */
export function parseCaptions(
  fields: ReadonlyMap<string, unknown>,
  files: readonly BufferedFile[],
  maxPerImage: number,
): (file: BufferedFile) => readonly string[] {
  if (!fields.has('captions')) return () => [];
  const value = jsonField(fields, 'captions');
  if (Array.isArray(value)) {
    if (files.length > 1)
      throw invalidField(
        'captions',
        'an array applies to a single file: with several files, send an object mapping each filename to its captions',
      );
    const parsed = captionList(maxPerImage).safeParse(value);
    if (!parsed.success) throw schemaError('captions', parsed.error);
    return () => parsed.data;
  }
  if (!isPlainObject(value))
    throw invalidField(
      'captions',
      'expected a JSON array of strings or an object mapping filenames to arrays of strings',
    );
  const byName = new Map<string, readonly string[]>();
  for (const [name, list] of Object.entries(value)) {
    const parsed = captionList(maxPerImage).safeParse(list);
    if (!parsed.success)
      throw schemaError(
        'captions',
        new z.ZodError(parsed.error.issues.map((i) => ({ ...i, path: [name, ...i.path] }))),
      );
    const matching = files.filter((f) => f.filename === name).length;
    if (matching === 0)
      throw invalidField('captions', `no file named ${JSON.stringify(name)} in the request`, { path: name });
    if (matching > 1)
      throw invalidField(
        'captions',
        `several files are named ${JSON.stringify(name)}: captions by filename would be ambiguous`,
        { path: name },
      );
    byName.set(name, parsed.data);
  }
  return (file) => (file.filename === null ? [] : (byName.get(file.filename) ?? []));
}

/** `metadata`: a JSON object of string values (becomes the event's `attributes`). */
export function parseMetadata(fields: ReadonlyMap<string, unknown>): Record<string, string> {
  if (!fields.has('metadata')) return {};
  const value = jsonField(fields, 'metadata');
  if (!isPlainObject(value)) throw invalidField('metadata', 'expected a JSON object of string values');
  const parsed = MetadataSchema.safeParse(value);
  if (!parsed.success) throw schemaError('metadata', parsed.error);
  return parsed.data;
}

/**
 * `externalId`: the producer's id of the image (plain text). With the source it makes the event
 * id, so it is taken only with a single file — several files would share one event id.
 */
export function parseExternalId(fields: ReadonlyMap<string, unknown>, fileCount: number): string | null {
  if (!fields.has('externalId')) return null;
  const value = fields.get('externalId');
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_EXTERNAL_ID_CHARS ||
    !PRINTABLE.test(value)
  ) {
    throw invalidField(
      'externalId',
      `expected 1–${MAX_EXTERNAL_ID_CHARS} characters without control characters`,
    );
  }
  if (fileCount > 1)
    throw invalidField('externalId', 'taken only with a single file (it makes the event id)');
  return value;
}
