import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Serde } from '../ports.ts';

/**
 * A schemaless serde: JSON with the same 5-byte framing as the Confluent wire format (magic 0,
 * schema id 0), Buffers as `{ "$bytes": base64 }`. For engine tests and ad-hoc topics; the
 * pipelines use the Avro serde.
 */
export class JsonSerde implements Serde {
  encode(_topic: string, value: unknown): Promise<Buffer> {
    const body = Buffer.from(
      JSON.stringify(value, (_k, v: unknown) => {
        if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
          return { $bytes: Buffer.from((v as { data: number[] }).data).toString('base64') };
        }
        return v;
      }),
    );
    const header = Buffer.alloc(5);
    return Promise.resolve(Buffer.concat([header, body]));
  }

  decode(_topic: string, bytes: Buffer): Promise<{ schemaId: number; value: unknown }> {
    if (bytes.length < 5) return Promise.reject(new PipelineError(ErrorCodes.PAYLOAD_TRUNCATED, `frame of ${bytes.length} bytes is shorter than its 5-byte header`));
    if (bytes[0] !== 0) return Promise.reject(new PipelineError(ErrorCodes.SCHEMA_BAD_MAGIC, `magic byte is ${bytes[0]}, expected 0`));
    try {
      const value: unknown = JSON.parse(bytes.subarray(5).toString('utf8'), (_k, v: unknown) =>
        v !== null && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string'
          ? Buffer.from((v as { $bytes: string }).$bytes, 'base64')
          : v,
      );
      return Promise.resolve({ schemaId: bytes.readInt32BE(1), value });
    } catch (err) {
      return Promise.reject(new PipelineError(ErrorCodes.SCHEMA_MISMATCH, 'payload is not valid JSON', { cause: err }));
    }
  }
}
