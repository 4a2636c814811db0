/**
 * Options of image normalization: validated once, defaulted, and fingerprinted for lineage.
 */
import sharp from 'sharp';
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { stableHash } from '../hash/sha256.ts';

/**
 * Version of the normalization code. Bump it whenever a change alters output bytes,
 * hashes or quality figures for the same input and options: lineage relies on it.
 */
export const PROCESSING_VERSION = 'image-normalize@1';

/** Output encodings for the model input and the thumbnail. */
export const OUTPUT_FORMATS = ['webp', 'jpeg', 'png'] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** MIME type of each output format. */
export const OUTPUT_MIME_TYPES: Readonly<Record<OutputFormat, string>> = {
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
};

const positiveInt = (max: number) => z.int().min(1).max(max);

/** Zod schema of the options; every field has a default, unknown keys are rejected. */
export const NormalizeOptionsSchema = z
  .object({
    /** Inputs larger than this many bytes are refused (IMAGE_TOO_LARGE). */
    maxBytes: positiveInt(2 ** 31).default(25 * 1024 * 1024),
    /** Inputs with more pixels (width x height of one frame) are refused (PIXEL_LIMIT_EXCEEDED). */
    maxPixels: positiveInt(2 ** 31).default(40_000_000),
    modelInput: z
      .object({
        /** Side of the square image fed to the model. */
        size: z.int().min(8).max(4096).default(96),
        /** `cover` crops to fill the square; `contain` letterboxes on the background colour. */
        fit: z.enum(['cover', 'contain']).default('cover'),
      })
      .strict()
      .prefault({}),
    thumbnail: z
      .object({
        /** Longest side of the thumbnail; smaller images are not enlarged. */
        maxSide: z.int().min(16).max(4096).default(256),
      })
      .strict()
      .prefault({}),
    encode: z
      .object({
        format: z.enum(OUTPUT_FORMATS).default('webp'),
        /** Quality 1..100 for webp and jpeg; ignored by png (lossless). */
        quality: z.int().min(1).max(100).default(85),
      })
      .strict()
      .prefault({}),
    /** Colour that transparent pixels are flattened onto, `#rrggbb`. */
    background: z
      .string()
      .regex(/^#[0-9a-fA-F]{6}$/, 'expected a #rrggbb colour')
      .default('#ffffff'),
    /** Longest side of the greyscale image quality figures are measured on (comparable across sizes). */
    analysisMaxSide: z.int().min(32).max(2048).default(256),
    /** libvips gives up after this many seconds on one image (0 disables). */
    timeoutSeconds: z.int().min(0).max(3600).default(30),
  })
  .strict();

/** Options as a caller writes them: every field optional. */
export type NormalizeOptionsInput = z.input<typeof NormalizeOptionsSchema>;

/** Fully defaulted and validated options. */
export type NormalizeOptions = z.output<typeof NormalizeOptionsSchema>;

/** Defaults of every option. */
export const DEFAULT_NORMALIZE_OPTIONS: NormalizeOptions = NormalizeOptionsSchema.parse({});

/**
 * Validate and default options. Throws CONFIG_INVALID naming each bad key, its value and
 * what was expected, so a misconfiguration fails at start rather than on the first image.
 */
export function resolveNormalizeOptions(
  input: NormalizeOptionsInput | NormalizeOptions = {},
): NormalizeOptions {
  const result = NormalizeOptionsSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) =>
      `${issue.path.join('.') || '(root)'}=${JSON.stringify(issue.input) ?? 'undefined'}: ${issue.message}`,
  );
  throw new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `invalid image normalize options: ${problems.join('; ')}`,
    {
      context: { issues: problems },
    },
  );
}

/**
 * Identifies the code, the libvips/sharp build and the options that produce an output, e.g.
 * `image-normalize@1+3f2a9c0d41be`. Equal fingerprints mean byte-identical outputs for the
 * same input; lineage records it as the preprocessing hash.
 */
export function processingFingerprint(opts: NormalizeOptionsInput | NormalizeOptions = {}): string {
  const resolved = resolveNormalizeOptions(opts);
  const digest = stableHash({
    version: PROCESSING_VERSION,
    options: resolved,
    // Different libvips builds resample and encode differently: part of "which code".
    sharp: sharp.versions.sharp ?? 'unknown',
    vips: sharp.versions.vips,
  });
  return `${PROCESSING_VERSION}+${digest.slice(0, 12)}`;
}
