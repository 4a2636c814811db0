/**
 * Canonical JSON: keys sorted, no whitespace, `undefined` members dropped. Two values that mean
 * the same thing serialize to the same string, so its SHA-256 is a content hash: the catalog
 * compares it before writing (an identical replay writes nothing) and dataset version ids are
 * derived from it.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

function canonical(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson(path, 'non-finite number');
      // -0 and 0 are the same JSON number.
      return JSON.stringify(value === 0 ? 0 : value);
    case 'object': {
      if (Array.isArray(value))
        return `[${value.map((v, i) => (v === undefined ? 'null' : canonical(v, `${path}[${i}]`))).join(',')}]`;
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw notJson(path, 'not a plain object');
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v, `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw notJson(path, typeof value);
  }
}

function notJson(path: string, what: string): PipelineError {
  return new PipelineError(
    ErrorCodes.CATALOG_RECORD_INVALID,
    `value at ${path || '$'} is not JSON: ${what}`,
    { context: { path: path || '$', what } },
  );
}

/** The canonical JSON text of `value`; throws CATALOG_RECORD_INVALID for values JSON cannot hold. */
export function canonicalJson(value: unknown): string {
  return canonical(value, '');
}

/** Lowercase hex SHA-256 of the canonical JSON of `value`. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
