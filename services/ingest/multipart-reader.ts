/**
 * Reading a multipart request into memory under strict limits.
 *
 * The doors validate every part before writing anything (a request is accepted or refused as a
 * whole), so the parts are buffered; the busboy limits (files, fields, parts, fileSize,
 * fieldSize) bound that buffer and stop reading as soon as one is crossed. Limit and parser
 * failures of @fastify/multipart become PipelineErrors with the edge codes, naming the part.
 */
import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { EdgeErrorCodes, invalidField } from './edge-errors.ts';

/** One file part, read whole. */
export interface BufferedFile {
  readonly field: string;
  /** The client's filename: data only — never used to build a key or a path. */
  readonly filename: string | null;
  readonly bytes: Buffer;
  /** 0-based position among the request's files. */
  readonly index: number;
}

/** What a route takes from a multipart request. */
export interface MultipartSpec {
  /** Field names allowed for file parts. */
  readonly fileFields: readonly string[];
  /** Field names allowed for text parts (each at most once). */
  readonly textFields: readonly string[];
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly maxFieldBytes: number;
}

/** The parts of a request. */
export interface MultipartContent {
  readonly files: readonly BufferedFile[];
  /** Text fields by name (a JSON-typed part arrives already parsed by the plugin). */
  readonly fields: ReadonlyMap<string, unknown>;
}

// Busboy truncates names longer than this; a truncated name can never be one we take.
const FIELD_NAME_BYTES = 100;

function limitError(err: unknown, spec: MultipartSpec): PipelineError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'FST_FILES_LIMIT':
      return new PipelineError(
        EdgeErrorCodes.UPLOAD_TOO_MANY_FILES,
        `too many files: at most ${spec.maxFiles} per request`,
        { context: { limit: spec.maxFiles } },
      );
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new PipelineError(
        EdgeErrorCodes.UPLOAD_TOO_MANY_PARTS,
        `too many parts: the request takes ${spec.fileFields.join('|')} file parts and the fields ${spec.textFields.join(', ')}`,
        {
          context: { fields: spec.textFields, limit: spec.textFields.length },
        },
      );
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new PipelineError(
        EdgeErrorCodes.UNSUPPORTED_MEDIA_TYPE,
        'the request must be multipart/form-data',
      );
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new PipelineError(
        EdgeErrorCodes.REQUEST_INVALID,
        'a field sent as application/json is not valid JSON (or was cut at the field size limit)',
        { cause: err },
      );
    case 'FST_PROTO_VIOLATION':
      return new PipelineError(EdgeErrorCodes.REQUEST_INVALID, 'a part name is a reserved property name', {
        cause: err,
      });
    case 'FST_MP_PREMATURE_CLOSE':
      return new PipelineError(
        EdgeErrorCodes.REQUEST_INVALID,
        'the request ended before the multipart body was complete',
        { cause: err },
      );
    default:
      // Busboy's own parse errors (bad boundary, truncated part headers) are plain Errors.
      if (
        err instanceof Error &&
        !(err instanceof PipelineError) &&
        (err as { statusCode?: number }).statusCode === undefined
      ) {
        return new PipelineError(EdgeErrorCodes.REQUEST_INVALID, `malformed multipart body: ${err.message}`, {
          cause: err,
        });
      }
      return undefined;
  }
}

/**
 * Read every part of a multipart request into memory, enforcing `spec`: unknown or repeated
 * fields are REQUEST_INVALID, a file over `maxFileBytes` is IMAGE_TOO_LARGE naming the file,
 * a field over `maxFieldBytes` is FIELD_TOO_LARGE, more files or fields than allowed are 413s.
 */
export async function readMultipart(req: FastifyRequest, spec: MultipartSpec): Promise<MultipartContent> {
  if (!req.isMultipart()) {
    throw new PipelineError(
      EdgeErrorCodes.UNSUPPORTED_MEDIA_TYPE,
      `the request must be multipart/form-data, not ${JSON.stringify(req.headers['content-type'] ?? '')}`,
      {
        context: { contentType: req.headers['content-type'] ?? null },
      },
    );
  }
  const files: BufferedFile[] = [];
  const fields = new Map<string, unknown>();
  const parts = req.parts({
    limits: {
      files: spec.maxFiles,
      fields: spec.textFields.length,
      // One spare part, so that an extra file or field trips its own (more telling) limit first.
      parts: spec.maxFiles + spec.textFields.length + 1,
      fileSize: spec.maxFileBytes,
      fieldSize: spec.maxFieldBytes,
      fieldNameSize: FIELD_NAME_BYTES,
    },
  });
  try {
    for await (const part of parts) {
      if (part.type === 'file') {
        const filename = part.filename === '' ? null : part.filename;
        if (!spec.fileFields.includes(part.fieldname)) {
          part.file.resume();
          throw invalidField(
            part.fieldname,
            `unexpected file part (files go in ${spec.fileFields.map((f) => `"${f}"`).join(' or ')})`,
            { filename },
          );
        }
        const chunks: Buffer[] = [];
        for await (const chunk of part.file) chunks.push(chunk as Buffer);
        if (part.file.truncated) {
          throw new PipelineError(
            ErrorCodes.IMAGE_TOO_LARGE,
            `file ${JSON.stringify(filename ?? `#${files.length}`)} is larger than the limit of ${spec.maxFileBytes} bytes`,
            {
              context: { field: part.fieldname, filename, index: files.length, limit: spec.maxFileBytes },
            },
          );
        }
        files.push({ field: part.fieldname, filename, bytes: Buffer.concat(chunks), index: files.length });
        continue;
      }
      if (part.fieldnameTruncated || !spec.textFields.includes(part.fieldname)) {
        throw invalidField(part.fieldname, `unknown field (this route takes ${spec.textFields.join(', ')})`);
      }
      if (part.valueTruncated) {
        throw new PipelineError(
          EdgeErrorCodes.FIELD_TOO_LARGE,
          `${part.fieldname}: larger than the limit of ${spec.maxFieldBytes} bytes`,
          {
            context: { field: part.fieldname, limit: spec.maxFieldBytes },
          },
        );
      }
      if (fields.has(part.fieldname)) throw invalidField(part.fieldname, 'given more than once');
      // The form decoder turns bytes that are not UTF-8 into U+FFFD: refuse them, store nothing.
      if (typeof part.value === 'string' && part.value.includes('\uFFFD')) {
        throw new PipelineError(EdgeErrorCodes.FIELD_INVALID_UTF8, `${part.fieldname}: not valid UTF-8 text`, { context: { field: part.fieldname } });
      }
      fields.set(part.fieldname, part.value);
    }
  } catch (err) {
    throw limitError(err, spec) ?? err;
  }
  return { files, fields };
}

/**
 * A JSON text field, parsed: REQUEST_INVALID naming the field when it is not JSON. A field the
 * client sent as `application/json` arrives parsed already.
 */
export function jsonField(fields: ReadonlyMap<string, unknown>, name: string): unknown {
  const raw = fields.get(name);
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw invalidField(name, `not valid JSON (${(err as Error).message})`);
  }
}
