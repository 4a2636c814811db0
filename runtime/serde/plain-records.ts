/**
 * avsc reads records into instances of generated classes (with clone/toBuffer/… on their
 * prototype). captionflow hands values on as plain objects — they compare with deepStrictEqual,
 * log as JSON and cross threads like any other data — and copying every decoded record into a
 * plain object cost as much as decoding it. Types parsed here read records as object literals
 * directly, through resolvers (schema evolution) too.
 *
 * How: avsc builds a record type's reader around its `recordConstructor`, made by
 * `RecordType.prototype._createConstructor(errorStackTraces, omitRecordMethods)` while the
 * (then frozen) type is constructed. We wrap that method once: for types parsed with our marker
 * as `omitRecordMethods` (truthy, so avsc adds no methods either) it returns a factory with the
 * generated constructor's semantics — missing fields take their default, freshly made — that
 * returns an object literal; avsc calls it with `new`, which yields the literal. Every other
 * type is untouched. When avsc's internals differ, {@link forSchemaPlain} says so and callers
 * copy records into plain objects instead.
 */
import avro from 'avsc';
import type { Schema, Type } from 'avsc';

interface AvscField {
  readonly name: string;
  defaultValue(): unknown;
}

type CreateConstructor = (
  this: { readonly fields: readonly AvscField[] },
  errorStack: unknown,
  omitMethods: unknown,
) => unknown;

/** A marker no avsc user passes: truthy, so avsc treats it as `omitRecordMethods: true`. */
const MARKER = 'captionflow:plain-object-literals';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function literalFactory(
  fields: readonly AvscField[],
): ((...values: unknown[]) => Record<string, unknown>) | undefined {
  if (
    !fields.every((f) => NAME.test(f.name) && f.name !== '__proto__' && typeof f.defaultValue === 'function')
  )
    return undefined;
  const args = fields.map((_, i) => `v${i}`);
  const props = fields.map((f, i) =>
    f.defaultValue() === undefined ? `${f.name}: v${i}` : `${f.name}: v${i} === undefined ? d${i}() : v${i}`,
  );
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from validated Avro field names, as avsc itself does
  const make = new Function(
    ...fields.map((_, i) => `d${i}`),
    `return function (${args.join(', ')}) { return { ${props.join(', ')} }; };`,
  ) as (...defaults: unknown[]) => (...values: unknown[]) => Record<string, unknown>;
  return make(...fields.map((f) => f.defaultValue.bind(f)));
}

let installed: boolean | undefined;

function install(): boolean {
  if (installed !== undefined) return installed;
  const proto = (
    avro as unknown as { types?: { RecordType?: { prototype: { _createConstructor?: CreateConstructor } } } }
  ).types?.RecordType?.prototype;
  const original = proto?._createConstructor;
  if (proto === undefined || typeof original !== 'function') return (installed = false);
  proto._createConstructor = function (
    this: { readonly fields: readonly AvscField[] },
    errorStack: unknown,
    omitMethods: unknown,
  ): unknown {
    if (omitMethods === MARKER) {
      const factory = literalFactory(this.fields);
      if (factory !== undefined) return factory;
    }
    return original.call(this, errorStack, omitMethods);
  };
  return (installed = true);
}

function isPlain(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Parse a schema into a type whose records decode as plain objects. `plain` is false when that
 * could not be arranged (the values then need copying).
 */
export function forSchemaPlain(schema: Schema): { type: Type; plain: boolean } {
  const ok = install();
  const type = avro.Type.forSchema(schema, ok ? { omitRecordMethods: MARKER as unknown as boolean } : {});
  // Checked on the type itself: a random record must read back as a plain object. (Top-level
  // non-records are rare enough to always take the copying path.)
  if (!ok || type.typeName !== 'record') return { type, plain: false };
  try {
    const sample = type.random();
    return { type, plain: isPlain(type.fromBuffer(type.toBuffer(sample))) };
  } catch {
    return { type, plain: false };
  }
}
