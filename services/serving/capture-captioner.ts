/**
 * The serving caption service as the mobile capture door's captioner: one image through the same
 * micro-batcher and model as `POST /v1/captions`, with the serving request timeout, its outcome
 * mapped to a capture's `captionStatus` (never a rejection: a capture does not fail because its
 * caption could not be made).
 */
import { PipelineError } from '../../schemas/errors.ts';
import type { CaptureCaptionAnswer, CaptureCaptioner } from '../ingest/capture-caption.ts';
import type { CaptionService } from './caption-service.ts';
import { ServingErrorCodes } from './serving-errors.ts';

const STATUS_OF_CODE: Readonly<Record<string, CaptureCaptionAnswer['captionStatus']>> = {
  [ServingErrorCodes.NO_MODEL]: 'no_model',
  [ServingErrorCodes.QUEUE_FULL]: 'busy',
  [ServingErrorCodes.DEADLINE_EXCEEDED]: 'timeout',
};

function failed(err: unknown): CaptureCaptionAnswer {
  const e = PipelineError.from(err);
  const captionStatus = STATUS_OF_CODE[e.code] ?? 'failed';
  // No model is a state, not an error: the answer says so without an error object.
  if (captionStatus === 'no_model') return { caption: null, captionStatus };
  return { caption: null, captionStatus, captionError: { code: e.code, message: e.message } };
}

/** A capture captioner on `service` (the default alias, default decoding), waiting at most `timeoutMs`. */
export function captureCaptioner(
  service: Pick<CaptionService, 'caption'>,
  timeoutMs: number,
): CaptureCaptioner {
  return async (image) => {
    try {
      const [result] = await service.caption({ images: [image], deadline: performance.now() + timeoutMs });
      if (result === undefined) return failed(new Error('the caption service answered nothing'));
      if (!result.ok) return failed(new PipelineError(result.error.code, result.error.message));
      return {
        caption: { text: result.text, score: result.score, modelVersion: result.modelVersion },
        captionStatus: 'captioned',
      };
    } catch (err) {
      return failed(err);
    }
  };
}
