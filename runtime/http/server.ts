import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { bucketKeyOf, TokenBucketLimiter, type RateLimitOptions } from './rate-limit.ts';

/** Options of the HTTP edge. */
export interface HttpServerOptions {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Keys accepted on routes that ask for one (`x-api-key` or `Authorization: Bearer`). A key may
   * end in `:read`, `:write` or `:admin` to give it that role (see {@link parseApiKey}); a key
   * without a role is `admin`, so key lists written before roles existed keep working.
   */
  readonly apiKeys: readonly string[];
  /** Largest request body in bytes (uploads have their own, stricter multipart limits). */
  readonly bodyLimit?: number;
  /** Readiness probes: each returns normally when its dependency is usable. */
  readonly readiness?: Record<string, () => Promise<void>>;
  /**
   * Per-API-key token buckets on the routes that take a key and are not GET (mutating routes and
   * `POST /v1/captions`): beyond them 429 `RATE_LIMITED` with `Retry-After`. None: no limit.
   */
  readonly rateLimit?: RateLimitOptions;
  /** Milliseconds clock of the rate limiter (tests). */
  readonly now?: () => number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `api-key`: the route needs one of the configured API keys. */
    auth?: 'api-key';
    /** The least role the key must have (default `write`: before roles, keys guarded only mutating routes). */
    role?: ApiKeyRole;
    /** Rate-limit this route per key (default: routes with an API key that are not GET). */
    rateLimited?: boolean;
  }
}

/** The longest path parameter a route sees (longer ones are answered 414 `FST_ERR_MAX_PARAM_LENGTH`). */
export const MAX_PARAM_LENGTH = 512;

/** What an API key may do: `read` the lake; `write` (ingest, review) too; `admin` (snapshots, exports, replay, pause) too. */
export type ApiKeyRole = 'read' | 'write' | 'admin';

const ROLE_RANK: Record<ApiKeyRole, number> = { read: 0, write: 1, admin: 2 };

/** A configured key and its role. */
export interface ApiKey {
  readonly key: string;
  readonly role: ApiKeyRole;
}

/** `secret:read` → read, `secret:write` → write, `secret:admin` or `secret` → admin. */
export function parseApiKey(entry: string): ApiKey {
  const m = /^(.+):(read|write|admin)$/.exec(entry);
  return m === null ? { key: entry, role: 'admin' } : { key: m[1]!, role: m[2] as ApiKeyRole };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time membership test of a presented key (hashing first equalizes lengths). */
export function keyMatches(presented: string, keys: readonly string[]): boolean {
  return roleOf(presented, keys.map((k) => ({ key: k, role: 'admin' }))) !== null;
}

/** The role of a presented key, or null when it is none of `keys` (every key is compared: constant time). */
export function roleOf(presented: string, keys: readonly ApiKey[]): ApiKeyRole | null {
  const p = digest(presented);
  let role: ApiKeyRole | null = null;
  for (const k of keys) if (timingSafeEqual(p, digest(k.key)) && (role === null || ROLE_RANK[k.role] > ROLE_RANK[role])) role = k.role;
  return role;
}

function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  return undefined;
}

/** HTTP status of an error code: bad input is 4xx with a reason, infrastructure is 503. */
export function statusOf(err: PipelineError): number {
  switch (err.code) {
    case ErrorCodes.IMAGE_TOO_LARGE:
      return 413;
    case ErrorCodes.UNSUPPORTED_FORMAT:
      return 415;
    case ErrorCodes.OBJECT_NOT_FOUND:
      return 404;
    case ErrorCodes.STORAGE_UNAVAILABLE:
    case ErrorCodes.CATALOG_UNAVAILABLE:
    case ErrorCodes.BROKER_UNAVAILABLE:
    case ErrorCodes.SHUTDOWN:
      return 503;
    case ErrorCodes.INTERNAL:
      return 500;
    default:
      return err.retriable ? 503 : 400;
  }
}

