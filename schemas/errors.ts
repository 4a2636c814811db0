/**
 * The one error root of captionflow.
 *
 * Every failure that a topology step, a processor, an adapter or a service reports is a
 * {@link PipelineError}: a stable `code` (it shows up in dead-letter records, logs and the
 * `outcome` label of metrics), whether retrying can help, structured context and a cause.
 * It lives in `schemas/` because its codes are part of the contract: processors may throw it
 * without importing the runtime, and dead-letter records carry its codes.
 */

/** Stable error codes. Add, never rename: they are stored in dead-letter records. */
export const ErrorCodes = {
  // configuration and start-up
  CONFIG_INVALID: 'CONFIG_INVALID',
  // serde and contracts
  SCHEMA_UNKNOWN_ID: 'SCHEMA_UNKNOWN_ID',
  SCHEMA_BAD_MAGIC: 'SCHEMA_BAD_MAGIC',
  SCHEMA_MISMATCH: 'SCHEMA_MISMATCH',
  SCHEMA_INCOMPATIBLE: 'SCHEMA_INCOMPATIBLE',
  PAYLOAD_TRUNCATED: 'PAYLOAD_TRUNCATED',
  SCHEMA_INVALID: 'SCHEMA_INVALID',
  SCHEMA_SUBJECT_UNKNOWN: 'SCHEMA_SUBJECT_UNKNOWN',
  SCHEMA_REGISTRY_UNAVAILABLE: 'SCHEMA_REGISTRY_UNAVAILABLE',
  // image input
  IMAGE_EMPTY: 'IMAGE_EMPTY',
  IMAGE_DECODE_FAILED: 'IMAGE_DECODE_FAILED',
  IMAGE_TOO_LARGE: 'IMAGE_TOO_LARGE',
  PIXEL_LIMIT_EXCEEDED: 'PIXEL_LIMIT_EXCEEDED',
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  // caption input
  CAPTION_EMPTY: 'CAPTION_EMPTY',
  CAPTION_TOO_LONG: 'CAPTION_TOO_LONG',
  CAPTION_INVALID_UTF8: 'CAPTION_INVALID_UTF8',
  CAPTION_INVALID: 'CAPTION_INVALID',
  CAPTION_TOO_SHORT: 'CAPTION_TOO_SHORT',
  CAPTION_BLOCKED: 'CAPTION_BLOCKED',
  // curation
  QUALITY_REJECTED: 'QUALITY_REJECTED',
  DUPLICATE: 'DUPLICATE',
  // storage and infrastructure
  OBJECT_NOT_FOUND: 'OBJECT_NOT_FOUND',
  OBJECT_KEY_INVALID: 'OBJECT_KEY_INVALID',
  STORAGE_UNAVAILABLE: 'STORAGE_UNAVAILABLE',
  CATALOG_UNAVAILABLE: 'CATALOG_UNAVAILABLE',
  OBJECT_CHECKSUM_MISMATCH: 'OBJECT_CHECKSUM_MISMATCH',
  OBJECT_METADATA_INVALID: 'OBJECT_METADATA_INVALID',
  CATALOG_RECORD_INVALID: 'CATALOG_RECORD_INVALID',
  CATALOG_CONFLICT: 'CATALOG_CONFLICT',
  LAKE_QUERY_REJECTED: 'LAKE_QUERY_REJECTED',
  BROKER_UNAVAILABLE: 'BROKER_UNAVAILABLE',
  TIMEOUT: 'TIMEOUT',
  // models
  MODEL_LOAD_FAILED: 'MODEL_LOAD_FAILED',
  MODEL_INVALID: 'MODEL_INVALID',
  /** A worker was asked for a model version it has not loaded and was not given the bundle: resend with it. */
  MODEL_NOT_LOADED: 'MODEL_NOT_LOADED',
  /** A model folder to import lacks a file its layout needs (the context lists them). */
  MODEL_FILES_MISSING: 'MODEL_FILES_MISSING',
  /** A model folder to import holds an ONNX graph onnxruntime cannot load. */
  MODEL_ONNX_INVALID: 'MODEL_ONNX_INVALID',
  /** A model folder to import holds graphs whose input/output names or types are not the layout's. */
  MODEL_IO_MISMATCH: 'MODEL_IO_MISMATCH',
  INFERENCE_FAILED: 'INFERENCE_FAILED',
  TRAINING_FAILED: 'TRAINING_FAILED',
  // jobs
  /** A job run's lease expired and another replica took it over: the run stopped. */
  JOB_LEASE_LOST: 'JOB_LEASE_LOST',
  // evaluation
  METRICS_INPUT_INVALID: 'METRICS_INPUT_INVALID',
  // engine
  WORKER_CRASHED: 'WORKER_CRASHED',
  SHUTDOWN: 'SHUTDOWN',
  INTERNAL: 'INTERNAL',
} as const;

