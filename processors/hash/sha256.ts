/**
 * Content hashes: SHA-256 of bytes and strings, and a stable hash of JSON-like values.
 *
 * Content addressing, idempotent sink keys and lineage fingerprints all depend on these
 * being byte-for-byte stable across processes, so object keys are sorted before hashing.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, PipelineError, type ErrorCode } from '../../schemas/errors.ts';

/** SHA-256 of bytes, or of a string encoded as UTF-8, as 64 lowercase hex characters. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** How strict {@link stableStringify} is, and which error it throws. */
export interface StableStringifyOptions {
  /**
   * Only plain objects (and arrays, Dates): class instances, Maps and Sets are refused instead
   * of being serialized by their own enumerable properties. For stored records.
   */
  readonly plainObjectsOnly?: boolean;
  /** Error code of a value JSON cannot hold (default INTERNAL). */
  readonly errorCode?: ErrorCode;
}

/**
 * JSON text of `value` with object keys sorted at every depth, so equal values always give
 * equal text whatever order their keys were inserted in — the canonical JSON whose SHA-256 is a
 * content hash (processing-version digests here; catalog records and dataset version ids in
 * runtime/catalog/canonical-json.ts).
 *
 * Only JSON-representable values are accepted: `undefined` object properties are omitted
 * (as `JSON.stringify` does; `undefined` array items become null) and -0 is 0, but non-finite
 * numbers, bigints, functions, symbols, binary data and cycles throw — naming the path —
 * because silently coercing them would make two different values hash the same.
 */
export function stableStringify(value: unknown, options: StableStringifyOptions = {}): string {
  const path: string[] = [];
  const fail = (what: string): PipelineError => {
    const at = `$${path.join('')}`;
    return new PipelineError(options.errorCode ?? ErrorCodes.INTERNAL, `value at ${at} is not JSON: ${what}`, { context: { path: at, what } });
  };
  const seen = new Set<object>();
  const stringify = (v: unknown): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
        return JSON.stringify(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        if (!Number.isFinite(v)) throw fail(`non-finite number ${String(v)}`);
        return JSON.stringify(v); // -0 gives "0"
      case 'object':
        break;
      default:
        throw fail(`a ${typeof v}`);
    }
    if (seen.has(v)) throw fail('circular reference');
    seen.add(v);
    try {
      if (Array.isArray(v)) {
        const items: string[] = [];
        for (let i = 0; i < v.length; i++) {
          path.push(`[${i}]`);
          items.push(v[i] === undefined ? 'null' : stringify(v[i]));
          path.pop();
        }
        return `[${items.join(',')}]`;
      }
      if (ArrayBuffer.isView(v)) throw fail('binary data (hash it with sha256Hex instead)');
      // Dates carry their JSON form in toJSON(); honoured as JSON.stringify does.
      if (v instanceof Date) return stringify(v.toJSON());
      const proto = Object.getPrototypeOf(v) as unknown;
      if (options.plainObjectsOnly === true && proto !== Object.prototype && proto !== null) throw fail('not a plain object');
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return stringify((toJSON as () => unknown).call(v));
      const record = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const item = record[key];
        if (item === undefined) continue;
        path.push(`.${key}`);
        parts.push(`${JSON.stringify(key)}:${stringify(item)}`);
        path.pop();
      }
      return `{${parts.join(',')}}`;
    } finally {
      seen.delete(v);
    }
  };
  return stringify(value);
}

/** SHA-256 hex of {@link stableStringify}(value): a key-order-independent hash of a JSON value. */
export function stableHash(value: unknown, options: StableStringifyOptions = {}): string {
  return sha256Hex(stableStringify(value, options));
}
