/**
 * AvroSerde: topic values to Confluent-framed Avro bytes and back, over any SchemaRegistry.
 *
 * Encoding registers (or looks up) the topic's schema once and caches its id; decoding looks
 * the writer schema up by the id in the frame, once per id, and reads the value into the
 * reader's schema through a cached avsc resolver — so a consumer on a newer schema reads old
 * records (defaults fill in) and a consumer on an older one reads new records (new fields are
 * skipped). Every failure is a PipelineError with a stable code, so poison records can be
 * dead-lettered with a reason.
 */
import type { Schema, Type } from 'avsc';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { topicByName } from '../../schemas/topics.ts';
import type { TopicContract } from '../../schemas/topics.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import { forSchemaPlain } from './plain-records.ts';
import { HEADER_SIZE, MAGIC_BYTE, readFrameHeader } from './wire-format.ts';

/** Options of {@link AvroSerde}. */
export interface AvroSerdeOptions {
  /**
   * true (default): the first encode of a topic registers its schema under the topic's
   * subject. false: encode with the subject's latest registered schema (the value must be
   * valid for it), for producers that must not register — as Confluent's `use.latest.version`.
   */
  readonly autoRegister?: boolean;
}

/** A decoded value and the registry id of the schema it was written with. */
export interface Decoded<V> {
  readonly schemaId: number;
  readonly value: V;
}

type Resolver = ReturnType<Type['createResolver']>;

interface Writer {
  readonly id: number;
  readonly type: Type;
}

interface Reader {
  readonly type: Type;
  /** Resolver per writer schema id; null when the writer schema is the reader schema. */
  readonly resolvers: Map<number, Resolver | null>;
}

function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * avsc builds records with generated constructors; callers get plain objects instead, which
 * compare with deepStrictEqual, log as JSON and cross threads like any other data. Types are
 * rewired to read plain objects (plain-records.ts); this copy is the fallback when that failed.
 */
const readsPlain = new WeakSet<Type>();

function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = toPlain((value as Record<string, unknown>)[key]);
  return out;
}

/** Scratch space the frame is written into before its exact-size copy is taken; grows as needed. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/** The framed encoding of `value` (magic byte, schema id, Avro binary) with one copy. */
function frameInto(id: number, type: Type, value: unknown): Buffer {
  let end = type.encode(value, scratch, HEADER_SIZE);
  while (end < 0) {
    // avsc returns minus the bytes it was short: grow and write again.
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end + HEADER_SIZE));
    end = type.encode(value, scratch, HEADER_SIZE);
  }
  scratch[0] = MAGIC_BYTE;
  scratch.writeInt32BE(id, 1);
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}

function parseType(schema: unknown, context: Record<string, unknown>): Type {
  try {
    const { type, plain } = forSchemaPlain(schema as Schema);
    if (plain) readsPlain.add(type);
    return type;
  } catch (err) {
    throw new PipelineError(ErrorCodes.SCHEMA_INVALID, `schema does not parse: ${(err as Error).message}`, {
      context,
      cause: err,
    });
  }
}

/** Avro serde with Confluent framing; one instance per process is enough (it caches). */
export class AvroSerde {
  private readonly registry: SchemaRegistry;
  private readonly autoRegister: boolean;
  private readonly writers = new WeakMap<TopicContract, Promise<Writer>>();
  private readonly readers = new WeakMap<TopicContract, Reader>();
  private readonly writerTypes = new Map<number, Promise<Type>>();
  /** Settled lookups, read without awaiting (the hot path). */
  private readonly ready = new WeakMap<TopicContract, Writer>();
  private readonly writerTypesReady = new Map<number, Type>();

  constructor(registry: SchemaRegistry, options: AvroSerdeOptions = {}) {
    this.registry = registry;
    this.autoRegister = options.autoRegister ?? true;
  }

  private contract(topic: TopicContract | string): TopicContract {
    if (typeof topic !== 'string') return topic;
    const found = topicByName(topic);
    if (found === undefined) {
      throw new PipelineError(ErrorCodes.CONFIG_INVALID, `unknown topic ${topic}: not in schemas/topics.ts`, {
        context: { topic },
      });
    }
    return found;
  }

  private reader(contract: TopicContract): Reader {
    let reader = this.readers.get(contract);
    if (reader === undefined) {
      const type = parseType(contract.schema, { topic: contract.name });
      reader = { type, resolvers: new Map() };
      this.readers.set(contract, reader);
    }
    return reader;
  }

  private writer(contract: TopicContract): Promise<Writer> {
    let writer = this.writers.get(contract);
    if (writer === undefined) {
      writer = this.autoRegister
        ? this.registry
            .register(contract.subject, contract.schema)
            .then((id) => ({ id, type: this.reader(contract).type }))
        : this.registry.getLatest(contract.subject).then(({ id, schema }) => {
            const type = parseType(schema, { topic: contract.name, schemaId: id });
            // Seed the id cache: this process will likely read its own records.
            this.writerTypes.set(id, Promise.resolve(type));
            this.writerTypesReady.set(id, type);
            return { id, type };
          });
      // A failed lookup (registry down) must not stick: the next encode tries again.
      writer.then(
        (w) => this.ready.set(contract, w),
        () => this.writers.delete(contract),
      );
      this.writers.set(contract, writer);
    }
    return writer;
  }

