/**
 * docs/openapi.yaml documents POST /v1/captions as the route declares it: security, status codes,
 * the 200 schema, and the options the route validates.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { CaptionOptionsSchema, CaptionResponse } from '../../../services/serving/caption-route.ts';
import { openApiDoc, resolveRefs } from '../../fixtures/openapi-doc.ts';

type Json = Record<string, unknown>;
const op = ((openApiDoc.paths as Json)['/v1/captions'] as Json).post as Json;

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
  const documented = resolveRefs(
    ((((op.responses as Json)['200'] as Json).content as Json)['application/json'] as Json).schema,
  );
  assert.deepEqual(documented, resolveRefs(CaptionResponse));
});

test('CaptionOptions documents the options the route validates', () => {
  const zodSchema = z.toJSONSchema(CaptionOptionsSchema) as Json;
  const documented = resolveRefs(((openApiDoc.components as Json).schemas as Json).CaptionOptions) as Json;
  assert.deepEqual(
    Object.keys(documented.properties as Json).sort(),
    Object.keys(zodSchema.properties as Json).sort(),
  );
  assert.equal(documented.additionalProperties, false);
});
