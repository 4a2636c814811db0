/**
 * Content hashes: SHA-256 of bytes and strings, and a stable hash of JSON-like values.
 *
 * Content addressing, idempotent sink keys and lineage fingerprints all depend on these
 * being byte-for-byte stable across processes, so object keys are sorted before hashing.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** SHA-256 of bytes, or of a string encoded as UTF-8, as 64 lowercase hex characters. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * JSON text of `value` with object keys sorted at every depth, so equal values always give
 * equal text whatever order their keys were inserted in.
 *
 * Only JSON-representable values are accepted: `undefined` object properties are omitted
 * (as `JSON.stringify` does) but non-finite numbers, bigints, functions, symbols and cycles
 * throw, because silently coercing them would make two different values hash the same.
 */
export function stableStringify(value: unknown): string {
  return stringifyValue(value, new Set());
}

/** SHA-256 hex of {@link stableStringify}(value): a key-order-independent hash of a JSON value. */
export function stableHash(value: unknown): string {
  return sha256Hex(stableStringify(value));
}

function stringifyValue(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson(`non-finite number ${String(value)}`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw notJson(`value of type ${typeof value}`);
  }
  if (seen.has(value)) throw notJson('circular reference');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return `[${value.map((item: unknown) => (item === undefined ? 'null' : stringifyValue(item, seen))).join(',')}]`;
    }
    if (ArrayBuffer.isView(value)) throw notJson('binary data (hash it with sha256Hex instead)');
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    // Dates and similar carry their JSON form in toJSON(); honour it as JSON.stringify does.
    if (typeof toJSON === 'function') return stringifyValue((toJSON as () => unknown).call(value), seen);
    const record = value as Record<string, unknown>;
    const parts: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const item = record[key];
      if (item === undefined) continue;
      parts.push(`${JSON.stringify(key)}:${stringifyValue(item, seen)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(value);
  }
}

function notJson(what: string): PipelineError {
  return new PipelineError(ErrorCodes.INTERNAL, `stableStringify: cannot hash ${what}`);
}