/**
 * The HTTP edge shared by every service: Fastify with JSON logs, API-key auth on routes that
 * ask for it, errors as `{ error: { code, message } }` with a 4xx/5xx status, `/healthz`,
 * `/readyz`, and `/metrics` with per-route request counters and latency histograms.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = options.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    trustProxy: true,
    // Past Fastify's default of 100 characters a path parameter got a bare 414 before any route
    // saw it; this is above every documented maxLength, so routes answer their own 400/404.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before a route is found (a bad %-escape: 400, a path parameter
    // over the limit: 414) get the same `{ error: { code, message } }` body as every other error.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      void reply.code(err.statusCode ?? 400).send({ error: { code: err.code, message: err.message } });
    },
  });

  const keys = options.apiKeys.map(parseApiKey);
  const limiter = options.rateLimit === undefined ? undefined : new TokenBucketLimiter(options.rateLimit, options.now);
  const limited = options.metrics.counter({ topology: 'http', step: 'rate-limit', outcome: 'RATE_LIMITED' });
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.auth !== 'api-key') return;
    const key = presentedKey(req);
    if (options.apiKeys.length === 0) {
      await reply.code(503).send({ error: { code: 'AUTH_NOT_CONFIGURED', message: 'no API keys are configured (CAPTIONFLOW_API_KEYS)' } });
      return;
    }
    if (key === undefined) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'UNAUTHENTICATED', message: 'an API key is required (x-api-key header or Authorization: Bearer)' } });
      return;
    }
    const role = roleOf(key, keys);
    if (role === null) {
      await reply.code(403).send({ error: { code: 'FORBIDDEN', message: 'the API key is not valid' } });
      return;
    }
    const needed = req.routeOptions.config.role ?? 'write';
    if (ROLE_RANK[role] < ROLE_RANK[needed]) {
      await reply.code(403).send({ error: { code: 'ROLE_INSUFFICIENT', message: `this route needs a key with role ${needed}; the key has role ${role}`, context: { needed, role } } });
      return;
    }
    if (limiter !== undefined && (req.routeOptions.config.rateLimited ?? (req.method !== 'GET' && req.method !== 'HEAD'))) {
      const decision = limiter.take(bucketKeyOf(key));
      if (!decision.ok) {
        limited();
        await reply
          .code(429)
          .header('retry-after', String(decision.retryAfterSeconds))
          .send({ error: { code: 'RATE_LIMITED', message: `too many requests for this API key; retry after ${decision.retryAfterSeconds}s`, context: { retryAfterSeconds: decision.retryAfterSeconds } } });
      }
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const step = `${req.method} ${req.routeOptions.url ?? 'unmatched'}`;
    const labels = { topology: 'http', step, outcome: String(reply.statusCode) };
    options.metrics.count(labels);
    options.metrics.observe(labels, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(async (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const fastifyStatus = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof PipelineError) && fastifyStatus !== undefined && fastifyStatus < 500) {
      const code = (err as { code?: string }).code ?? 'BAD_REQUEST';
      await reply.code(fastifyStatus).send({ error: { code, message: (err as Error).message } });
      return;
    }
    const pe = PipelineError.from(err);
    const status = statusOf(pe);
    if (status >= 500) req.log.error({ code: pe.code, err: pe.message }, 'request failed');
    await reply.code(status).send({ error: { code: pe.code, message: pe.message, ...(status < 500 ? { context: pe.context } : {}) } });
  });

  // An unknown path or method gets the same error body as every other error (Fastify's default is
  // `{ message, error, statusCode }`).
  app.setNotFoundHandler(async (req, reply) => {
    await reply.code(404).send({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` } });
  });

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    let ok = true;
    for (const [name, probe] of Object.entries(options.readiness ?? {})) {
      try {
        await probe();
        checks[name] = 'ok';
      } catch (err) {
        ok = false;
        checks[name] = (err as Error).message;
      }
    }
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(await options.metrics.text()));
  return app;
}
