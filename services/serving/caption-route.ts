/**
 * `POST /v1/captions`: caption images sent in the request (multipart, `image` parts, with an
 * optional JSON `options` part) or already in the lake (JSON `{ imageIds, options }`). The answer
 * lists every image in request order with its caption or its own error; one bad image never fails
 * the others. The whole request fails only when the service cannot take it: QUEUE_FULL (503 with
 * Retry-After), NO_MODEL (503), or when every image failed for the same retriable reason
 * (504 DEADLINE_EXCEEDED, 503 otherwise). Any API key may caption: it writes nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import { ErrorCodes, PipelineError, type SerializedError, serializeError } from '../../schemas/errors.ts';
import type { Catalog } from '../../runtime/catalog/catalog.ts';
import type { ObjectStore } from '../../runtime/lake/object-store.ts';
import { AUTH_ERRORS, ErrorBody, RATE_LIMIT_ERRORS } from '../../runtime/http/error-body.ts';
import { jsonField, readMultipart } from '../ingest/multipart-reader.ts';
import type { CaptionService, ImageCaption } from './caption-service.ts';
import type { DecodeOptions } from '../../processors/inference/captioner.ts';
import { ServingErrorCodes, servingStatus } from './serving-errors.ts';

/** Limits of the captions route. */
export interface CaptionRouteLimits {
  /** Most images in one request. */
  readonly maxImages: number;
  /** Largest image in bytes. */
  readonly maxImageBytes: number;
  /** Deadline of a request that names none, in ms. */
  readonly defaultTimeoutMs: number;
  /** Longest deadline a request may ask for, in ms. */
  readonly maxTimeoutMs: number;
}

/** What the route needs. */
export interface CaptionRouteDeps {
  readonly service: CaptionService;
  readonly limits: CaptionRouteLimits;
  /** For lake image ids; without it, `imageIds` requests are refused. */
  readonly lake?: { readonly catalog: Catalog; readonly objects: ObjectStore };
}

/**
 * The shortest deadline a request may ask for. One image's preprocessing and inference alone take
 * tens to hundreds of milliseconds on a busy CPU, so a shorter deadline could only end in a 504
 * after queueing; it is refused up front (400 REQUEST_INVALID) instead. Found by schemathesis
 * (`timeoutMs: 1` answered 504 DEADLINE_EXCEEDED).
 */
export const MIN_REQUEST_TIMEOUT_MS = 1000;

/** The options of a caption request (the `options` part, or the JSON body's `options`). */
export const CaptionOptionsSchema = z
  .object({
    strategy: z.enum(['greedy', 'beam']).optional(),
    beamSize: z.int().min(1).max(16).optional(),
    maxLength: z.int().min(2).max(512).optional(),
    noRepeatNgramSize: z.int().min(0).max(16).optional(),
    repetitionPenalty: z.number().min(0.01).max(10).optional(),
    version: z.string().min(1).max(200).optional(),
    alias: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    timeoutMs: z.int().min(MIN_REQUEST_TIMEOUT_MS).max(600_000).optional(),
  })
  .strict();

type CaptionOptions = z.output<typeof CaptionOptionsSchema>;

const JsonRequestSchema = z
  .object({
    imageIds: z.array(z.string().regex(/^[0-9a-f]{64}$/)).min(1),
    options: CaptionOptionsSchema.optional(),
  })
  .strict();

const Timings = {
  type: 'object',
  required: ['queueMs', 'preprocessMs', 'inferenceMs'],
  properties: {
    queueMs: { type: 'number' },
    preprocessMs: { type: 'number' },
    inferenceMs: { type: 'number' },
  },
} as const;

