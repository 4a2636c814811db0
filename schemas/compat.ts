/**
 * Schema compatibility checks, with the failing field named.
 *
 * The Avro resolution rules are applied by a walk of our own because avsc's
 * `createResolver` only says *that* two schemas cannot be resolved ("cannot read X as Y"),
 * not *which field* is at fault; the resolver still runs as a safety net, so a rule this walk
 * misses is reported all the same.
 *
 * Modes follow the Confluent Schema Registry: BACKWARD = a consumer on the new schema reads
 * data written with the old one; FORWARD = a consumer on the old schema reads new data; FULL =
 * both. {@link checkContractEvolution} is captionflow's policy for its own topics: BACKWARD,
 * plus no removal of a field that had no default (old consumers would stop reading new records).
 */
import avro from 'avsc';
import type { Type } from 'avsc';
import type { AvroSchemaJson } from './avro-schemas.ts';

/** Compatibility modes, as the Confluent Schema Registry names them. */
export type CompatibilityMode = 'BACKWARD' | 'FORWARD' | 'FULL';

/** What is wrong, by kind; stable strings. */
export type CompatibilityIssueKind =
  | 'field-added-without-default'
  | 'field-removed-without-default'
  | 'type-changed'
  | 'enum-symbol-removed'
  | 'name-changed'
  | 'unresolvable';

/** One reason two schemas are not compatible. */
export interface CompatibilityIssue {
  readonly kind: CompatibilityIssueKind;
  /** Field path, e.g. `ImageIngested.lineage.hops[].offset`. */
  readonly path: string;
  /** Which reading fails: `backward` = new reader on old data, `forward` = old reader on new data. */
  readonly direction: 'backward' | 'forward';
  readonly message: string;
}

type AnyType = Type & {
  readonly types?: readonly Type[];
  readonly fields?: readonly { name: string; type: Type; aliases: string[]; defaultValue(): unknown }[];
  readonly symbols?: readonly string[];
  readonly default?: unknown;
  readonly size?: number;
  readonly itemsType?: Type;
  readonly valuesType?: Type;
};

/** Primitive promotions of the Avro spec: writer type -> reader types that can read it. */
const PROMOTIONS: Readonly<Record<string, readonly string[]>> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
};

function kindOf(type: Type): string {
  const name = type.typeName;
  return name.startsWith('union') ? 'union' : name === 'error' ? 'record' : name;
}

function label(type: Type): string {
  const kind = kindOf(type);
  if (kind === 'union') return `union [${((type as AnyType).types ?? []).map(label).join(', ')}]`;
  if (kind === 'array') return `array<${label((type as AnyType).itemsType as Type)}>`;
  if (kind === 'map') return `map<${label((type as AnyType).valuesType as Type)}>`;
  return type.name ?? kind;
}

function unqualified(name: string | undefined): string {
  return name === undefined ? '' : name.slice(name.lastIndexOf('.') + 1);
}

function namesMatch(reader: Type, writer: Type): boolean {
  if (reader.name === writer.name) return true;
  const writerShort = unqualified(writer.name);
  return (reader.aliases ?? []).some((alias) => alias === writer.name || unqualified(alias) === writerShort);
}

/** True when a value written as `writer` can be read as `reader` at the top level (no recursion). */
function shallowMatch(reader: Type, writer: Type): boolean {
  const r = kindOf(reader);
  const w = kindOf(writer);
  if (r === w) return r === 'record' || r === 'enum' || r === 'fixed' ? namesMatch(reader, writer) : true;
  return (PROMOTIONS[w] ?? []).includes(r);
}

class Walker {
  readonly issues: CompatibilityIssue[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly direction: 'backward' | 'forward') {}

  private add(kind: CompatibilityIssueKind, path: string, message: string): void {
    this.issues.push({ kind, path, direction: this.direction, message });
  }

