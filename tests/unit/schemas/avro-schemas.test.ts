import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { loadAvroSchemas, parseAvroSchemaSources } from '../../../schemas/avro-schemas.ts';
import type { AvroSchemaJson } from '../../../schemas/avro-schemas.ts';
import { PipelineError } from '../../../schemas/errors.ts';

type Node = { readonly [key: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Visit every named type definition and every field of a schema. */
function visit(
  schema: unknown,
  onNamed: (def: Node) => void,
  onField: (owner: string, field: Node) => void,
): void {
  if (Array.isArray(schema)) return schema.forEach((s) => visit(s, onNamed, onField));
  if (!isNode(schema)) return;
  const kind = schema['type'];
  if (kind === 'record' || kind === 'enum' || kind === 'fixed') onNamed(schema);
  if (kind === 'record') {
    for (const field of schema['fields'] as Node[]) {
      onField(String(schema['name']), field);
      visit(field['type'], onNamed, onField);
    }
  } else if (kind === 'array') visit(schema['items'], onNamed, onField);
  else if (kind === 'map') visit(schema['values'], onNamed, onField);
  else if (isNode(kind) || Array.isArray(kind)) visit(kind, onNamed, onField);
}

const files = loadAvroSchemas();

test('every .avsc file parses into a self-contained schema that avsc accepts on its own', () => {
  assert.ok(files.length >= 9, `expected the topic schemas, found ${files.length} files`);
  for (const file of files) {
    // No registry: every named reference must have been inlined.
    assert.doesNotThrow(() => avro.Type.forSchema(file.schema as avro.Schema), file.file);
  }
});

test('every record, enum and field of every schema has a doc, in namespace io.captionflow.v1', () => {
  const missing: string[] = [];
  for (const file of files) {
    assert.equal(file.fullName.startsWith('io.captionflow.v1.'), true, `${file.file}: ${file.fullName}`);
    visit(
      file.source,
      (def) => {
        if (typeof def['doc'] !== 'string' || def['doc'] === '')
          missing.push(`${file.file}: type ${String(def['name'])}`);
      },
      (owner, field) => {
        if (typeof field['doc'] !== 'string' || field['doc'] === '')
          missing.push(`${file.file}: ${owner}.${String(field['name'])}`);
      },
    );
  }
  assert.deepEqual(missing, []);
});

test('optional fields are [null, T] unions with default null, so they can be added and removed', () => {
  const wrong: string[] = [];
  for (const file of files) {
    visit(
      file.source,
      () => undefined,
      (owner, field) => {
        const type = field['type'];
        if (Array.isArray(type) && type.includes('null')) {
          if (type[0] !== 'null' || field['default'] !== null)
            wrong.push(`${file.file}: ${owner}.${String(field['name'])}`);
        }
      },
    );
  }
  assert.deepEqual(wrong, []);
});

test('event ids are uuid strings and times are timestamp-millis longs', () => {
  const wrong: string[] = [];
  for (const file of files) {
    visit(
      file.source,
      () => undefined,
      (owner, field) => {
        const name = String(field['name']);
        const branches: unknown[] = Array.isArray(field['type']) ? field['type'] : [field['type']];
        const main = branches.find((b) => b !== 'null');
        if (name === 'eventId' || name === 'ingestEventId' || name === 'runId') {
          if (!isNode(main) || main['type'] !== 'string' || main['logicalType'] !== 'uuid')
            wrong.push(`${owner}.${name}`);
        }
        if (/At$/.test(name) || name === 'at' || name === 'originalTimestamp') {
          if (!isNode(main) || main['type'] !== 'long' || main['logicalType'] !== 'timestamp-millis')
            wrong.push(`${owner}.${name}`);
        }
      },
    );
  }
  assert.deepEqual(wrong, []);
});

test('image records carry the shared Lineage by name rather than redefining it', () => {
  for (const name of ['image-ingested.avsc', 'image-normalized.avsc', 'image-curated.avsc']) {
    const file = files.find((f) => f.file === name);
    assert.ok(file, name);
    const fields = (file.source as Node)['fields'] as Node[];
    assert.equal(fields.find((f) => f['name'] === 'lineage')?.['type'], 'io.captionflow.v1.Lineage', name);
  }
});

test('expansion keeps logical types, docs and defaults that avsc export would drop', () => {
  const ingested = files.find((f) => f.file === 'image-ingested.avsc');
  assert.ok(ingested);
  const text = JSON.stringify(ingested.schema);
  assert.match(text, /"logicalType":"timestamp-millis"/);
  assert.match(text, /"logicalType":"uuid"/);
  assert.match(text, /"name":"Lineage","namespace":"io.captionflow.v1","doc":/);
  // ObjectRef is defined once (at `object`), then referenced by name inside lineage.objects.
  assert.equal(text.match(/"name":"ObjectRef"/g)?.length, 1);
  assert.match(text, /"items":"io.captionflow.v1.ObjectRef"/);
});

test('an unknown type name is reported with the file that uses it', () => {
  const schema: AvroSchemaJson = {
    type: 'record',
    name: 'A',
    namespace: 'x',
    fields: [{ name: 'b', type: 'x.Missing' }],
  };
  assert.throws(
    () => parseAvroSchemaSources([{ file: 'a.avsc', text: JSON.stringify(schema) }]),
    (err: unknown) =>
      err instanceof PipelineError &&
      err.code === 'SCHEMA_MISMATCH' &&
      /a\.avsc: unknown type name x\.Missing/.test(err.message),
  );
});

test('a type defined in two files is rejected', () => {
  const enumDef = { type: 'enum', name: 'E', namespace: 'x', symbols: ['a'] };
  assert.throws(
    () =>
      parseAvroSchemaSources([
        { file: 'a.avsc', text: JSON.stringify(enumDef) },
        { file: 'b.avsc', text: JSON.stringify(enumDef) },
      ]),
    /b\.avsc: type x\.E is already defined in a\.avsc/,
  );
});
