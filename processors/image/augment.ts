/**
 * Seeded image augmentation for training: random resized crop, small rotation and scale,
 * brightness and contrast jitter, and either gaussian noise or blur.
 *
 * Every variant is a pure function of the input and its {@link AugmentParams}; the params
 * are a pure function of the seed. Same input + same seed gives byte-identical variants,
 * and a recorded params object replays its variant exactly ({@link applyAugmentation}).
 * Geometry and colour are done in JS on small raw buffers because sharp applies its
 * operations in a fixed order, not the order they are chained in.
 */
import sharp from 'sharp';
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import { createPrng, deriveSeed, type Prng } from '../hash/prng.ts';
import { sha256Hex } from '../hash/sha256.ts';
import { OUTPUT_FORMATS, OUTPUT_MIME_TYPES, type OutputFormat } from './normalize-options.ts';
import type { RawImage } from './raw-image.ts';

/** Everything that determines one variant. */
export interface AugmentParams {
  /** Crop rectangle in input pixels, resized to the output size. */
  readonly crop: {
    readonly left: number;
    readonly top: number;
    readonly width: number;
    readonly height: number;
  };
  /** Rotation about the centre, degrees (positive is clockwise). */
  readonly rotateDeg: number;
  /** Zoom about the centre (> 1 zooms in). */
  readonly scale: number;
  /** Additive brightness shift as a fraction of full scale. */
  readonly brightness: number;
  /** Contrast factor around mid-grey. */
  readonly contrast: number;
  /** Gaussian noise (std on 0..255), blur (gaussian sigma in pixels), or neither. */
  readonly degrade:
    | { readonly kind: 'none' }
    | { readonly kind: 'noise'; readonly sigma: number; readonly seed: number }
    | { readonly kind: 'blur'; readonly sigma: number };
}

const range = (min: number, max: number) =>
  z
    .tuple([z.number().min(min).max(max), z.number().min(min).max(max)])
    .refine(([a, b]) => a <= b, 'expected [min, max] with min <= max');

