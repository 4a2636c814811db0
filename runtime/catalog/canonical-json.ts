/**
 * Canonical JSON of stored records: keys sorted, no whitespace, `undefined` members dropped,
 * plain objects only. Two values that mean the same thing serialize to the same string, so its
 * SHA-256 is a content hash: the catalog compares it before writing (an identical replay writes
 * nothing) and dataset version ids are derived from it. The serializer is the one processing
 * versions are hashed with (processors/hash); here a value JSON cannot hold is a
 * CATALOG_RECORD_INVALID naming its path.
 */
import { sha256Hex, stableStringify, type StableStringifyOptions } from '../../processors/hash/sha256.ts';
import { ErrorCodes } from '../../schemas/errors.ts';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const RECORDS: StableStringifyOptions = { plainObjectsOnly: true, errorCode: ErrorCodes.CATALOG_RECORD_INVALID };

/** The canonical JSON text of `value`; throws CATALOG_RECORD_INVALID for values JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  return stableStringify(value, RECORDS);
}

/** Lowercase hex SHA-256 of the canonical JSON of `value`. */
export function contentHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
