/**
 * Admin routes over the jobs (API key required): list them with their schedule, triggers,
 * current lease and last run; a job's run history; trigger a run now (answered when the run
 * ends: succeeded, failed, or skipped because another replica holds the lease). Documented in
 * docs/openapi.yaml (tag `admin`).
 */
import type { FastifyInstance } from 'fastify';
import { AUTH_ERRORS, ErrorBody } from '../../runtime/http/error-body.ts';
import type { JobRunRecord } from '../../runtime/catalog/catalog.ts';
import type { Scheduler } from './scheduler.ts';

const JobRunSchema = {
  type: 'object',
  required: ['id', 'name', 'status', 'attempts', 'log'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string' },
    trigger: { type: ['string', 'null'] },
    triggerDetail: { type: ['string', 'null'] },
    holder: { type: ['string', 'null'] },
    startedAt: { type: ['string', 'null'] },
    finishedAt: { type: ['string', 'null'] },
    durationMs: { type: ['number', 'null'] },
    attempts: { type: 'integer' },
    params: { type: 'object', additionalProperties: true },
    result: { type: ['object', 'null'], additionalProperties: true },
    error: { type: ['object', 'null'], additionalProperties: true },
    log: { type: 'array', items: { type: 'string' } },
  },
} as const;

const JobListSchema = {
  type: 'object',
  required: ['jobs'],
  properties: {
    jobs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'description', 'schedule', 'triggers', 'lease', 'lastRun'],
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          schedule: { type: ['string', 'null'] },
          triggers: { type: 'array', items: { type: 'string' } },
          lease: { type: ['object', 'null'], additionalProperties: true },
          lastRun: { anyOf: [JobRunSchema, { type: 'null' }] },
        },
      },
    },
  },
} as const;

const JobHistorySchema = { type: 'object', required: ['runs'], properties: { runs: { type: 'array', items: JobRunSchema } } } as const;

const JobOutcomeSchema = {
  type: 'object',
  required: ['runId', 'status', 'outputs'],
  properties: {
    runId: { type: 'string' },
    status: { type: 'string', enum: ['succeeded', 'failed', 'skipped'] },
    outputs: { type: 'object', additionalProperties: { type: 'string' } },
    error: { type: 'object', additionalProperties: true },
  },
} as const;

const JobRunRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { params: { type: 'object', additionalProperties: { type: 'string', maxLength: 1000 } } },
} as const;

const NameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 100 } } } as const;
const HistoryQuery = { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 20 } } } as const;

/** The schemas docs/openapi.yaml documents (components.schemas). */
export const JOB_ADMIN_SCHEMAS = { JobRun: JobRunSchema, JobList: JobListSchema, JobHistory: JobHistorySchema, JobOutcome: JobOutcomeSchema, JobRunRequest } as const;

/** A run record with its duration. */
export function withDuration(r: JobRunRecord): JobRunRecord & { durationMs: number | null } {
  const durationMs = r.startedAt !== null && r.finishedAt !== null ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null;
  return { ...r, durationMs };
}

function unknownJob(scheduler: Scheduler, name: string) {
  return { error: { code: 'JOB_UNKNOWN', message: `no job ${name}`, context: { name, known: scheduler.names } } };
}

/** Register `GET /admin/jobs`, `GET /admin/jobs/:name/runs` and `POST /admin/jobs/:name/run`. */
export function registerJobAdminRoutes(app: FastifyInstance, scheduler: Scheduler): void {
  app.get('/admin/jobs', { config: { auth: 'api-key' }, schema: { response: { 200: JobListSchema, ...AUTH_ERRORS } } }, async () => ({
    jobs: (await scheduler.list()).map((j) => ({ ...j, lastRun: j.lastRun === null ? null : withDuration(j.lastRun) })),
  }));
  app.get(
    '/admin/jobs/:name/runs',
    { config: { auth: 'api-key' }, schema: { params: NameParams, querystring: HistoryQuery, response: { 200: JobHistorySchema, 400: ErrorBody, 404: ErrorBody, ...AUTH_ERRORS } } },
    async (req, reply) => {
      const { name } = req.params as { name: string };
      if (!scheduler.names.includes(name)) return reply.code(404).send(unknownJob(scheduler, name));
      const { limit } = req.query as { limit: number };
      return { runs: (await scheduler.history(name, limit)).map(withDuration) };
    },
  );
  app.post(
    '/admin/jobs/:name/run',
    {
      config: { auth: 'api-key' },
      preValidation: (req, _reply, done) => {
        req.body ??= {};
        done();
      },
      schema: { params: NameParams, body: JobRunRequest, response: { 200: JobOutcomeSchema, 400: ErrorBody, 404: ErrorBody, ...AUTH_ERRORS } },
    },
    async (req, reply) => {
      const { name } = req.params as { name: string };
      if (!scheduler.names.includes(name)) return reply.code(404).send(unknownJob(scheduler, name));
      const { params } = req.body as { params?: Record<string, string> };
      const o = await scheduler.trigger(name, { trigger: 'manual', detail: 'admin API', params: params ?? {} });
      return { runId: o.runId, status: o.status, outputs: o.outputs, ...(o.error === undefined ? {} : { error: { code: String(o.error.code), message: o.error.message, retriable: o.error.retriable } }) };
    },
  );
}