/** Zod schema of augmentation options. */
export const AugmentOptionsSchema = z
  .object({
    /** Base seed; variant i uses deriveSeed(seed, 'variant', i). */
    seed: z.union([z.int(), z.string()]),
    /** Number of variants. */
    count: z.int().min(1).max(1000).default(4),
    /** Square output side; default keeps the input's width and height. */
    size: z.int().min(8).max(4096).optional(),
    /** Fraction of the input area kept by the random crop. */
    cropArea: range(0.05, 1).default([0.6, 1]),
    /** Aspect ratio (w/h) of the random crop, sampled log-uniformly. */
    cropAspect: range(0.1, 10).default([3 / 4, 4 / 3]),
    /** Largest absolute rotation, degrees. */
    maxRotateDeg: z.number().min(0).max(180).default(10),
    scale: range(0.5, 2).default([0.9, 1.1]),
    brightness: range(-1, 1).default([-0.1, 0.1]),
    contrast: range(0, 4).default([0.8, 1.2]),
    /** Probability of adding noise, and of blurring instead (they are exclusive). */
    noiseProbability: z.number().min(0).max(1).default(0.25),
    blurProbability: z.number().min(0).max(1).default(0.25),
    noiseSigma: range(0, 64).default([2, 8]),
    blurSigma: range(0.3, 10).default([0.4, 1.2]),
    encode: z
      .object({
        format: z.enum(OUTPUT_FORMATS).default('webp'),
        quality: z.int().min(1).max(100).default(90),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((o) => o.noiseProbability + o.blurProbability <= 1, {
    message: 'noiseProbability + blurProbability must not exceed 1',
    path: ['noiseProbability'],
  });

/** Augmentation options as a caller writes them (only `seed` is required). */
export type AugmentOptionsInput = z.input<typeof AugmentOptionsSchema>;

/** Fully defaulted augmentation options. */
export type AugmentOptions = z.output<typeof AugmentOptionsSchema>;

/** One augmented variant. */
export interface AugmentedVariant {
  readonly index: number;
  /** The variant's own seed (derived from the base seed and index). */
  readonly seed: number;
  readonly params: AugmentParams;
  readonly bytes: Uint8Array;
  readonly format: OutputFormat;
  readonly mime: string;
  readonly width: number;
  readonly height: number;
  readonly sha256: string;
}

/**
 * Produce `count` seeded variants of an image (encoded bytes of a trusted, normalized
 * image, or raw pixels). Throws CONFIG_INVALID for bad options, IMAGE_DECODE_FAILED when
 * the bytes do not decode.
 */
export async function augmentImage(
  input: Uint8Array | RawImage,
  opts: AugmentOptionsInput,
): Promise<AugmentedVariant[]> {
  const options = resolveAugmentOptions(opts);
  const source = await toRgb(input);
  const outWidth = options.size ?? source.width;
  const outHeight = options.size ?? source.height;
  const variants: AugmentedVariant[] = [];
  // Sequential on purpose: the caller already runs one image per worker thread.
  for (let index = 0; index < options.count; index++) {
    const seed = deriveSeed(options.seed, 'variant', index);
    const params = sampleAugmentParams(createPrng(seed), source.width, source.height, options);
    const image = await applyAugmentation(source, params, outWidth, outHeight);
    const { format, quality } = options.encode;
    const raw = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
    const encoded =
      format === 'webp' ? raw.webp({ quality }) : format === 'jpeg' ? raw.jpeg({ quality }) : raw.png();
    const bytes = await encoded.toBuffer();
    variants.push({
      index,
      seed,
      params,
      bytes,
      format,
      mime: OUTPUT_MIME_TYPES[format],
      width: image.width,
      height: image.height,
      sha256: sha256Hex(bytes),
    });
  }
  return variants;
}

/** Validate and default augmentation options (CONFIG_INVALID on error). */
export function resolveAugmentOptions(input: AugmentOptionsInput | AugmentOptions): AugmentOptions {
  const result = AugmentOptionsSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) =>
      `${issue.path.join('.') || '(root)'}=${JSON.stringify(issue.input) ?? 'undefined'}: ${issue.message}`,
  );
  throw new PipelineError(ErrorCodes.CONFIG_INVALID, `invalid augment options: ${problems.join('; ')}`, {
    context: { issues: problems },
  });
}

/** Draw one variant's parameters for a `width` x `height` input. */
export function sampleAugmentParams(
  prng: Prng,
  width: number,
  height: number,
  options: AugmentOptions,
): AugmentParams {
  const area = width * height * prng.uniform(options.cropArea[0], options.cropArea[1]);
  const aspect = Math.exp(prng.uniform(Math.log(options.cropAspect[0]), Math.log(options.cropAspect[1])));
  const cropWidth = clampInt(Math.round(Math.sqrt(area * aspect)), 1, width);
  const cropHeight = clampInt(Math.round(Math.sqrt(area / aspect)), 1, height);
  const crop = {
    left: prng.int(0, width - cropWidth),
    top: prng.int(0, height - cropHeight),
    width: cropWidth,
    height: cropHeight,
  };
  const rotateDeg = prng.uniform(-options.maxRotateDeg, options.maxRotateDeg);
  const scale = prng.uniform(options.scale[0], options.scale[1]);
  const brightness = prng.uniform(options.brightness[0], options.brightness[1]);
  const contrast = prng.uniform(options.contrast[0], options.contrast[1]);
  const roll = prng.next();
  let degrade: AugmentParams['degrade'] = { kind: 'none' };
  if (roll < options.noiseProbability) {
    degrade = {
      kind: 'noise',
      sigma: prng.uniform(options.noiseSigma[0], options.noiseSigma[1]),
      seed: prng.int(0, 0xffffffff),
    };
  } else if (roll < options.noiseProbability + options.blurProbability) {
    degrade = { kind: 'blur', sigma: prng.uniform(options.blurSigma[0], options.blurSigma[1]) };
  }
  return { crop, rotateDeg, scale, brightness, contrast, degrade };
}

/** Apply recorded params to a 3-channel raw image; deterministic. */
export async function applyAugmentation(
  source: RawImage,
  params: AugmentParams,
  outWidth: number,
  outHeight: number,
): Promise<RawImage> {
  const { crop } = params;
  const cropped = await sharp(source.data, {
    raw: { width: source.width, height: source.height, channels: 3 },
  })
    .extract({ left: crop.left, top: crop.top, width: crop.width, height: crop.height })
    .resize(outWidth, outHeight, { fit: 'fill' })
    .raw()
    .toBuffer();
  let pixels: Uint8Array = warp(cropped, outWidth, outHeight, params.rotateDeg, params.scale);
  if (params.degrade.kind === 'blur') {
    pixels = await sharp(pixels, { raw: { width: outWidth, height: outHeight, channels: 3 } })
      .blur(params.degrade.sigma)
      .raw()
      .toBuffer();
  }
  adjustColour(pixels, params.brightness, params.contrast);
  if (params.degrade.kind === 'noise') addNoise(pixels, params.degrade.sigma, params.degrade.seed);
  return { data: pixels, width: outWidth, height: outHeight, channels: 3 };
}

/** Rotate and scale about the centre with bilinear sampling; edges are clamped (no black corners). */
function warp(src: Uint8Array, width: number, height: number, rotateDeg: number, scale: number): Uint8Array {
  if (rotateDeg === 0 && scale === 1) return Uint8Array.from(src);
  const out = new Uint8Array(width * height * 3);
  const theta = (rotateDeg * Math.PI) / 180;
  // Inverse mapping: for each output pixel, where it comes from in the source.
  const cos = Math.cos(theta) / scale;
  const sin = Math.sin(theta) / scale;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const sx = clamp(cos * dx + sin * dy + cx, 0, width - 1);
      const sy = clamp(-sin * dx + cos * dy + cy, 0, height - 1);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, width - 1);
      const y1 = Math.min(y0 + 1, height - 1);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const top =
          (src[(y0 * width + x0) * 3 + c] ?? 0) * (1 - fx) + (src[(y0 * width + x1) * 3 + c] ?? 0) * fx;
        const bottom =
          (src[(y1 * width + x0) * 3 + c] ?? 0) * (1 - fx) + (src[(y1 * width + x1) * 3 + c] ?? 0) * fx;
        out[(y * width + x) * 3 + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

function adjustColour(pixels: Uint8Array, brightness: number, contrast: number): void {
  const shift = brightness * 255;
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = clampInt(Math.round(((pixels[i] ?? 0) - 128) * contrast + 128 + shift), 0, 255);
  }
}

function addNoise(pixels: Uint8Array, sigma: number, seed: number): void {
  const prng = createPrng(seed);
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = clampInt(Math.round((pixels[i] ?? 0) + sigma * prng.normal()), 0, 255);
  }
}

async function toRgb(input: Uint8Array | RawImage): Promise<RawImage> {
  if (!(input instanceof Uint8Array)) {
    if (input.channels === 3) return input;
    const { data, info } = await sharp(input.data, {
      raw: { width: input.width, height: input.height, channels: input.channels },
    })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3 };
  }
  try {
    const { data, info } = await sharp(input, { autoOrient: true, pages: 1, failOn: 'error' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    throw new PipelineError(
      ErrorCodes.IMAGE_DECODE_FAILED,
      `cannot decode image to augment: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

function clampInt(value: number, min: number, max: number): number {
  return Math.round(clamp(value, min, max));
}
