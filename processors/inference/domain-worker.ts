/**
 * Worker-thread entry for scoring images against a model version's domain gate without
 * captioning them (curation's OUT_OF_DOMAIN reason): the encoder runs, decoding does not. It
 * shares the caption worker's per-thread model cache ({@link withCaptioner}), so a thread that
 * captions with a version and scores with it loads that version once.
 *
 * Per-image problems (undecodable bytes) are per-image errors; a version without
 * `domain-gate.json` answers `domain: null` for every image (nothing to judge with).
 */
import { ErrorCodes, PipelineError, type SerializedError, serializeError } from '../../schemas/errors.ts';
import { type ModelTask, withCaptioner } from './caption-worker.ts';
import { type DomainScore, scoreDomain } from './domain-gate.ts';

/** One unit of work: the model version (with its bundle) and the encoded images to score. */
export type DomainTask = ModelTask;

/** One image's verdict, null when the version has no gate. */
export type DomainOutcome =
  | { readonly ok: true; readonly domain: DomainScore | null }
  | { readonly ok: false; readonly error: SerializedError };

/** What the worker returns. */
export interface DomainTaskResult {
  readonly modelVersion: string;
  /** One per task image, in order. */
  readonly results: DomainOutcome[];
}

/** Score the images of one task (the pool calls this). */
export default async function domainTask(task: DomainTask): Promise<DomainTaskResult> {
  return withCaptioner(task, async (captioner, { version }) => {
    const gate = captioner.bundle.domainGate;
    const results = await Promise.all(
      task.images.map(async (image): Promise<DomainOutcome> => {
        if (gate === undefined) return { ok: true, domain: null };
        try {
          const rows = await captioner.embed([image instanceof ArrayBuffer ? new Uint8Array(image) : image]);
          return { ok: true, domain: scoreDomain(gate, rows)[0] ?? null };
        } catch (err) {
          // A model whose gate does not fit its encoder is the model's fault, not the image's.
          if (err instanceof PipelineError && err.code === ErrorCodes.MODEL_INVALID) throw err;
          return { ok: false, error: serializeError(PipelineError.from(err, ErrorCodes.IMAGE_DECODE_FAILED)) };
        }
      }),
    );
    return { modelVersion: version, results };
  });
}
