/**
 * Options of caption normalization: validated once, defaulted, and fingerprinted for lineage.
 */
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { stableHash } from '../hash/sha256.ts';

/**
 * Version of the caption normalization code. Bump it whenever a change alters the text,
 * tokens or verdict for the same input and options: lineage relies on it.
 */
export const CAPTION_PROCESSING_VERSION = 'caption-normalize@2';

/** Zod schema of the options; every field has a default, unknown keys are rejected. */
export const CaptionOptionsSchema = z
  .object({
    /** `lower` uses Unicode default case mapping (locale-independent: no Turkish-i surprises). */
    casing: z.enum(['preserve', 'lower']).default('lower'),
    /** `strip-trailing` drops sentence-final . ! ? , ; : …; `strip` removes all Unicode punctuation. */
    punctuation: z.enum(['keep', 'strip-trailing', 'strip']).default('strip-trailing'),
    /** Fewer word tokens than this: CAPTION_TOO_SHORT (zero tokens is always CAPTION_EMPTY). */
    minTokens: z.int().min(1).max(1000).default(1),
    /** More word tokens than this: CAPTION_TOO_LONG. */
    maxTokens: z.int().min(1).max(10_000).default(64),
    /** More code points (after normalization) than this: CAPTION_TOO_LONG. */
    maxChars: z.int().min(1).max(100_000).default(512),
    /** Words or phrases whose presence drops the caption (CAPTION_BLOCKED); case-insensitive, whole tokens. */
    blockedWords: z.array(z.string().min(1)).default([]),
    /** Drop captions of the same image that normalize to the same tokens (DUPLICATE). */
    dedupe: z.boolean().default(true),
  })
  .strict()
  .refine((o) => o.minTokens <= o.maxTokens, {
    message: 'minTokens must not exceed maxTokens',
    path: ['minTokens'],
  });

/** Options as a caller writes them: every field optional. */
export type CaptionOptionsInput = z.input<typeof CaptionOptionsSchema>;

/** Fully defaulted and validated options. */
export type CaptionOptions = z.output<typeof CaptionOptionsSchema>;

/** Defaults of every option. */
export const DEFAULT_CAPTION_OPTIONS: CaptionOptions = CaptionOptionsSchema.parse({});

/** Validate and default options; throws CONFIG_INVALID naming each bad key, its value and what was expected. */
export function resolveCaptionOptions(input: CaptionOptionsInput | CaptionOptions = {}): CaptionOptions {
  const result = CaptionOptionsSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) =>
      `${issue.path.join('.') || '(root)'}=${JSON.stringify(issue.input) ?? 'undefined'}: ${issue.message}`,
  );
  throw new PipelineError(ErrorCodes.CONFIG_INVALID, `invalid caption options: ${problems.join('; ')}`, {
    context: { issues: problems },
  });
}

/** Identifies the code and options that produce a caption, e.g. `caption-normalize@2+9c0d41be3f2a`. */
export function captionFingerprint(opts: CaptionOptionsInput | CaptionOptions = {}): string {
  const digest = stableHash({ version: CAPTION_PROCESSING_VERSION, options: resolveCaptionOptions(opts) });
  return `${CAPTION_PROCESSING_VERSION}+${digest.slice(0, 12)}`;
}
