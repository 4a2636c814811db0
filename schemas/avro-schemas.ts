/**
 * Loading of the `.avsc` files in `schemas/avro/`.
 *
 * Each file defines one named type (plus types nested in it) and may refer to named types of
 * other files by name (e.g. `io.captionflow.v1.Lineage`). A schema registry only accepts
 * self-contained schemas, so every file is expanded here: the first reference to a type of
 * another file is replaced by its definition, later ones stay names — the same document an
 * Avro parser would produce, with every attribute (`doc`, `logicalType`, enum `default`) kept.
 * avsc's own `Type#schema()` is not used for that because it drops logical types and enum
 * defaults that it does not implement.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import type { Type } from 'avsc';
import { ErrorCodes, PipelineError } from './errors.ts';

/** A JSON Avro schema, as found in an `.avsc` file or returned by a schema registry. */
export type AvroSchemaJson = string | AvroSchemaJson[] | { readonly [key: string]: unknown };

/** One `.avsc` file, parsed and expanded. */
export interface AvroSchemaFile {
  /** File name inside the schema folder, e.g. `image-ingested.avsc`. */
  readonly file: string;
  /** Full name of the top-level type, e.g. `io.captionflow.v1.ImageIngested`. */
  readonly fullName: string;
  /** The file's JSON as written. */
  readonly source: AvroSchemaJson;
  /** Self-contained schema: references to other files' types inlined. What gets registered. */
  readonly schema: AvroSchemaJson;
  /** avsc type of {@link schema} (logical types read as their underlying type: numbers, strings). */
  readonly type: Type;
}

/** Text of one `.avsc` file, for {@link parseAvroSchemaSources} (e.g. a version read from git). */
export interface AvroSchemaSource {
  readonly file: string;
  readonly text: string;
}

/** The folder holding captionflow's `.avsc` files. */
export const AVRO_SCHEMA_DIR: string = fileURLToPath(new URL('./avro/', import.meta.url));

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED_KINDS = new Set(['record', 'error', 'enum', 'fixed']);

