/**
 * The JSON schema of every 4xx/5xx answer of captionflow's HTTP edges, `{ error: { code,
 * message, context? } }` (docs/openapi.yaml: components.schemas.Error), and the answers every
 * route behind an API key can give.
 */
export const ErrorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        context: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

/** Error answers every authenticated route can give. */
export const AUTH_ERRORS = { 401: ErrorBody, 403: ErrorBody, '5xx': ErrorBody } as const;

/** The answer of a rate-limited route past its key's token bucket (`RATE_LIMITED`, with `Retry-After`). */
export const RATE_LIMIT_ERRORS = { 429: ErrorBody } as const;