  private writerType(id: number): Promise<Type> {
    let type = this.writerTypes.get(id);
    if (type === undefined) {
      type = this.registry.getById(id).then((schema) => parseType(schema, { schemaId: id }));
      type.then(
        (ty) => this.writerTypesReady.set(id, ty),
        () => this.writerTypes.delete(id),
      );
      this.writerTypes.set(id, type);
    }
    return type;
  }

  /** The registry id values of `topic` are written with (registers on first use when autoRegister). */
  async schemaId(topic: TopicContract | string): Promise<number> {
    return (await this.writer(this.contract(topic))).id;
  }

  /**
   * Encode `value` for `topic`: magic byte 0, 4-byte big-endian schema id, Avro binary.
   * Fields with a default may be left undefined.
   * @throws PipelineError `SCHEMA_MISMATCH` (context.paths lists the failing field paths) when
   *   the value does not match the schema; registry errors as they come.
   */
  encode<V>(topic: TopicContract<V>, value: V): Promise<Buffer>;
  encode(topic: string, value: unknown): Promise<Buffer>;
  async encode(topic: TopicContract | string, value: unknown): Promise<Buffer> {
    const contract = this.contract(topic);
    const { id, type } = this.ready.get(contract) ?? (await this.writer(contract));
    try {
      // avsc checks every value as it writes it (and throws on the first bad one): the full
      // validation below, which names every failing path, only runs once that happened.
      return frameInto(id, type, value);
    } catch (err) {
      const paths: string[] = [];
      type.isValid(value, {
        errorHook: (path: string[], fieldValue: unknown) => {
          paths.push(`${path.join('.') || '<root>'} (got ${describe(fieldValue)})`);
        },
      });
      const reason = paths.length > 0 ? paths.join(', ') : (err as Error).message;
      throw new PipelineError(
        ErrorCodes.SCHEMA_MISMATCH,
        `value does not match the ${contract.name} schema (id ${id}): ${reason}`,
        {
          context: { topic: contract.name, schemaId: id, paths },
          cause: err,
        },
      );
    }
  }

  /**
   * Decode a framed value. With `readerTopic`, the value is read into that topic's schema
   * (Avro schema resolution); without, it is returned as written.
   * @throws PipelineError `SCHEMA_BAD_MAGIC`, `PAYLOAD_TRUNCATED` (frame under 5 bytes or the
   *   payload ends early), `SCHEMA_UNKNOWN_ID`, `SCHEMA_MISMATCH` (garbage, trailing bytes, or
   *   a writer schema the reader cannot read).
   */
  decode<V>(buf: Uint8Array, readerTopic: TopicContract<V>): Promise<Decoded<V>>;
  decode(buf: Uint8Array, readerTopic?: TopicContract | string): Promise<Decoded<unknown>>;
  async decode(input: Uint8Array, readerTopic?: TopicContract | string): Promise<Decoded<unknown>> {
    const buf = asBuffer(input);
    const { schemaId, payloadOffset } = readFrameHeader(buf);
    const writerType = this.writerTypesReady.get(schemaId) ?? (await this.writerType(schemaId));
    let type = writerType;
    let resolver: Resolver | undefined;
    let readerName: string | undefined;
    if (readerTopic !== undefined) {
      const contract = this.contract(readerTopic);
      readerName = contract.name;
      const reader = this.reader(contract);
      type = reader.type;
      resolver = this.resolver(reader, schemaId, writerType, contract.name) ?? undefined;
    }
    const context = (): Record<string, unknown> => ({
      schemaId,
      length: buf.length,
      ...(readerName === undefined ? {} : { readerTopic: readerName }),
    });
    let decoded: { value: unknown; offset: number };
    try {
      decoded = type.decode(buf, payloadOffset, resolver);
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.SCHEMA_MISMATCH,
        `payload is not valid Avro for schema ${schemaId}: ${(err as Error).message}`,
        { context: context(), cause: err },
      );
    }
    if (decoded.offset < 0) {
      throw new PipelineError(
        ErrorCodes.PAYLOAD_TRUNCATED,
        `payload ends before the record does (schema ${schemaId}, ${buf.length} bytes)`,
        { context: context() },
      );
    }
    if (decoded.offset !== buf.length) {
      throw new PipelineError(
        ErrorCodes.SCHEMA_MISMATCH,
        `${buf.length - decoded.offset} trailing bytes after the record (schema ${schemaId}): not written with this schema`,
        { context: { ...context(), trailing: buf.length - decoded.offset } },
      );
    }
    return { schemaId, value: readsPlain.has(type) ? decoded.value : toPlain(decoded.value) };
  }

  private resolver(reader: Reader, schemaId: number, writerType: Type, topic: string): Resolver | null {
    const cached = reader.resolvers.get(schemaId);
    if (cached !== undefined) return cached;
    let resolver: Resolver | null = null;
    if (!reader.type.equals(writerType)) {
      try {
        resolver = reader.type.createResolver(writerType);
      } catch (err) {
        throw new PipelineError(
          ErrorCodes.SCHEMA_MISMATCH,
          `records written with schema ${schemaId} cannot be read as ${topic}: ${(err as Error).message}`,
          { context: { schemaId, readerTopic: topic }, cause: err },
        );
      }
    }
    reader.resolvers.set(schemaId, resolver);
    return resolver;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return `Buffer(${value.length})`;
  if (typeof value === 'object') return Array.isArray(value) ? 'array' : 'object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${typeof value} ${text.slice(0, 40)}…` : text;
}
