import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GENERATED_TYPES_PATH, generateTypes } from '../../../schemas/codegen.ts';
import { parseAvroSchemaSources } from '../../../schemas/avro-schemas.ts';

test('schemas/generated/types.ts is up to date with schemas/avro (run `tsx schemas/codegen.ts`)', async () => {
  const expected = await generateTypes();
  const actual = readFileSync(GENERATED_TYPES_PATH, 'utf8');
  assert.ok(actual === expected, 'schemas/generated/types.ts is stale: run `npx tsx schemas/codegen.ts`');
});

test('codegen maps unions with null, enums, arrays, maps, bytes and logical types', async () => {
  const [file] = parseAvroSchemaSources([
    {
      file: 't.avsc',
      text: JSON.stringify({
        type: 'record',
        name: 'T',
        namespace: 'x',
        doc: 'A test record. */ still a comment',
        fields: [
          { name: 'at', doc: 'When.', type: { type: 'long', logicalType: 'timestamp-millis' } },
          { name: 'maybe', type: ['null', 'string'], default: null },
          { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['a', 'b'] } },
          { name: 'tags', type: { type: 'array', items: ['null', 'int'] } },
          { name: 'scores', type: { type: 'map', values: 'double' } },
          { name: 'raw', type: 'bytes' },
        ],
      }),
    },
  ]);
  assert.ok(file);
  const text = await generateTypes([file]);
  assert.match(text, /export type Kind = 'a' \| 'b';/);
  assert.match(text, /export const KindSymbols = \['a', 'b'\] as const;/);
  assert.match(text, /export interface T \{/);
  assert.match(text, /at: number;/);
  assert.match(text, /Epoch milliseconds, UTC \(Avro `timestamp-millis`\)/);
  assert.match(text, /maybe: string \| null;/);
  assert.match(text, /tags: Array<number \| null>;/);
  assert.match(text, /scores: Record<string, number>;/);
  assert.match(text, /raw: Buffer;/);
  assert.doesNotMatch(text, /\*\/ still/, 'a doc must not close the comment early');
});
