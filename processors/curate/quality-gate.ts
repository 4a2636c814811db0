import { z } from 'zod';

/** Thresholds of the quality gate. */
export const QualityGateOptionsSchema = z
  .object({
    /** Smallest accepted side of the original, in pixels. */
    minSide: z.int().min(1).default(32),
    /** Largest accepted aspect ratio (long side / short side). */
    maxAspectRatio: z.number().min(1).default(4),
    /** Variance of the Laplacian below this is too blurry. */
    minBlurVariance: z.number().min(0).default(2),
    /** Mean luma (0..1) must lie in this band: not black, not blown out. */
    minBrightness: z.number().min(0).max(1).default(0.03),
    maxBrightness: z.number().min(0).max(1).default(0.97),
    /** Standard deviation of luma (0..1) below this is a flat image. */
    minContrast: z.number().min(0).max(1).default(0.02),
  })
  .strict();

/** Validated thresholds. */
export type QualityGateOptions = z.output<typeof QualityGateOptionsSchema>;

/** What the gate looks at. */
export interface QualityInput {
  readonly width: number;
  readonly height: number;
  readonly blur: number;
  readonly brightness: number;
  readonly contrast: number;
}

/** The gate's verdict: passed, or the reasons (stable strings) it did not. */
export interface QualityVerdict {
  readonly passed: boolean;
  readonly reasons: string[];
}

/** Apply the quality gate. */
export function qualityGate(q: QualityInput, o: QualityGateOptions): QualityVerdict {
  const reasons: string[] = [];
  if (Math.min(q.width, q.height) < o.minSide) reasons.push(`TOO_SMALL: ${q.width}x${q.height} < ${o.minSide}px`);
  const aspect = Math.max(q.width, q.height) / Math.max(1, Math.min(q.width, q.height));
  if (aspect > o.maxAspectRatio) reasons.push(`ASPECT_RATIO: ${aspect.toFixed(2)} > ${o.maxAspectRatio}`);
  if (q.blur < o.minBlurVariance) reasons.push(`BLURRY: variance ${q.blur.toFixed(2)} < ${o.minBlurVariance}`);
  if (q.brightness < o.minBrightness) reasons.push(`TOO_DARK: ${q.brightness.toFixed(3)} < ${o.minBrightness}`);
  if (q.brightness > o.maxBrightness) reasons.push(`TOO_BRIGHT: ${q.brightness.toFixed(3)} > ${o.maxBrightness}`);
  if (q.contrast < o.minContrast) reasons.push(`LOW_CONTRAST: ${q.contrast.toFixed(3)} < ${o.minContrast}`);
  return { passed: reasons.length === 0, reasons };
}

/** A domain gate's verdict on an image, and the model version that gave it. */
export interface DomainVerdict {
  readonly modelVersion: string;
  readonly score: number;
  readonly threshold: number;
  readonly inDomain: boolean;
}

/**
 * Add the OUT_OF_DOMAIN reason to a quality verdict when the domain gate judged the image
 * unlike the model's training data; no verdict (gate off, no model yet) changes nothing.
 */
export function withDomainVerdict(verdict: QualityVerdict, domain: DomainVerdict | null): QualityVerdict {
  if (domain === null || domain.inDomain) return verdict;
  const reason = `OUT_OF_DOMAIN: score ${domain.score.toFixed(2)} > ${domain.threshold.toFixed(2)} (model ${domain.modelVersion})`;
  return { passed: false, reasons: [...verdict.reasons, reason] };
}
