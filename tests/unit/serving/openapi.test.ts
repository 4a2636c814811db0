/**
 * docs/openapi.yaml documents POST /v1/captions as the route declares it: security, status codes,
 * the 200 schema, and the options the route validates.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { CaptionOptionsSchema, CaptionResponse } from '../../../services/serving/caption-route.ts';

type Json = Record<string, unknown>;
const doc = parse(readFileSync(new URL('../../../docs/openapi.yaml', import.meta.url), 'utf8')) as Json;

function resolve(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(resolve);
  if (typeof value !== 'object' || value === null) return value;
  const { $ref, description: _d, ...rest } = value as Json;
  let base: Json = {};
  if (typeof $ref === 'string') {
    let node: unknown = doc;
    for (const key of $ref.slice(2).split('/')) node = (node as Json)[key];
    base = resolve(node) as Json;
  }
  return { ...base, ...Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, resolve(v)])) };
}

const op = ((doc.paths as Json)['/v1/captions'] as Json).post as Json;

test('POST /v1/captions is documented with its security and status codes', () => {
  assert.deepEqual(op.security, [{ apiKey: [] }, { bearer: [] }]);
  assert.deepEqual(Object.keys(op.responses as Json).sort(), [
    '200',
    '400',
    '401',
    '403',
    '404',
    '413',
    '415',
    '429',
    '504',
    '5XX',
  ]);
});

test('the documented 200 body is the schema the route serializes with', () => {
  const documented = resolve(
    ((((op.responses as Json)['200'] as Json).content as Json)['application/json'] as Json).schema,
  );
  assert.deepEqual(documented, resolve(CaptionResponse));
});

test('CaptionOptions documents the options the route validates', () => {
  const zodSchema = z.toJSONSchema(CaptionOptionsSchema) as Json;
  const documented = resolve(((doc.components as Json).schemas as Json).CaptionOptions) as Json;
  assert.deepEqual(
    Object.keys(documented.properties as Json).sort(),
    Object.keys(zodSchema.properties as Json).sort(),
  );
  assert.equal(documented.additionalProperties, false);
});