  walk(reader: Type, writer: Type, path: string): void {
    const r = kindOf(reader);
    const w = kindOf(writer);
    if (w === 'union') {
      // Every branch the writer may have used must be readable.
      for (const branch of (writer as AnyType).types ?? []) this.walk(reader, branch, path);
      return;
    }
    if (r === 'union') {
      const branches = (reader as AnyType).types ?? [];
      const match =
        branches.find((b) => kindOf(b) === w && shallowMatch(b, writer)) ??
        branches.find((b) => shallowMatch(b, writer));
      if (match === undefined) {
        this.add('type-changed', path, `${path}: ${label(writer)} cannot be read as ${label(reader)}`);
        return;
      }
      this.walk(match, writer, path);
      return;
    }
    if (!shallowMatch(reader, writer)) {
      const renamed = r === w;
      this.add(
        renamed ? 'name-changed' : 'type-changed',
        path,
        renamed
          ? `${path}: ${r} ${writer.name ?? ''} cannot be read as ${reader.name ?? ''} (renamed without alias)`
          : `${path}: ${label(writer)} cannot be read as ${label(reader)}`,
      );
      return;
    }
    switch (r) {
      case 'record':
        this.walkRecord(reader, writer, path);
        return;
      case 'enum': {
        const symbols = new Set((reader as AnyType).symbols ?? []);
        if ((reader as AnyType).default !== undefined) return;
        for (const symbol of (writer as AnyType).symbols ?? []) {
          if (!symbols.has(symbol)) {
            this.add(
              'enum-symbol-removed',
              path,
              `${path}: enum symbol ${symbol} cannot be read (no such symbol and no enum default)`,
            );
          }
        }
        return;
      }
      case 'fixed':
        if ((reader as AnyType).size !== (writer as AnyType).size) {
          this.add(
            'type-changed',
            path,
            `${path}: fixed size ${String((writer as AnyType).size)} cannot be read as ${String((reader as AnyType).size)}`,
          );
        }
        return;
      case 'array':
        this.walk((reader as AnyType).itemsType as Type, (writer as AnyType).itemsType as Type, `${path}[]`);
        return;
      case 'map':
        this.walk(
          (reader as AnyType).valuesType as Type,
          (writer as AnyType).valuesType as Type,
          `${path}{}`,
        );
        return;
      default:
        return;
    }
  }

  private walkRecord(reader: AnyType, writer: AnyType, path: string): void {
    const key = `${reader.name ?? ''}<-${writer.name ?? ''}`;
    if (this.seen.has(key)) return; // recursive types: each pair once
    this.seen.add(key);
    const writerFields = new Map((writer.fields ?? []).map((f) => [f.name, f]));
    for (const field of reader.fields ?? []) {
      const fieldPath = `${path}.${field.name}`;
      const source = [field.name, ...field.aliases]
        .map((n) => writerFields.get(n))
        .find((f) => f !== undefined);
      if (source === undefined) {
        if (field.defaultValue() === undefined) {
          if (this.direction === 'backward') {
            this.add(
              'field-added-without-default',
              fieldPath,
              `${fieldPath}: added without a default, so records written before it cannot be read`,
            );
          } else {
            this.add(
              'field-removed-without-default',
              fieldPath,
              `${fieldPath}: removed, but it had no default, so consumers on the old schema cannot read new records`,
            );
          }
        }
        continue;
      }
      this.walk(field.type, source.type, fieldPath);
    }
  }
}

function toType(schema: Type | AvroSchemaJson): Type {
  return avro.Type.isType(schema) ? (schema as Type) : avro.Type.forSchema(schema as avro.Schema);
}

function rootName(type: Type): string {
  return unqualified(type.name) || kindOf(type);
}

/** Issues found when `reader` reads data written with `writer` (the Avro resolution rules). */
export function checkReadable(
  reader: Type | AvroSchemaJson,
  writer: Type | AvroSchemaJson,
  direction: 'backward' | 'forward' = 'backward',
): CompatibilityIssue[] {
  const r = toType(reader);
  const w = toType(writer);
  const walker = new Walker(direction);
  walker.walk(r, w, rootName(r));
  if (walker.issues.length === 0) {
    try {
      r.createResolver(w);
    } catch (err) {
      return [
        {
          kind: 'unresolvable',
          path: rootName(r),
          direction,
          message: `${rootName(r)}: ${(err as Error).message}`,
        },
      ];
    }
  }
  return walker.issues;
}

/** Issues that make `newer` not compatible with `older` under `mode`; empty when compatible. */
export function checkCompatibility(
  newer: Type | AvroSchemaJson,
  older: Type | AvroSchemaJson,
  mode: CompatibilityMode = 'BACKWARD',
): CompatibilityIssue[] {
  const issues: CompatibilityIssue[] = [];
  if (mode === 'BACKWARD' || mode === 'FULL') issues.push(...checkReadable(newer, older, 'backward'));
  if (mode === 'FORWARD' || mode === 'FULL') issues.push(...checkReadable(older, newer, 'forward'));
  return issues;
}

/**
 * captionflow's rule for changing a topic schema: BACKWARD (new consumers read old records),
 * and no field that had no default may be removed (old consumers keep reading new records).
 */
export function checkContractEvolution(
  newer: Type | AvroSchemaJson,
  older: Type | AvroSchemaJson,
): CompatibilityIssue[] {
  return [
    ...checkReadable(newer, older, 'backward'),
    ...checkReadable(older, newer, 'forward').filter((i) => i.kind === 'field-removed-without-default'),
  ];
}