/** A stable error code; free-form codes are allowed for extensions but should be UPPER_SNAKE. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

/** The plain-data form of an error: what crosses a thread, a process or a dead-letter record. */
export interface SerializedError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;
  readonly stack?: string;
  readonly cause?: SerializedError;
}

/** Options of a {@link PipelineError}. */
export interface PipelineErrorOptions {
  readonly retriable?: boolean;
  readonly context?: Record<string, unknown>;
  readonly cause?: unknown;
}

/** The root of every error captionflow raises on purpose. */
export class PipelineError extends Error {
  override readonly name: string = 'PipelineError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }

  /**
   * A dependency is down (object store, catalog, broker, schema registry): the record is not at
   * fault and will succeed unchanged once the dependency is back.
   */
  get isOutage(): boolean {
    return this.retriable && OUTAGE_CODES.has(this.code);
  }

  /** Turn any thrown value into a PipelineError (unknown errors become non-retriable INTERNAL). */
  static from(err: unknown, fallbackCode: ErrorCode = ErrorCodes.INTERNAL): PipelineError {
    if (err instanceof PipelineError) return err;
    if (isSerializedError(err)) return deserializeError(err);
    const message = err instanceof Error ? err.message : String(err);
    return new PipelineError(fallbackCode, message, { cause: err });
  }

  /** Plain data: safe for postMessage, JSON and dead-letter records. */
  toJSON(): SerializedError {
    return serializeError(this);
  }
}

/** The codes of a dependency being unavailable (see {@link PipelineError.isOutage}). */
const OUTAGE_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.STORAGE_UNAVAILABLE,
  ErrorCodes.CATALOG_UNAVAILABLE,
  ErrorCodes.BROKER_UNAVAILABLE,
  ErrorCodes.SCHEMA_REGISTRY_UNAVAILABLE,
]);

function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Error) &&
    typeof (value as SerializedError).code === 'string' &&
    typeof (value as SerializedError).message === 'string' &&
    typeof (value as SerializedError).retriable === 'boolean'
  );
}

/** Serialize any error (or thrown value) to plain data, keeping code, retriable, context and the cause chain. */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof PipelineError) {
    const out: SerializedError = {
      name: err.name,
      code: err.code,
      message: err.message,
      retriable: err.retriable,
      context: err.context,
      ...(err.stack === undefined ? {} : { stack: err.stack }),
      ...(err.cause === undefined || depth > 8 ? {} : { cause: serializeError(err.cause, depth + 1) }),
    };
    return out;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const retriable = (err as { retriable?: unknown }).retriable;
    return {
      name: err.name,
      code: typeof code === 'string' ? code : ErrorCodes.INTERNAL,
      message: err.message,
      retriable: typeof retriable === 'boolean' ? retriable : false,
      context: {},
      ...(err.stack === undefined ? {} : { stack: err.stack }),
      ...(err.cause === undefined || depth > 8 ? {} : { cause: serializeError(err.cause, depth + 1) }),
    };
  }
  if (isSerializedError(err)) return err;
  return { name: 'Error', code: ErrorCodes.INTERNAL, message: String(err), retriable: false, context: {} };
}

/** Rebuild a PipelineError from its plain-data form (the other side of a thread or process). */
export function deserializeError(data: SerializedError): PipelineError {
  const err = new PipelineError(data.code, data.message, {
    retriable: data.retriable,
    context: data.context,
    ...(data.cause === undefined ? {} : { cause: deserializeError(data.cause) }),
  });
  if (data.stack !== undefined) err.stack = data.stack;
  return err;
}

/** True when retrying the operation may succeed. */
export function isRetriable(err: unknown): boolean {
  return err instanceof PipelineError ? err.retriable : serializeError(err).retriable;
}
