/**
 * The Confluent SchemaRegistry adapter: the Confluent Schema Registry REST API (also served by
 * Apicurio at `/apis/ccompat/v7` and by Redpanda/Karapace), over Node's built-in fetch.
 *
 * Plain REST rather than `@kafkajs/confluent-schema-registry`: that client hands back avsc
 * types it parsed with its own options instead of the schema JSON this port returns, and it
 * queries the compatibility config on every register, which not every compatible registry
 * serves. Three endpoints are all the port needs.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { CompatibilityMode } from '../../schemas/compat.ts';
import type { AvroSchemaJson, SchemaRegistry, SubjectVersion } from './schema-registry.ts';

/** Options of {@link ConfluentSchemaRegistry}. */
export interface ConfluentSchemaRegistryOptions {
  /** Base URL, e.g. `http://localhost:8081` or `http://localhost:8080/apis/ccompat/v7`. */
  readonly url: string;
  /** HTTP basic auth credentials, when the registry wants them. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Per-request timeout in milliseconds. Default 10 000. */
  readonly timeoutMs?: number;
  /**
   * When set, the compatibility level of each subject is set to this before the adapter first
   * registers under it (PUT /config/{subject}), so that the registry enforces what the embedded
   * one does. Unset: the registry's own level applies (Confluent defaults to BACKWARD,
   * Apicurio to NONE).
   */
  readonly compatibility?: CompatibilityMode | 'NONE';
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

interface ErrorBody {
  readonly error_code?: number;
  readonly message?: string;
}

/** A Confluent-compatible schema registry reached over HTTP. */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly compatibility: CompatibilityMode | 'NONE' | undefined;
  private readonly configured = new Map<string, Promise<void>>();

  constructor(options: ConfluentSchemaRegistryOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `schema registry url is not a URL: ${String(options.url)}`,
        {
          context: { key: 'url', value: options.url },
          cause: err,
        },
      );
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `schema registry url must be http(s): ${options.url}`,
        {
          context: { key: 'url', value: options.url },
        },
      );
    }
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.compatibility = options.compatibility;
    this.headers = { accept: `${CONTENT_TYPE}, application/json` };
    if (options.auth !== undefined) {
      const token = Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64');
      this.headers['authorization'] = `Basic ${token}`;
    }
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    context: Record<string, unknown>,
    body?: unknown,
  ): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'content-type': CONTENT_TYPE },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      // undici says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND...) is in the cause.
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new PipelineError(
        timedOut ? ErrorCodes.TIMEOUT : ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE,
        `schema registry ${method} ${url} ${timedOut ? `timed out after ${this.timeoutMs} ms` : 'failed'}: ${(err as Error).message}${cause}`,
        { retriable: true, context: { ...context, url }, cause: err },
      );
    }
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = { message: text };
    }
    if (res.ok) return json as T;
    throw this.toError(res.status, json as ErrorBody, method, url, context);
  }

  private toError(
    status: number,
    body: ErrorBody,
    method: string,
    url: string,
    context: Record<string, unknown>,
  ): PipelineError {
    const detail =
      `${method} ${url}: HTTP ${status}${body.error_code === undefined ? '' : ` (${body.error_code})`} ${body.message ?? ''}`.trim();
    const ctx = { ...context, url, status, errorCode: body.error_code };
    // Confluent statuses: 404 not found (40401 subject, 40402 version, 40403 schema), 409 incompatible, 422 invalid.
    if (status === 404) {
      // Only getById passes a schemaId; registries disagree on error_code, so the call decides.
      const code = 'schemaId' in context ? ErrorCodes.SCHEMA_UNKNOWN_ID : ErrorCodes.SCHEMA_SUBJECT_UNKNOWN;
      return new PipelineError(code, `schema registry: not found: ${detail}`, { context: ctx });
    }
    if (status === 409)
      return new PipelineError(
        ErrorCodes.SCHEMA_INCOMPATIBLE,
        `schema registry: incompatible schema: ${detail}`,
        { context: ctx },
      );
    if (status === 422 || status === 400)
      return new PipelineError(ErrorCodes.SCHEMA_INVALID, `schema registry: invalid schema: ${detail}`, {
        context: ctx,
      });
    if (status === 401 || status === 403)
      return new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `schema registry refused the credentials: ${detail}`,
        { context: ctx },
      );
    return new PipelineError(ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE, `schema registry error: ${detail}`, {
      retriable: status >= 500 || status === 429 || status === 408,
      context: ctx,
    });
  }

  /** Set the compatibility level of one subject (Confluent `PUT /config/{subject}`). */
  async setCompatibility(subject: string, level: CompatibilityMode | 'NONE'): Promise<void> {
    await this.request(
      'PUT',
      `/config/${encodeURIComponent(subject)}`,
      { subject },
      { compatibility: level },
    );
  }

  private ensureConfigured(subject: string): Promise<void> {
    if (this.compatibility === undefined) return Promise.resolve();
    let done = this.configured.get(subject);
    if (done === undefined) {
      done = this.setCompatibility(subject, this.compatibility);
      done.catch(() => this.configured.delete(subject));
      this.configured.set(subject, done);
    }
    return done;
  }

  /** {@inheritDoc SchemaRegistry.register} */
  async register(subject: string, schema: AvroSchemaJson): Promise<number> {
    await this.ensureConfigured(subject);
    const res = await this.request<{ id?: unknown }>(
      'POST',
      `/subjects/${encodeURIComponent(subject)}/versions`,
      { subject },
      {
        schema: JSON.stringify(schema),
      },
    );
    if (typeof res.id !== 'number') {
      throw new PipelineError(
        ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE,
        `schema registry: register ${subject} answered without an id`,
        {
          context: { subject, response: res },
        },
      );
    }
    return res.id;
  }

  /** {@inheritDoc SchemaRegistry.getById} */
  async getById(id: number): Promise<AvroSchemaJson> {
    const res = await this.request<{ schema?: unknown }>('GET', `/schemas/ids/${id}`, { schemaId: id });
    return this.parseSchema(res.schema, { schemaId: id });
  }

  /** {@inheritDoc SchemaRegistry.getLatest} */
  async getLatest(subject: string): Promise<SubjectVersion> {
    const res = await this.request<{ id?: unknown; version?: unknown; schema?: unknown }>(
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions/latest`,
      { subject },
    );
    if (typeof res.id !== 'number' || typeof res.version !== 'number') {
      throw new PipelineError(
        ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE,
        `schema registry: latest of ${subject} answered without id/version`,
        {
          context: { subject },
        },
      );
    }
    return { id: res.id, version: res.version, schema: this.parseSchema(res.schema, { subject }) };
  }

  private parseSchema(text: unknown, context: Record<string, unknown>): AvroSchemaJson {
    if (typeof text !== 'string') {
      throw new PipelineError(ErrorCodes.SCHEMA_INVALID, 'schema registry answered without a schema string', {
        context,
      });
    }
    try {
      return JSON.parse(text) as AvroSchemaJson;
    } catch {
      // A bare primitive schema may come back unquoted (e.g. `string`).
      return text;
    }
  }

  /** Nothing to release: fetch keeps no connection the process must close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
