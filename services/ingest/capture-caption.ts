/**
 * The caption a mobile capture is answered with, right away, when caption serving runs in the
 * same process (`captionflow run` / `start`). The capture route only sees this small interface:
 * the composition root (app/) adapts the serving caption service to it, so the ingest doors do
 * not depend on how captions are made. Captioning never fails a capture: the capture is in the
 * lake either way, and `captionStatus` says why an answer has no caption.
 */

/** Why a capture's answer has (or has not) a caption. */
export type CaptureCaptionStatus =
  /** `caption` holds the serving model's caption. */
  | 'captioned'
  /** No model serves yet (no champion): the capture waits in the lake and is labeled once one is promoted. */
  | 'no_model'
  /** This process runs no caption serving (a lake-only replica, or serving turned off). */
  | 'serving_unavailable'
  /** The caption queue was full: the capture is stored, ask `POST /v1/captions` later. */
  | 'busy'
  /** The caption was not ready within the serving request timeout. */
  | 'timeout'
  /** Captioning this image failed (`captionError` says why). */
  | 'failed';

/** The caption of a capture. */
export interface CaptureCaption {
  readonly text: string;
  /** Mean log-prob of the caption's tokens (higher is better, <= 0). */
  readonly score: number;
  /** The model version that answered. */
  readonly modelVersion: string;
}

/** The caption part of a capture's answer. */
export interface CaptureCaptionAnswer {
  readonly caption: CaptureCaption | null;
  readonly captionStatus: CaptureCaptionStatus;
  /** Set when `captionStatus` is `failed`, `busy` or `timeout`: the error code and message. */
  readonly captionError?: { readonly code: string; readonly message: string };
}

/** Captions one capture image; never rejects (problems are a {@link CaptureCaptionStatus}). */
export type CaptureCaptioner = (image: Uint8Array) => Promise<CaptureCaptionAnswer>;

/** The answer when no captioner is wired. */
export const NO_CAPTION_SERVING: CaptureCaptionAnswer = {
  caption: null,
  captionStatus: 'serving_unavailable',
};
