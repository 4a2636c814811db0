/**
 * Worker-thread entry for training augmentation: the engine runs it on its Piscina pool when a
 * deployment enables augmentation. Plain data in and out; variant bytes own their buffers so
 * they are transferred back, not copied.
 */
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { augmentImage, type AugmentOptionsInput, type AugmentedVariant } from './augment.ts';

/** One unit of work: the normalized image and the augmentation options (seed included). */
export interface AugmentTask {
  readonly bytes: Uint8Array | ArrayBuffer;
  readonly options: AugmentOptionsInput;
}

/** Produce the seeded variants of one image. */
export default async function augmentTask(task: AugmentTask): Promise<AugmentedVariant[]> {
  try {
    const bytes = task.bytes instanceof ArrayBuffer ? new Uint8Array(task.bytes) : task.bytes;
    const variants = await augmentImage(bytes, task.options);
    return variants.map((v) => ({ ...v, bytes: new Uint8Array(v.bytes) }));
  } catch (err) {
    throw PipelineError.from(err, ErrorCodes.INTERNAL);
  }
}