/** One image's answer (docs/openapi.yaml: CaptionResult). */
export const CaptionResult = {
  type: 'object',
  required: ['index', 'ok', 'modelVersion'],
  properties: {
    index: { type: 'integer' },
    imageId: { type: 'string' },
    filename: { type: 'string' },
    ok: { type: 'boolean' },
    caption: { type: 'string' },
    score: { type: 'number' },
    finished: { type: 'boolean' },
    domain: {
      type: 'object',
      required: ['score', 'threshold', 'inDomain'],
      properties: { score: { type: 'number', minimum: 0 }, threshold: { type: 'number', minimum: 0 }, inDomain: { type: 'boolean' } },
    },
    modelVersion: { type: 'string' },
    batchSize: { type: 'integer' },
    timings: Timings,
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

/** The answer of `POST /v1/captions` (docs/openapi.yaml: CaptionResponse). */
export const CaptionResponse = {
  type: 'object',
  required: ['modelVersion', 'results'],
  properties: {
    modelVersion: { type: 'string' },
    results: { type: 'array', items: CaptionResult },
  },
} as const;

function invalid(message: string, context: Record<string, unknown> = {}): PipelineError {
  return new PipelineError(ServingErrorCodes.REQUEST_INVALID, message, { context });
}

function parseOptions(value: unknown): CaptionOptions {
  if (value === undefined) return {};
  const parsed = CaptionOptionsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`options.${issue?.path.map(String).join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    });
  }
  return parsed.data;
}

interface Input {
  readonly bytes?: Uint8Array;
  readonly error?: SerializedError;
  readonly imageId?: string;
  readonly filename?: string;
}

async function readInputs(
  req: FastifyRequest,
  deps: CaptionRouteDeps,
): Promise<{ inputs: Input[]; options: CaptionOptions }> {
  const { limits } = deps;
  if (req.isMultipart()) {
    const content = await readMultipart(req, {
      fileFields: ['image'],
      textFields: ['options'],
      maxFiles: limits.maxImages,
      maxFileBytes: limits.maxImageBytes,
      maxFieldBytes: 16 * 1024,
    });
    if (content.files.length === 0) throw invalid('send at least one image part (field "image")');
    return {
      options: parseOptions(jsonField(content.fields, 'options')),
      inputs: content.files.map((f) => ({
        bytes: f.bytes,
        ...(f.filename === null ? {} : { filename: f.filename }),
      })),
    };
  }
  const parsed = JsonRequestSchema.safeParse(req.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${issue?.path.map(String).join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  if (parsed.data.imageIds.length > limits.maxImages)
    throw invalid(`imageIds: at most ${limits.maxImages} images per request`);
  if (deps.lake === undefined) throw invalid('this server has no lake: send the images as multipart parts');
  const { catalog, objects } = deps.lake;
  const records = new Map((await catalog.images.getMany(parsed.data.imageIds)).map((r) => [r.id, r]));
  const inputs = await Promise.all(
    parsed.data.imageIds.map(async (imageId): Promise<Input> => {
      const ref = records.get(imageId)?.objects.bronze;
      if (ref === undefined) {
        return {
          imageId,
          error: serializeError(
            new PipelineError(ErrorCodes.OBJECT_NOT_FOUND, `image ${imageId} is not in the lake`),
          ),
        };
      }
      try {
        return { imageId, bytes: await objects.get(ref.key) };
      } catch (err) {
        return { imageId, error: serializeError(PipelineError.from(err, ErrorCodes.STORAGE_UNAVAILABLE)) };
      }
    }),
  );
  return { inputs, options: parsed.data.options ?? {} };
}

function plainError(e: SerializedError): { code: string; message: string } {
  return { code: e.code, message: e.message };
}

async function sendError(reply: FastifyReply, err: PipelineError): Promise<FastifyReply> {
  const status = servingStatus(err);
  if (status === undefined) throw err;
  if (err.code === ServingErrorCodes.QUEUE_FULL)
    reply.header('retry-after', String(Number(err.context.retryAfterSeconds ?? 1)));
  if (err.code === ServingErrorCodes.NO_MODEL) reply.header('retry-after', '5');
  return reply.code(status).send({ error: { code: err.code, message: err.message, context: err.context } });
}

/** Register `POST /v1/captions` (multipart support in its own encapsulated context). */
export async function registerCaptionRoutes(app: FastifyInstance, deps: CaptionRouteDeps): Promise<void> {
  const { limits } = deps;
  await app.register(async (scope) => {
    await scope.register(multipart, {
      throwFileSizeLimit: false,
      limits: {
        files: limits.maxImages,
        fileSize: limits.maxImageBytes,
        fields: 1,
        parts: limits.maxImages + 2,
      },
    });
    scope.post(
      '/v1/captions',
      {
        // Captions change nothing: a read key may ask for them (rate-limited like mutating routes).
        config: { auth: 'api-key', role: 'read', rateLimited: true },
        bodyLimit: limits.maxImages * limits.maxImageBytes + 64 * 1024,
        schema: {
          response: {
            200: CaptionResponse,
            400: ErrorBody,
            404: ErrorBody,
            413: ErrorBody,
            415: ErrorBody,
            504: ErrorBody,
            ...RATE_LIMIT_ERRORS,
            ...AUTH_ERRORS,
          },
        },
      },
      async (req, reply) => {
        const started = performance.now();
        let version = '';
        try {
          const { inputs, options } = await readInputs(req, deps);
          const timeout = Math.min(options.timeoutMs ?? limits.defaultTimeoutMs, limits.maxTimeoutMs);
          const { version: pinned, alias, timeoutMs: _t, ...rest } = options;
          // Drop absent keys: the decode options are part of the batch key.
          const decode = Object.fromEntries(
            Object.entries(rest).filter(([, v]) => v !== undefined),
          ) as DecodeOptions;
          const good = inputs.filter((i) => i.bytes !== undefined);
          const captions: ImageCaption[] = await deps.service.caption({
            images: good.map((i) => i.bytes!),
            decode,
            model: {
              ...(pinned === undefined ? {} : { version: pinned }),
              ...(alias === undefined ? {} : { alias }),
            },
            deadline: started + timeout,
          });
          version =
            captions[0]?.modelVersion ??
            pinned ??
            deps.service.host.versionOf(alias ?? deps.service.host.defaultAlias) ??
            '';
          let next = 0;
          const results = inputs.map((input, index) => {
            const named = {
              index,
              ...(input.imageId === undefined ? {} : { imageId: input.imageId }),
              ...(input.filename === undefined ? {} : { filename: input.filename }),
            };
            if (input.error !== undefined)
              return { ...named, ok: false as const, modelVersion: version, error: plainError(input.error) };
            const c = captions[next++]!;
            if (!c.ok)
              return {
                ...named,
                ok: false as const,
                modelVersion: c.modelVersion,
                error: plainError(c.error),
              };
            return {
              ...named,
              ok: true as const,
              caption: c.text,
              score: c.score,
              finished: c.finished,
              ...(c.domain === undefined ? {} : { domain: c.domain }),
              modelVersion: c.modelVersion,
              batchSize: c.batchSize,
              timings: c.timings,
            };
          });
          const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
          const failures = errors.map((e) => e.code);
          if (failures.length === results.length) {
            // Every image failed: when they all failed for one service reason, the request failed for it.
            const same = failures.every((c) => c === failures[0]);
            if (same && failures[0] === ServingErrorCodes.DEADLINE_EXCEEDED) {
              deps.service.metrics.request(failures[0], version, (performance.now() - started) / 1000);
              return await reply
                .code(504)
                .send({ error: { code: failures[0], message: errors[0]!.message } });
            }
            if (same && (failures[0] === ErrorCodes.WORKER_CRASHED || failures[0] === ErrorCodes.SHUTDOWN)) {
              deps.service.metrics.request(failures[0], version, (performance.now() - started) / 1000);
              return await reply
                .code(503)
                .header('retry-after', '1')
                .send({ error: { code: failures[0], message: errors[0]!.message } });
            }
          }
          const outcome =
            failures.length === 0 ? 'ok' : failures.length === results.length ? 'failed' : 'partial';
          deps.service.metrics.request(outcome, version, (performance.now() - started) / 1000);
          reply.header('x-model-version', version);
          return await reply.code(200).send({ modelVersion: version, results });
        } catch (err) {
          const pe = PipelineError.from(err);
          deps.service.metrics.request(pe.code, version, (performance.now() - started) / 1000);
          return sendError(reply, pe);
        }
      },
    );
  });
}