type JsonObject = { readonly [key: string]: unknown };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(file: string, message: string, cause?: unknown): PipelineError {
  return new PipelineError(ErrorCodes.SCHEMA_MISMATCH, `${file}: ${message}`, {
    context: { file },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Full name of a named type definition, per the Avro namespace rules. */
function fullNameOf(def: JsonObject, enclosingNamespace: string): { fullName: string; namespace: string } {
  const name = String(def['name']);
  if (name.includes('.')) return { fullName: name, namespace: name.slice(0, name.lastIndexOf('.')) };
  const ns = typeof def['namespace'] === 'string' ? def['namespace'] : enclosingNamespace;
  return { fullName: ns === '' ? name : `${ns}.${name}`, namespace: ns };
}

function resolveName(name: string, namespace: string): string {
  if (name.includes('.') || namespace === '') return name;
  return `${namespace}.${name}`;
}

interface Definition {
  readonly file: string;
  readonly json: JsonObject;
  readonly namespace: string;
}

/** Record every named type defined in `node` (at any depth). */
function collectDefinitions(
  file: string,
  node: unknown,
  namespace: string,
  into: Map<string, Definition>,
): void {
  if (Array.isArray(node)) {
    for (const branch of node) collectDefinitions(file, branch, namespace, into);
    return;
  }
  if (!isObject(node)) return;
  const kind = node['type'];
  if (typeof kind === 'string' && NAMED_KINDS.has(kind)) {
    const { fullName, namespace: ns } = fullNameOf(node, namespace);
    const previous = into.get(fullName);
    if (previous !== undefined) {
      throw invalid(file, `type ${fullName} is already defined in ${previous.file}`);
    }
    into.set(fullName, { file, json: node, namespace: ns });
    if (Array.isArray(node['fields'])) {
      for (const field of node['fields']) {
        if (isObject(field)) collectDefinitions(file, field['type'], ns, into);
      }
    }
    return;
  }
  if (kind === 'array') collectDefinitions(file, node['items'], namespace, into);
  else if (kind === 'map') collectDefinitions(file, node['values'], namespace, into);
  else if (isObject(kind) || Array.isArray(kind)) collectDefinitions(file, kind, namespace, into);
}

/** Inline the first reference to each named type; see the module comment. */
function expand(
  file: string,
  node: unknown,
  namespace: string,
  defs: ReadonlyMap<string, Definition>,
  defined: Set<string>,
): unknown {
  if (typeof node === 'string') {
    if (PRIMITIVES.has(node)) return node;
    const fullName = resolveName(node, namespace);
    if (defined.has(fullName)) return fullName;
    const def = defs.get(fullName);
    if (def === undefined) throw invalid(file, `unknown type name ${node} (resolved as ${fullName})`);
    // Give the inlined definition its namespace explicitly: the host may have another one.
    return expand(file, { ...def.json, namespace: def.namespace }, def.namespace, defs, defined);
  }
  if (Array.isArray(node)) return node.map((branch) => expand(file, branch, namespace, defs, defined));
  if (!isObject(node)) throw invalid(file, `not a schema: ${JSON.stringify(node)}`);
  const kind = node['type'];
  if (typeof kind === 'string' && NAMED_KINDS.has(kind)) {
    const { fullName, namespace: ns } = fullNameOf(node, namespace);
    if (defined.has(fullName)) return fullName;
    defined.add(fullName);
    if (!Array.isArray(node['fields'])) return node;
    return {
      ...node,
      fields: node['fields'].map((field: unknown) => {
        if (!isObject(field)) throw invalid(file, `bad field in ${fullName}`);
        return { ...field, type: expand(file, field['type'], ns, defs, defined) };
      }),
    };
  }
  if (kind === 'array') return { ...node, items: expand(file, node['items'], namespace, defs, defined) };
  if (kind === 'map') return { ...node, values: expand(file, node['values'], namespace, defs, defined) };
  if (typeof kind === 'string' && PRIMITIVES.has(kind)) return node;
  // `{"type": "SomeName"}` or `{"type": {...}}`: a wrapped reference or schema.
  return expand(file, kind, namespace, defs, defined);
}

/**
 * Parse and expand a set of `.avsc` texts that may refer to each other by name.
 * Throws a {@link PipelineError} `SCHEMA_MISMATCH` naming the file on invalid JSON, an unknown
 * type name, a duplicate definition, or a schema avsc rejects.
 */
export function parseAvroSchemaSources(sources: readonly AvroSchemaSource[]): AvroSchemaFile[] {
  const parsed = sources.map(({ file, text }) => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw invalid(file, 'invalid JSON', err);
    }
    if (!isObject(json) || typeof json['type'] !== 'string' || !NAMED_KINDS.has(json['type'])) {
      throw invalid(file, 'top level must be a named type (record, enum or fixed)');
    }
    return { file, json };
  });
  const defs = new Map<string, Definition>();
  for (const { file, json } of parsed) collectDefinitions(file, json, '', defs);
  return parsed.map(({ file, json }) => {
    const schema = expand(file, json, '', defs, new Set()) as AvroSchemaJson;
    let type: Type;
    try {
      type = avro.Type.forSchema(schema as avro.Schema);
    } catch (err) {
      throw invalid(file, `avsc rejected the schema: ${(err as Error).message}`, err);
    }
    return { file, fullName: fullNameOf(json, '').fullName, source: json, schema, type };
  });
}

/** Read, parse and expand every `.avsc` file of a folder (default: `schemas/avro/`), sorted by file name. */
export function loadAvroSchemas(dir: string = AVRO_SCHEMA_DIR): AvroSchemaFile[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.avsc'))
    .sort();
  return parseAvroSchemaSources(files.map((file) => ({ file, text: readFileSync(join(dir, file), 'utf8') })));
}
