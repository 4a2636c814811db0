/**
 * The Confluent wire format of a record value: magic byte 0, the writer schema's registry id
 * as a 4-byte big-endian integer, then the Avro binary encoding of the value. Every Confluent
 * serializer (Java, Python, Go, kafkajs) reads and writes exactly this, which is what lets
 * external producers and consumers share captionflow's topics.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** The first byte of every framed value. */
export const MAGIC_BYTE = 0;
/** Bytes before the Avro payload: magic byte + schema id. */
export const HEADER_SIZE = 5;

/** Prefix an Avro payload with the magic byte and schema id. */
export function frame(schemaId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeInt32BE(schemaId, 1);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** A framed value split into its schema id and its Avro payload offset. */
export interface FrameHeader {
  readonly schemaId: number;
  /** Offset of the Avro payload in the frame (always {@link HEADER_SIZE}). */
  readonly payloadOffset: number;
}

/**
 * Read the header of a framed value.
 * @throws PipelineError `SCHEMA_BAD_MAGIC` when the first byte is not 0; `PAYLOAD_TRUNCATED`
 *   when there are fewer than 5 bytes.
 */
export function readFrameHeader(buf: Uint8Array): FrameHeader {
  if (buf.length >= 1 && buf[0] !== MAGIC_BYTE) {
    throw new PipelineError(
      ErrorCodes.SCHEMA_BAD_MAGIC,
      `not a Confluent-framed value: first byte is ${String(buf[0])}, expected ${MAGIC_BYTE}`,
      { context: { magic: buf[0], length: buf.length } },
    );
  }
  if (buf.length < HEADER_SIZE) {
    throw new PipelineError(
      ErrorCodes.PAYLOAD_TRUNCATED,
      `framed value is ${buf.length} bytes, shorter than the ${HEADER_SIZE}-byte header`,
      { context: { length: buf.length } },
    );
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { schemaId: view.getInt32(1, false), payloadOffset: HEADER_SIZE };
}
