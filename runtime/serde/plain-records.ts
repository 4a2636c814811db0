/**
 * avsc reads records into instances of a constructor it generates per record type (with
 * clone/toBuffer/… on its prototype). captionflow hands values on as plain objects — they
 * compare with deepStrictEqual, log as JSON and cross threads like any other data — and
 * copying every decoded record into a plain object cost as much as decoding it. Types parsed
 * here read records as plain objects directly, through resolvers (schema evolution) too.
 *
 * How, with avsc's documented API only: the `omitRecordMethods` option of `Type.forSchema`
 * leaves each generated constructor's prototype empty, and `RecordType#recordConstructor` is
 * that constructor — the one avsc's generated reader calls with `new`. Pointing its `prototype`
 * at `Object.prototype` makes `new` yield objects whose prototype is `Object.prototype`:
 * plain objects, still built by avsc's own generated code (defaults made fresh per record),
 * with no copy. Each type parsed here has constructors of its own, so no other avsc type in the
 * process changes. When the result is not plain all the way down (a wrapped union's branches
 * are objects of avsc's own classes), {@link forSchemaPlain} says so and callers copy.
 */
import avro from 'avsc';
import type { Schema, Type } from 'avsc';

/** Every record type reachable from `type` (recursive schemas visit each type once). */
function recordTypes(type: Type, seen = new Set<Type>()): avro.types.RecordType[] {
  if (seen.has(type)) return [];
  seen.add(type);
  if (type instanceof avro.types.RecordType) {
    return [type, ...type.fields.flatMap((f) => recordTypes(f.type, seen))];
  }
  if (type instanceof avro.types.ArrayType) return recordTypes(type.itemsType, seen);
  if (type instanceof avro.types.MapType) return recordTypes(type.valuesType as Type, seen);
  if (type instanceof avro.types.UnwrappedUnionType || type instanceof avro.types.WrappedUnionType) {
    return type.types.flatMap((t) => recordTypes(t, seen));
  }
  if (type instanceof avro.types.LogicalType) return recordTypes(type.underlyingType, seen);
  return [];
}

/** True when every object in `value` (Buffers and arrays aside) has `Object.prototype` as its prototype. */
function isPlainDeep(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return true;
  if (Array.isArray(value)) return value.every(isPlainDeep);
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every(isPlainDeep);
}

/**
 * Parse a schema into a type whose records decode as plain objects. `plain` is false when that
 * could not be arranged (the values then need copying).
 */
export function forSchemaPlain(schema: Schema): { type: Type; plain: boolean } {
  const type = avro.Type.forSchema(schema, { omitRecordMethods: true });
  const records = recordTypes(type);
  for (const record of records) {
    (record.recordConstructor as { prototype: object }).prototype = Object.prototype;
  }
  // Checked on the type itself: a random value must read back plain. (Top-level non-records
  // are rare enough to always take the copying path.)
  if (type.typeName !== 'record') return { type, plain: false };
  try {
    return { type, plain: isPlainDeep(type.fromBuffer(type.toBuffer(type.random()))) };
  } catch {
    return { type, plain: false };
  }
}
