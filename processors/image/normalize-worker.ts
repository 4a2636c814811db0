/**
 * Worker-thread entry for image normalization: the engine hands this module's path to its
 * Piscina pool. Input and output are plain data (Uint8Array/ArrayBuffer fields, numbers,
 * strings), so they cross the thread boundary by structured clone or transfer.
 *
 * Every failure leaves as a {@link PipelineError}; the pool's worker entry serializes it
 * and rebuilds it on the caller's side with its code intact. Byte fields of the result are
 * whole, plain ArrayBuffers, so the pool can transfer them instead of copying.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { normalizeImage, type NormalizedImage } from './normalize.ts';
import type { NormalizeOptionsInput } from './normalize-options.ts';

/** One unit of work for the pool. */
export interface NormalizeTask {
  /** The original image bytes; an ArrayBuffer when the caller transferred it. */
  readonly bytes: Uint8Array | ArrayBuffer;
  /** Normalization options; defaults when absent. */
  readonly options?: NormalizeOptionsInput;
}

/** What the worker returns: {@link NormalizedImage}, its byte fields each owning a plain, transferable ArrayBuffer. */
export type NormalizeTaskResult = NormalizedImage;

/** Normalize the image of one task (the pool calls this). */
export default async function normalizeTask(task: NormalizeTask): Promise<NormalizeTaskResult> {
  try {
    const bytes = toBytes(task);
    const result = await normalizeImage(bytes, task.options ?? {});
    return {
      ...result,
      modelInput: { ...result.modelInput, bytes: ownedCopy(result.modelInput.bytes) },
      thumbnail: { ...result.thumbnail, bytes: ownedCopy(result.thumbnail.bytes) },
    };
  } catch (err) {
    // Anything that is not already a PipelineError is a bug or a library fault, not bad input.
    throw PipelineError.from(err, ErrorCodes.INTERNAL);
  }
}

function toBytes(task: NormalizeTask): Uint8Array {
  const bytes: unknown = (task as { bytes?: unknown } | null | undefined)?.bytes;
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new PipelineError(
    ErrorCodes.INTERNAL,
    'normalize task needs a bytes field (Uint8Array or ArrayBuffer)',
    {
      context: { got: bytes === null ? 'null' : typeof bytes },
    },
  );
}

/**
 * A fresh Uint8Array over its own plain ArrayBuffer. sharp returns Buffers over memory that
 * libvips allocated, which V8 will not detach, so a transfer list would silently copy them
 * (or throw); a small copy here keeps the result transferable and the contract simple.
 */
function ownedCopy(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}
