/**
 * A batched log-softmax on onnxruntime, for the decoding loops' scores. Every decoding step
 * needs log(sum(exp(logits))) of every row over the whole vocabulary: in JavaScript that is one
 * `Math.exp` per word (about 23 µs a row for 2,048 words, 5-8 % of a serving worker's time on
 * the serving bench model), where ORT's LogSoftmax kernel is vectorized (about 2.4 µs a row at
 * 16 rows, the call included).
 *
 * The graph is one LogSoftmax node over `[rows, vocab]`, written here as ONNX protobuf bytes so
 * that no model file ships or downloads: the encoder below covers exactly the fields it needs.
 */
import * as ort from 'onnxruntime-node';
import type { LogSoftmaxRows } from './decoding.ts';

const INPUT = 'logits';
const OUTPUT = 'log_probs';

/** A loaded log-softmax session; `close()` releases it. */
export interface LogSoftmaxSession {
  readonly run: LogSoftmaxRows;
  close(): Promise<void>;
}

/** Load the log-softmax graph on onnxruntime with the caller's session options. */
export async function createLogSoftmax(options: ort.InferenceSession.SessionOptions): Promise<LogSoftmaxSession> {
  const session = await ort.InferenceSession.create(logSoftmaxModel(), options);
  return {
    run: async (rows) => {
      const first = rows[0];
      if (first === undefined) return [];
      const vocab = first.length;
      const data = contiguous(rows, vocab);
      const out = await session.run({ [INPUT]: new ort.Tensor('float32', data, [rows.length, vocab]) });
      const result = (out[OUTPUT] as ort.Tensor).data as Float32Array;
      return rows.map((_, r) => result.subarray(r * vocab, (r + 1) * vocab));
    },
    close: () => session.release(),
  };
}

/** The rows as one `[rows, vocab]` array: a view when they already lie back to back in one buffer (a decoder's last-position logits do), else a copy. */
function contiguous(rows: readonly Float32Array[], vocab: number): Float32Array {
  const first = rows[0] as Float32Array;
  const adjacent = rows.every(
    (r, i) => r.length === vocab && r.buffer === first.buffer && r.byteOffset === first.byteOffset + i * vocab * 4,
  );
  if (adjacent) return new Float32Array(first.buffer, first.byteOffset, rows.length * vocab);
  const out = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => {
    if (r.length !== vocab) throw new RangeError(`log-softmax rows differ in length: ${r.length} and ${vocab}`);
    out.set(r, i * vocab);
  });
  return out;
}

// --- ONNX protobuf, the few fields used (onnx/onnx.proto3) ---

const VARINT = 0;
const BYTES = 2;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTRIBUTE_INT = 2; // AttributeProto.AttributeType.INT

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function field(number: number, value: number | string | readonly number[]): number[] {
  if (typeof value === 'number') return [...varint((number << 3) | VARINT), ...varint(value)];
  const bytes = typeof value === 'string' ? [...new TextEncoder().encode(value)] : value;
  return [...varint((number << 3) | BYTES), ...varint(bytes.length), ...bytes];
}

/** A float tensor `[rows, vocab]` with symbolic dimensions (ValueInfoProto). */
function matrix(name: string): number[] {
  const dim = (param: string): number[] => field(1, field(2, param)); // Dimension.dim_param
  const shape = [...dim('rows'), ...dim('vocab')];
  const tensorType = [...field(1, FLOAT), ...field(2, shape)]; // elem_type, shape
  return [...field(1, name), ...field(2, field(1, tensorType))]; // name, type.tensor_type
}

/** The ONNX model: LogSoftmax over axis 1 of a float `[rows, vocab]`, opset 13, IR version 8. */
export function logSoftmaxModel(): Uint8Array {
  const axis = [...field(1, 'axis'), ...field(3, 1), ...field(20, ATTRIBUTE_INT)]; // name, i, type
  const node = [...field(1, INPUT), ...field(2, OUTPUT), ...field(4, 'LogSoftmax'), ...field(5, axis)];
  const graph = [...field(1, node), ...field(2, 'log_softmax'), ...field(11, matrix(INPUT)), ...field(12, matrix(OUTPUT))];
  const opset = [...field(1, ''), ...field(2, 13)];
  return Uint8Array.from([...field(1, 8), ...field(7, graph), ...field(8, opset)]);
}
