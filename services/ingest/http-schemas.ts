/**
 * JSON schemas of the ingest routes: Fastify validates requests and serializes responses with
 * them, and docs/openapi.yaml documents the same shapes (components.schemas of the same names;
 * tests/unit/services/ingest/openapi.test.ts checks they agree, so the document cannot drift).
 * Keep to the subset that means the same in JSON Schema draft-07 (Ajv) and 2020-12 (OpenAPI 3.1).
 */
import { ErrorBody } from '../../runtime/http/error-body.ts';

/** `{ error: { code, message, context? } }`, the body of every 4xx/5xx answer, lives with the HTTP edge. */
export { ErrorBody, AUTH_ERRORS, RATE_LIMIT_ERRORS } from '../../runtime/http/error-body.ts';

/** An image id: lowercase hex sha256 of the original bytes. */
export const IMAGE_ID_PATTERN = '^[0-9a-f]{64}$';
/** A caption id: `cap-` and a sha256. */
export const CAPTION_ID_PATTERN = '^cap-[0-9a-f]{64}$';
/** Longest caption text accepted by the review route. */
export const MAX_REVIEW_TEXT_CHARS = 2000;

/** One image accepted by `POST /v1/images`. */
export const IngestedImage = {
  type: 'object',
  required: ['imageId', 'eventId', 'storedNew', 'originalFilename'],
  properties: {
    imageId: { type: 'string', pattern: IMAGE_ID_PATTERN },
    eventId: { type: 'string' },
    storedNew: { type: 'boolean' },
    originalFilename: { type: ['string', 'null'] },
  },
} as const;

/** 202 of `POST /v1/images`. */
export const UploadAccepted = {
  type: 'object',
  required: ['images'],
  properties: { images: { type: 'array', items: IngestedImage } },
} as const;

/** The caption a capture is answered with, or null (see services/ingest/capture-caption.ts). */
export const CaptureCaption = {
  type: ['object', 'null'],
  required: ['text', 'score', 'modelVersion'],
  properties: {
    text: { type: 'string' },
    score: { type: 'number' },
    modelVersion: { type: 'string' },
  },
} as const;

/** 200/202 of `POST /v1/captures`. */
export const CaptureAccepted = {
  type: 'object',
  required: ['imageId', 'eventId', 'captureEventId', 'caption', 'captionStatus'],
  properties: {
    imageId: { type: 'string', pattern: IMAGE_ID_PATTERN },
    eventId: { type: 'string' },
    captureEventId: { type: 'string' },
    caption: CaptureCaption,
    captionStatus: {
      type: 'string',
      enum: ['captioned', 'no_model', 'serving_unavailable', 'busy', 'timeout', 'failed'],
    },
    captionError: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

/** A caption as the review routes show it. */
export const ReviewCaption = {
  type: 'object',
  required: ['id', 'text', 'origin', 'language', 'modelVersion', 'score'],
  properties: {
    id: { type: 'string', pattern: CAPTION_ID_PATTERN },
    text: { type: 'string' },
    origin: { type: 'string', enum: ['human', 'machine'] },
    language: { type: ['string', 'null'] },
    modelVersion: { type: ['string', 'null'] },
    score: { type: ['number', 'null'] },
  },
} as const;

/** An image waiting for review and its pending machine captions. */
export const ReviewQueueItem = {
  type: 'object',
  required: ['imageId', 'source', 'status', 'captions'],
  properties: {
    imageId: { type: 'string', pattern: IMAGE_ID_PATTERN },
    source: { type: 'string' },
    status: { type: 'string' },
    captions: { type: 'array', items: ReviewCaption },
  },
} as const;

/** 200 of `GET /v1/review/queue`. */
export const ReviewQueuePage = {
  type: 'object',
  required: ['items', 'next'],
  properties: {
    items: { type: 'array', items: ReviewQueueItem },
    next: { type: ['string', 'null'] },
  },
} as const;

/** Body of `POST /v1/review/{imageId}`. */
export const ReviewRequest = {
  type: 'object',
  required: ['action'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', enum: ['accept', 'correct', 'reject'] },
    captionId: { type: 'string', pattern: CAPTION_ID_PATTERN },
    text: { type: 'string', minLength: 1, maxLength: MAX_REVIEW_TEXT_CHARS },
  },
} as const;

/** 200 of `POST /v1/review/{imageId}`. */
export const ReviewResult = {
  type: 'object',
  required: ['imageId', 'action', 'rejectedCaptionIds'],
  properties: {
    imageId: { type: 'string', pattern: IMAGE_ID_PATTERN },
    action: { type: 'string', enum: ['accept', 'correct', 'reject'] },
    caption: ReviewCaption,
    rejectedCaptionIds: { type: 'array', items: { type: 'string', pattern: CAPTION_ID_PATTERN } },
  },
} as const;

/** Query of `GET /v1/review/queue`. */
export const ReviewQueueQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    after: { type: 'string', pattern: IMAGE_ID_PATTERN },
  },
} as const;

/** Path parameters of `POST /v1/review/{imageId}`. */
export const ImageIdParams = {
  type: 'object',
  required: ['imageId'],
  properties: { imageId: { type: 'string', pattern: IMAGE_ID_PATTERN } },
} as const;

/** The schemas docs/openapi.yaml must hold under `components.schemas`, by name. */
export const DOCUMENTED_SCHEMAS = {
  Error: ErrorBody,
  IngestedImage,
  UploadAccepted,
  CaptureAccepted,
  ReviewCaption,
  ReviewQueueItem,
  ReviewQueuePage,
  ReviewRequest,
  ReviewResult,
} as const;
