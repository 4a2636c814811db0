/**
 * Admin routes over the topologies a process runs (API key required): list them with their
 * pause state, pause one (it stops fetching; in-flight records finish and commit; the consumer
 * stays in its group) and resume it. Pauses carry a reason and add up with the runner's own
 * (`sink-unavailable`): fetching restarts only when none is left. Documented in
 * docs/openapi.yaml (tag `admin`).
 */
import type { FastifyInstance } from 'fastify';
import type { RunningTopology } from '../engine/runner.ts';
import { AUTH_ERRORS, ErrorBody } from './error-body.ts';

/** A pause reason: a short slug, so it reads well in logs and metrics. */
export const PAUSE_REASON_PATTERN = '^[a-z0-9][a-z0-9-]{0,63}$';

/** One topology as the admin routes show it. */
export const TopologyStatus = {
  type: 'object',
  required: ['name', 'paused', 'pausedFor'],
  properties: {
    name: { type: 'string' },
    paused: { type: 'boolean' },
    pausedFor: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const TopologyList = {
  type: 'object',
  required: ['topologies'],
  properties: { topologies: { type: 'array', items: TopologyStatus } },
} as const;

export const PauseRequest = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', pattern: PAUSE_REASON_PATTERN } },
} as const;

const NameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

function statusOf(t: RunningTopology): { name: string; paused: boolean; pausedFor: string[] } {
  return { name: t.name, paused: t.pausedFor.length > 0, pausedFor: [...t.pausedFor] };
}

/** Register `GET /admin/topologies` and `POST /admin/topologies/:name/{pause,resume}`. */
export function registerTopologyAdminRoutes(app: FastifyInstance, topologies: readonly RunningTopology[]): void {
  const byName = new Map(topologies.map((t) => [t.name, t]));
  app.get(
    '/admin/topologies',
    { config: { auth: 'api-key' }, schema: { response: { 200: TopologyList, ...AUTH_ERRORS } } },
    () => ({ topologies: topologies.map(statusOf) }),
  );
  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/admin/topologies/:name/${action}`,
      {
        config: { auth: 'api-key' },
        // The body is optional: none means `{}` (reason `operator`).
        preValidation: (req, _reply, done) => {
          req.body ??= {};
          done();
        },
        schema: {
          params: NameParams,
          body: PauseRequest,
          response: { 200: TopologyStatus, 400: ErrorBody, 404: ErrorBody, ...AUTH_ERRORS },
        },
      },
      async (req, reply) => {
        const { name } = req.params as { name: string };
        const t = byName.get(name);
        if (t === undefined) {
          return reply.code(404).send({
            error: { code: 'TOPOLOGY_UNKNOWN', message: `no topology ${name} runs here`, context: { name, known: [...byName.keys()] } },
          });
        }
        const reason = (req.body as { reason?: string }).reason ?? 'operator';
        if (action === 'pause') t.pause(reason);
        else t.resume(reason);
        req.log.info({ topology: name, action, reason, pausedFor: t.pausedFor }, `topology ${action} requested`);
        return statusOf(t);
      },
    );
  }
}
