import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { COLOURS, SHAPES } from './vocabulary.ts';
import type { Colour, Shape } from './vocabulary.ts';

/** A concept of the vocabulary: a shape, a colour, or both. */
export interface ConceptFilter {
  /** One of `SHAPES`. */
  readonly shape?: string;
  /** One of `COLOURS`. */
  readonly colour?: string;
}

/** How one scene is drawn and which concepts it may contain. */
export interface SceneOptions {
  /** Image size in pixels: a number for a square, default 128. */
  readonly size?: number | { readonly width: number; readonly height: number };
  /** Encoding of the image bytes, default 'png'. */
  readonly format?: 'png' | 'jpeg';
  /** JPEG quality 1..100, default 90 (ignored for PNG). */
  readonly jpegQuality?: number;
  /**
   * Concepts never generated: a held-out shape appears in no scene, a held-out colour
   * appears in no scene (each given field is excluded on its own). Use it to train a model
   * that has never seen the concept, then teach it with {@link onlyConcept} scenes.
   */
  readonly holdOut?: ConceptFilter;
  /**
   * Generate only scenes containing this concept: every scene has a group of that shape (and
   * colour, when both are given). The "new data" of an incremental-learning demo.
   */
  readonly onlyConcept?: ConceptFilter;
}

/** Options of a run of scenes. */
export interface GenerateScenesOptions extends SceneOptions {
  /** Base seed, an integer in [0, 2^32). Scene i uses `deriveSceneSeed(seed, i)`. */
  readonly seed: number;
  /** How many scenes to generate. */
  readonly count: number;
}

/** {@link SceneOptions} after validation, with defaults applied. */
export interface ResolvedSceneOptions {
  readonly width: number;
  readonly height: number;
  readonly format: 'png' | 'jpeg';
  readonly jpegQuality: number;
  /** Shapes that may be drawn (held-out ones removed), in vocabulary order. */
  readonly shapes: readonly Shape[];
  /** Colours that may be drawn (held-out ones removed), in vocabulary order. */
  readonly colours: readonly Colour[];
  /** The concept every scene must contain, if any. */
  readonly required: { readonly shape?: Shape; readonly colour?: Colour } | undefined;
}

const dimension = z.number().int().min(16).max(2048);
const seed = z.number().int().min(0).max(0xffffffff);
const concept = z
  .object({ shape: z.enum(SHAPES).optional(), colour: z.enum(COLOURS as [Colour, ...Colour[]]).optional() })
  .strict();
const sceneOptionsSchema = z
  .object({
    size: z.union([dimension, z.object({ width: dimension, height: dimension }).strict()]).optional(),
    format: z.enum(['png', 'jpeg']).optional(),
    jpegQuality: z.number().int().min(1).max(100).optional(),
    holdOut: concept.optional(),
    onlyConcept: concept
      .refine((c) => c.shape !== undefined || c.colour !== undefined, 'name a shape, a colour or both')
      .optional(),
  })
  .strict();
const runOptionsSchema = sceneOptionsSchema.extend({ seed, count: z.number().int().min(0).max(10_000_000) });

/**
 * Validate scene options and apply defaults.
 * @throws PipelineError `CONFIG_INVALID` naming the key, the value and what was expected.
 */
export function resolveSceneOptions(options: unknown = {}): ResolvedSceneOptions {
  return resolve(parse(sceneOptionsSchema, options));
}

/**
 * Validate run options (seed and count included) and apply defaults.
 * @throws PipelineError `CONFIG_INVALID` naming the key, the value and what was expected.
 */
export function resolveRunOptions(options: unknown): {
  readonly seed: number;
  readonly count: number;
  readonly scene: ResolvedSceneOptions;
} {
  const parsed = parse(runOptionsSchema, options);
  return { seed: parsed.seed, count: parsed.count, scene: resolve(parsed) };
}

/**
 * Validate a scene seed.
 * @throws PipelineError `CONFIG_INVALID` when it is not an integer in [0, 2^32).
 */
export function validateSeed(value: unknown): number {
  return parse(z.object({ seed }), { seed: value }).seed;
}

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = issue === undefined || issue.path.length === 0 ? '(options)' : issue.path.join('.');
  const value = issue?.input;
  throw new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `synthetic scene option ${key}: got ${JSON.stringify(value) ?? String(value)}, expected ${issue?.message ?? 'a valid value'}`,
    {
      context: {
        key,
        value,
        issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      },
    },
  );
}

function resolve(parsed: z.infer<typeof sceneOptionsSchema>): ResolvedSceneOptions {
  const size = parsed.size ?? 128;
  const [width, height] = typeof size === 'number' ? [size, size] : [size.width, size.height];
  const shapes = SHAPES.filter((s) => s !== parsed.holdOut?.shape);
  const colours = COLOURS.filter((c) => c !== parsed.holdOut?.colour);
  const only = parsed.onlyConcept;
  if (only?.shape !== undefined && only.shape === parsed.holdOut?.shape) {
    throw conflict('onlyConcept.shape', only.shape);
  }
  if (only?.colour !== undefined && only.colour === parsed.holdOut?.colour) {
    throw conflict('onlyConcept.colour', only.colour);
  }
  const required =
    only === undefined
      ? undefined
      : {
          ...(only.shape === undefined ? {} : { shape: only.shape }),
          ...(only.colour === undefined ? {} : { colour: only.colour }),
        };
  return {
    width,
    height,
    format: parsed.format ?? 'png',
    jpegQuality: parsed.jpegQuality ?? 90,
    shapes,
    colours,
    required,
  };
}

function conflict(key: string, value: string): PipelineError {
  return new PipelineError(
    ErrorCodes.CONFIG_INVALID,
    `synthetic scene option ${key}: got ${JSON.stringify(value)}, expected a concept that is not held out`,
    { context: { key, value } },
  );
}
