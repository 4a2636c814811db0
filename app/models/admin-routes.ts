/**
 * Admin routes over the model registry (API key required): list the versions with their
 * aliases, source and scores (role `read`); promote a version to an alias and roll an alias back
 * (role `admin`), each emitting `model.promoted` so serving replicas hot-swap — what
 * `captionflow models list|promote|rollback` do. Documented in docs/openapi.yaml (tag `admin`).
 * Imports stay on the command line: they read a folder on the importing host.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AUTH_ERRORS, ErrorBody } from '../../runtime/http/error-body.ts';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { promoteVersion, rollbackAlias, PROMOTABLE_ALIASES, type PromotableAlias, type PromotionDecision, type RegistryDeps } from '../../runtime/lake/model-registry.ts';
import { modelVersions } from './model-versions.ts';

const ModelVersionSchema = {
  type: 'object',
  required: ['version', 'aliases', 'source', 'format', 'status', 'datasetId', 'metrics', 'createdAt'],
  properties: {
    version: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
    source: { type: 'string', enum: ['trained', 'imported'] },
    format: { type: 'string' },
    status: { type: 'string' },
    datasetId: { type: ['string', 'null'] },
    metrics: { type: 'object', additionalProperties: { type: 'number' } },
    createdAt: { type: 'string' },
  },
} as const;

const ModelListSchema = {
  type: 'object',
  required: ['model', 'versions'],
  properties: { model: { type: 'string' }, versions: { type: 'array', items: ModelVersionSchema } },
} as const;

const AliasChangeSchema = {
  type: 'object',
  required: ['changed', 'alias', 'version', 'reason'],
  properties: {
    changed: { type: 'boolean' },
    alias: { type: 'string' },
    version: { type: 'string' },
    reason: { type: 'string' },
  },
} as const;

const PromoteRequest = {
  type: 'object',
  additionalProperties: false,
  properties: {
    alias: { type: 'string', enum: [...PROMOTABLE_ALIASES], default: 'champion' },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
  },
} as const;

const RollbackRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { alias: { type: 'string', enum: [...PROMOTABLE_ALIASES], default: 'champion' } },
} as const;

const VersionParams = { type: 'object', required: ['version'], properties: { version: { type: 'string', minLength: 1, maxLength: 200 } } } as const;

/** The schemas docs/openapi.yaml documents (components.schemas). */
export const MODEL_ADMIN_SCHEMAS = { ModelVersion: ModelVersionSchema, ModelList: ModelListSchema, AliasChange: AliasChangeSchema, PromoteRequest, RollbackRequest } as const;

/** What the routes need: the registry (with a producer for model.promoted) and the model served. */
export interface ModelAdminDeps {
  readonly registry: RegistryDeps;
  readonly modelName: string;
}

const READ = { auth: 'api-key', role: 'read' } as const;
const ADMIN = { auth: 'api-key', role: 'admin' } as const;
const WRITE_ERRORS = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS } as const;

/** An empty body is `{}` (the alias defaults to champion). */
const emptyBody = (req: { body: unknown }, _reply: FastifyReply, done: () => void): void => {
  req.body ??= {};
  done();
};

function answer(alias: string, d: PromotionDecision) {
  return { changed: d.promoted, alias, version: d.champion ?? '', reason: d.reason };
}

/** Registry errors as 404 (unknown version, nothing to roll back to) or 409 (the alias moved meanwhile, an archived version). */
async function registryError(reply: FastifyReply, err: unknown): Promise<void> {
  const code = (err as { code?: unknown }).code;
  const status = code === ErrorCodes.OBJECT_NOT_FOUND ? 404 : code === ErrorCodes.CATALOG_CONFLICT || code === ErrorCodes.MODEL_INVALID ? 409 : 0;
  if (status === 0) throw err;
  const pe = err as PipelineError;
  await reply.code(status).send({ error: { code: pe.code, message: pe.message, context: pe.context ?? {} } });
}

/** Register `GET /admin/models`, `POST /admin/models/:version/promote` and `POST /admin/models/rollback`. */
export function registerModelAdminRoutes(app: FastifyInstance, deps: ModelAdminDeps): void {
  const { registry, modelName } = deps;
  app.get('/admin/models', { config: READ, schema: { response: { 200: ModelListSchema, ...AUTH_ERRORS } } }, async () => ({
    model: modelName,
    versions: await modelVersions(registry.catalog, modelName),
  }));
  app.post(
    '/admin/models/:version/promote',
    { config: ADMIN, preValidation: emptyBody, schema: { params: VersionParams, body: PromoteRequest, response: { 200: AliasChangeSchema, ...WRITE_ERRORS } } },
    async (req, reply) => {
      const { version } = req.params as { version: string };
      const { alias, reason } = req.body as { alias: PromotableAlias; reason?: string };
      try {
        // An alias (candidate, challenger) names the version it points to, as on the command line.
        const target = (await registry.catalog.models.get(version)) ?? (await registry.catalog.models.byAlias(modelName, version));
        if (target === null) throw new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `model ${modelName} has no version or alias ${version}`, { context: { version } });
        return answer(alias, await promoteVersion(registry, modelName, target.id, alias, reason ?? 'manual promotion (admin API)'));
      } catch (err) {
        return registryError(reply, err);
      }
    },
  );
  app.post(
    '/admin/models/rollback',
    { config: ADMIN, preValidation: emptyBody, schema: { body: RollbackRequest, response: { 200: AliasChangeSchema, ...WRITE_ERRORS } } },
    async (req, reply) => {
      const { alias } = req.body as { alias: PromotableAlias };
      try {
        return answer(alias, await rollbackAlias(registry, modelName, alias));
      } catch (err) {
        return registryError(reply, err);
      }
    },
  );
}
