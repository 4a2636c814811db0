import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { DOCUMENTED_SCHEMAS } from '../../../../services/ingest/http-schemas.ts';
import { CaptureMetadataSchema } from '../../../../services/ingest/capture-metadata.ts';
import { ingestHarness } from './ingest-harness.ts';

type Json = Record<string, unknown>;

const DOC_PATH = new URL('../../../../docs/openapi.yaml', import.meta.url);
const doc = parse(readFileSync(DOC_PATH, 'utf8')) as Json;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** Keys that document a schema without changing what it accepts. */
const PROSE = new Set(['description', 'summary', 'example', 'examples', '$comment', 'title']);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function lookup(ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local $refs: ${ref}`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    assert.ok(isObject(node) && key in node, `unresolved $ref ${ref}`);
    node = node[key];
  }
  return node;
}

/** `value` with every $ref replaced by its target (siblings of a $ref kept) and prose removed. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isObject(value)) return value;
  const { $ref, ...rest } = value;
  const base = typeof $ref === 'string' ? (canonical(lookup($ref)) as Json) : {};
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(rest)) if (!PROSE.has(k)) out[k] = canonical(v);
  return out;
}

function operations(): { path: string; method: string; op: Json }[] {
  const out: { path: string; method: string; op: Json }[] = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const method of METHODS)
      if (isObject(item) && isObject(item[method])) out.push({ path, method, op: item[method] });
  }
  return out;
}

async function registeredRoutes(): Promise<{
  routes: RouteOptions[];
  app: FastifyInstance;
  close: () => Promise<void>;
}> {
  const routes: RouteOptions[] = [];
  const h = await ingestHarness({
    beforeRoutes: (app) => app.addHook('onRoute', (r) => void routes.push(r)),
  });
  await h.app.ready();
  return { routes: routes.filter((r) => r.method !== 'HEAD'), app: h.app, close: () => h.close() };
}

const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

test('docs/openapi.yaml is OpenAPI 3.1 and every $ref resolves', () => {
  assert.match(String(doc.openapi), /^3\.1\.\d+$/);
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      if (typeof v.$ref === 'string') lookup(v.$ref);
      Object.values(v).forEach(walk);
    }
  };
  walk(doc);
  const schemes = (doc.components as Json).securitySchemes as Json;
  assert.deepEqual(schemes.apiKey, {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: (schemes.apiKey as Json).description,
  });
  assert.equal((schemes.bearer as Json).scheme, 'bearer');
});

test('every ingest route is documented with its method, security, status codes and schemas', async () => {
  const { routes, close } = await registeredRoutes();
  try {
    assert.deepEqual(routes.map((r) => `${String(r.method)} ${r.url}`).sort(), [
      'GET /v1/review/queue',
      'POST /v1/captures',
      'POST /v1/images',
      'POST /v1/review/:imageId',
    ]);
    for (const route of routes) {
      const name = `${String(route.method)} ${route.url}`;
      const path = openapiPath(route.url);
      const op = ((doc.paths as Json)[path] as Json | undefined)?.[String(route.method).toLowerCase()] as
        Json | undefined;
      assert.ok(op, `${name} is missing from docs/openapi.yaml (as ${path})`);
      if (route.config?.auth === 'api-key')
        assert.deepEqual(op.security, [{ apiKey: [] }, { bearer: [] }], `${name}: security`);

      const schema = (route.schema ?? {}) as Json;
      const responses = op.responses as Json;
      const routeCodes = Object.keys((schema.response ?? {}) as Json).map((c) => c.toLowerCase());
      assert.deepEqual(
        Object.keys(responses)
          .map((c) => c.toLowerCase())
          .sort(),
        routeCodes.sort(),
        `${name}: status codes`,
      );
      for (const [code, expected] of Object.entries((schema.response ?? {}) as Json)) {
        const documented = Object.entries(responses).find(
          ([c]) => c.toLowerCase() === code.toLowerCase(),
        )?.[1];
        const body = ((canonical(documented) as Json).content as Json)['application/json'] as Json;
        assert.deepEqual(body.schema, canonical(expected), `${name}: response ${code}`);
      }

      const parameters = ((op.parameters ?? []) as unknown[]).map((p) => canonical(p) as Json);
      for (const [where, key] of [
        ['path', 'params'],
        ['query', 'querystring'],
      ] as const) {
        const declared = (schema[key] ?? { properties: {} }) as { properties: Json; required?: string[] };
        const documented = parameters.filter((p) => p.in === where);
        assert.deepEqual(
          documented.map((p) => p.name).sort(),
          Object.keys(declared.properties).sort(),
          `${name}: ${where} parameters`,
        );
        for (const p of documented) {
          assert.deepEqual(
            p.schema,
            canonical(declared.properties[String(p.name)]),
            `${name}: ${where} parameter ${String(p.name)}`,
          );
          assert.equal(
            p.required === true,
            where === 'path' || (declared.required ?? []).includes(String(p.name)),
            `${name}: ${String(p.name)} required`,
          );
        }
      }
      const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Json;
      if (schema.body !== undefined) {
        assert.deepEqual(
          ((canonical(content) as Json)['application/json'] as Json).schema,
          canonical(schema.body),
          `${name}: request body`,
        );
      } else if (route.method !== 'GET') {
        // A multipart route: its body cannot be a Fastify schema, but it must be documented.
        assert.ok(
          isObject(content['multipart/form-data']),
          `${name}: multipart/form-data request body documented`,
        );
      }
    }
  } finally {
    await close();
  }
});

test('components.schemas match the schemas the routes validate and serialize with', () => {
  const schemas = (doc.components as Json).schemas as Json;
  for (const [name, schema] of Object.entries(DOCUMENTED_SCHEMAS)) {
    assert.ok(name in schemas, `components.schemas.${name} is missing`);
    assert.deepEqual(canonical(schemas[name]), canonical(schema), `components.schemas.${name}`);
  }
});

test('CaptureMetadata documents the zod schema the capture route validates with', () => {
  const zodSchema = z.toJSONSchema(CaptureMetadataSchema, { io: 'input' }) as Json;
  const documented = ((doc.components as Json).schemas as Json).CaptureMetadata as Json;
  const shape = (s: Json): { properties: string[]; required: string[] } => ({
    properties: Object.keys(s.properties ?? {}).sort(),
    required: ((s.required ?? []) as string[]).slice().sort(),
  });
  assert.deepEqual(shape(documented), shape(zodSchema));
  const zodLocation = ((zodSchema.properties as Json).location as { anyOf?: Json[] }).anyOf?.find(
    (s) => s.type === 'object',
  );
  assert.ok(zodLocation, 'location is an object in the zod schema');
  assert.deepEqual(shape((documented.properties as Json).location as Json), shape(zodLocation));
});

test('every operation of the ingest tags is a registered route, and each needs the API key', async () => {
  const { routes, app, close } = await registeredRoutes();
  try {
    const registered = new Set(routes.map((r) => `${String(r.method).toLowerCase()} ${openapiPath(r.url)}`));
    for (const { path, method, op } of operations()) {
      const tags = (op.tags ?? []) as string[];
      if (!tags.some((t) => ['ingest', 'capture', 'review'].includes(t))) continue;
      assert.ok(
        registered.has(`${method} ${path}`),
        `${method.toUpperCase()} ${path} is documented but not registered`,
      );
    }
    for (const route of routes) {
      const url = route.url.replace(':imageId', 'a'.repeat(64));
      const res = await app.inject({ method: route.method as 'GET' | 'POST', url });
      assert.equal(res.statusCode, 401, `${String(route.method)} ${route.url} without a key`);
    }
  } finally {
    await close();
  }
});
