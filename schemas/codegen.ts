/**
 * Generates `schemas/generated/types.ts` — TypeScript types of every Avro named type — from
 * the `.avsc` files. Run `tsx schemas/codegen.ts` after editing a schema; a unit test fails
 * while the generated file is stale.
 *
 * Mapping (what avsc decodes to with its default options, which the serde uses): int, long,
 * float, double → number (timestamp-millis stays epoch milliseconds as a number); string (uuid
 * too) → string; bytes, fixed → Buffer; [null, T] → T | null; enum → a union of string
 * literals; array → T[]; map → Record<string, T>.
 *
 * The output goes through Prettier with the repository's config so that `npm run format`
 * leaves it unchanged.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { loadAvroSchemas } from './avro-schemas.ts';
import type { AvroSchemaFile } from './avro-schemas.ts';

/** Where the generated types live. */
export const GENERATED_TYPES_PATH: string = fileURLToPath(new URL('./generated/types.ts', import.meta.url));

type JsonObject = { readonly [key: string]: unknown };

const PRIMITIVE_TS: Readonly<Record<string, string>> = {
  null: 'null',
  boolean: 'boolean',
  int: 'number',
  long: 'number',
  float: 'number',
  double: 'number',
  bytes: 'Buffer',
  string: 'string',
};

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function shortName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

function tsdoc(lines: readonly string[], indent = ''): string {
  const text = lines.filter((l) => l !== '').map((l) => l.replaceAll('*/', '*\\/'));
  if (text.length === 0) return '';
  return `${indent}/**\n${text.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

interface Emitter {
  readonly emitted: Set<string>;
  readonly out: string[];
}

function logicalNote(node: unknown): string {
  if (!isObject(node)) return '';
  switch (node['logicalType']) {
    case 'timestamp-millis':
      return 'Epoch milliseconds, UTC (Avro `timestamp-millis`).';
    case 'uuid':
      return 'A UUID string (Avro `uuid`).';
    default:
      return typeof node['logicalType'] === 'string' ? `Avro logical type \`${node['logicalType']}\`.` : '';
  }
}

/** TS type expression of a schema node; emits named types on the way. */
function tsType(node: unknown, em: Emitter, namespace: string): string {
  if (typeof node === 'string') return PRIMITIVE_TS[node] ?? shortName(node);
  if (Array.isArray(node)) {
    const branches = node.map((b) => tsType(b, em, namespace));
    // null last reads better: `string | null`
    return [...branches.filter((b) => b !== 'null'), ...branches.filter((b) => b === 'null')].join(' | ');
  }
  if (!isObject(node)) throw new Error(`not a schema: ${JSON.stringify(node)}`);
  const kind = node['type'];
  if (kind === 'record' || kind === 'error' || kind === 'enum' || kind === 'fixed') {
    emitNamed(node, em, namespace);
    return shortName(String(node['name']));
  }
  if (kind === 'array') {
    const items = tsType(node['items'], em, namespace);
    return items.includes('|') ? `Array<${items}>` : `${items}[]`;
  }
  if (kind === 'map') return `Record<string, ${tsType(node['values'], em, namespace)}>`;
  return tsType(kind, em, namespace);
}

function emitNamed(node: JsonObject, em: Emitter, enclosingNamespace: string): void {
  const fullName = String(node['name']);
  const name = shortName(fullName);
  if (em.emitted.has(name)) return;
  em.emitted.add(name);
  const doc = typeof node['doc'] === 'string' ? node['doc'] : '';
  const namespace = fullName.includes('.')
    ? fullName.slice(0, fullName.lastIndexOf('.'))
    : typeof node['namespace'] === 'string'
      ? node['namespace']
      : enclosingNamespace;
  const avroName = namespace === '' || fullName.includes('.') ? fullName : `${namespace}.${fullName}`;
  if (node['type'] === 'enum') {
    const symbols = (node['symbols'] as string[]).map((s) => `'${s}'`);
    em.out.push(
      `${tsdoc([doc, `Avro enum \`${avroName}\`.`])}export type ${name} = ${symbols.join(' | ')};\n`,
      `${tsdoc([`The symbols of {@link ${name}}, in schema order.`])}export const ${name}Symbols = [${symbols.join(', ')}] as const;\n`,
    );
    return;
  }
  if (node['type'] === 'fixed') {
    em.out.push(
      `${tsdoc([doc, `Avro fixed \`${avroName}\` of ${String(node['size'])} bytes.`])}export type ${name} = Buffer;\n`,
    );
    return;
  }
  // Field types first, so nested named types are emitted before they are used (reads top-down).
  const fields = (node['fields'] as JsonObject[]).map((field) => {
    const type = tsType(field['type'], em, namespace);
    const notes = [typeof field['doc'] === 'string' ? field['doc'] : ''];
    const unionBranches = Array.isArray(field['type']) ? field['type'] : [field['type']];
    for (const branch of unionBranches) notes.push(logicalNote(branch));
    if (field['default'] !== undefined) notes.push(`Default: \`${JSON.stringify(field['default'])}\`.`);
    return `${tsdoc(notes, '  ')}  ${String(field['name'])}: ${type};\n`;
  });
  em.out.push(
    `${tsdoc([doc, `Avro record \`${avroName}\`.`])}export interface ${name} {\n${fields.join('')}}\n`,
  );
}

/** The text of `schemas/generated/types.ts` for the given schemas (default: the ones in `schemas/avro/`). */
export async function generateTypes(files: readonly AvroSchemaFile[] = loadAvroSchemas()): Promise<string> {
  const em: Emitter = { emitted: new Set(), out: [] };
  for (const file of files) tsType(file.schema, em, '');
  const header = [
    '// Generated by schemas/codegen.ts from schemas/avro/*.avsc. Do not edit: change the .avsc and run',
    '// `tsx schemas/codegen.ts`.',
    '',
    '',
  ].join('\n');
  const source = `${header}${em.out.join('\n')}`;
  const config = (await prettier.resolveConfig(GENERATED_TYPES_PATH)) ?? {};
  return prettier.format(source, { ...config, filepath: GENERATED_TYPES_PATH });
}

/** Regenerate `schemas/generated/types.ts` on disk. */
export async function writeGeneratedTypes(): Promise<string> {
  const text = await generateTypes();
  mkdirSync(dirname(GENERATED_TYPES_PATH), { recursive: true });
  writeFileSync(GENERATED_TYPES_PATH, text);
  return GENERATED_TYPES_PATH;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeGeneratedTypes().then(
    (path) => process.stdout.write(`wrote ${path}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
