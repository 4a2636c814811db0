/**
 * The domain gate: how far an image is from what the captioner was trained on, measured in the
 * captioner's own embedding space (its encoder output, mean-pooled over positions), so no second
 * model (the old stack's zero-shot CLIP) is needed and the score costs one D x D product on top
 * of the encoder run the caption already needs.
 *
 * The score is the Mahalanobis distance to the training embeddings: mean μ and covariance Σ
 * fitted on the train split, Σ shrunk towards a scaled identity with the Ledoit-Wolf weight
 * (a few hundred images in 64..768 dimensions give a singular sample covariance; shrinkage makes
 * it invertible and is the estimator scikit-learn's `LedoitWolf` computes). The threshold is a
 * percentile (99 % by default) of the validation split's scores, so about 1 % of in-domain
 * images are expected above it. Stored as `domain-gate.json` beside the bundle's graphs.
 *
 * Pure: fitting and scoring take numbers, the artifact is JSON with base64 float arrays.
 */
import { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';

/** The artifact's file name inside a model bundle. */
export const DOMAIN_GATE_FILE = 'domain-gate.json';
/** `format` of the artifact. */
export const DOMAIN_GATE_FORMAT = 'captionflow-domain-gate';
/** Default calibration percentile of the validation scores. */
export const DEFAULT_DOMAIN_PERCENTILE = 99;

/** A fitted gate: what scoring needs plus how it was made. */
export interface DomainGate {
  readonly dim: number;
  readonly mean: Float64Array;
  /** Σ⁻¹, row-major D x D. */
  readonly precision: Float64Array;
  /** Scores above this are out of domain. */
  readonly threshold: number;
  readonly info: DomainGateInfo;
}

/** How a gate was fitted and calibrated (for reports; not needed to score). */
export interface DomainGateInfo {
  readonly method: 'mahalanobis-ledoit-wolf';
  readonly pooling: 'mean';
  /** Ledoit-Wolf weight of the identity target, 0..1. */
  readonly shrinkage: number;
  readonly percentile: number;
  readonly fitCount: number;
  readonly calibrationCount: number;
  /** Where the embeddings came from (dataset version and splits), free text. */
  readonly source?: string;
}

/** One image's verdict, as serving and curation report it. */
export interface DomainScore {
  /** Mahalanobis distance to the training embeddings (>= 0). */
  readonly score: number;
  readonly threshold: number;
  readonly inDomain: boolean;
}

/** Embeddings as rows: `count` vectors of `dim` floats, row-major. */
export interface EmbeddingRows {
  readonly data: Float32Array | Float64Array;
  readonly count: number;
  readonly dim: number;
}

function invalid(message: string, context: Record<string, unknown> = {}): PipelineError {
  return new PipelineError(ErrorCodes.MODEL_INVALID, message, { context });
}

/**
 * Mean-pool an encoder output `[n, S, D]` over its S positions: the image embedding the gate
 * works in (ViT's CLS-less variant; for our CNN grid, the average feature).
 */
export function poolEmbeddings(hidden: Float32Array, count: number, positions: number, dim: number): EmbeddingRows {
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const row = out.subarray(i * dim, (i + 1) * dim);
    for (let s = 0; s < positions; s++) {
      const base = (i * positions + s) * dim;
      for (let d = 0; d < dim; d++) row[d]! += hidden[base + d]!;
    }
    for (let d = 0; d < dim; d++) row[d]! /= positions;
  }
  return { data: out, count, dim };
}

/** Cholesky factor L (lower, row-major) of a symmetric positive-definite matrix, or null. */
function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else l[i * n + j] = sum / l[j * n + j]!;
    }
  }
  return l;
}

/** Inverse of a symmetric positive-definite matrix through its Cholesky factor. */
function spdInverse(a: Float64Array, n: number): Float64Array | null {
  const l = cholesky(a, n);
  if (l === null) return null;
  // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
  const li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let sum = i === c ? 1 : 0;
      for (let k = c; k < i; k++) sum -= l[i * n + k]! * li[k * n + c]!;
      li[i * n + c] = sum / l[i * n + i]!;
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < n; k++) sum += li[k * n + i]! * li[k * n + j]!;
      inv[i * n + j] = sum;
      inv[j * n + i] = sum;
    }
  }
  return inv;
}

/**
 * Mean and Ledoit-Wolf shrunk covariance of `rows`, inverted.
 * @throws PipelineError MODEL_INVALID with fewer than 2 rows or a degenerate (all-equal) set.
 */
export function fitGaussian(rows: EmbeddingRows): { mean: Float64Array; precision: Float64Array; shrinkage: number } {
  const { data, count: n, dim: p } = rows;
  if (n < 2) throw invalid(`the domain gate needs at least 2 training embeddings, got ${n}`);
  const mean = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let d = 0; d < p; d++) mean[d]! += data[i * p + d]!;
  for (let d = 0; d < p; d++) mean[d]! /= n;
  const centred = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let d = 0; d < p; d++) centred[i * p + d] = data[i * p + d]! - mean[d]!;
  // Sample covariance with 1/n, as Ledoit & Wolf (2004) define their estimator.
  const s = new Float64Array(p * p);
  for (let i = 0; i < n; i++) {
    const x = centred.subarray(i * p, (i + 1) * p);
    for (let a = 0; a < p; a++) {
      const xa = x[a]!;
      if (xa === 0) continue;
      for (let b = 0; b <= a; b++) s[a * p + b]! += xa * x[b]!;
    }
  }
  for (let a = 0; a < p; a++)
    for (let b = 0; b <= a; b++) {
      const v = s[a * p + b]! / n;
      s[a * p + b] = v;
      s[b * p + a] = v;
    }
  let trace = 0;
  for (let a = 0; a < p; a++) trace += s[a * p + a]!;
  const mu = trace / p;
  if (!(mu > 0)) throw invalid('the domain gate cannot be fitted: every training embedding is the same');
  // d² = ||S − μI||²_F; b̄² = (1/n²) Σ_k ||x_k x_kᵀ − S||²_F = (1/n²) Σ_k (||x_k||⁴ − 2 x_kᵀ S x_k + ||S||²_F).
  let sNorm2 = 0;
  for (let k = 0; k < p * p; k++) sNorm2 += s[k]! ** 2;
  const d2 = sNorm2 - 2 * mu * trace + mu * mu * p;
  let b2sum = 0;
  const sx = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const x = centred.subarray(i * p, (i + 1) * p);
    let norm2 = 0;
    for (let a = 0; a < p; a++) norm2 += x[a]! ** 2;
    let quad = 0;
    for (let a = 0; a < p; a++) {
      let v = 0;
      for (let b = 0; b < p; b++) v += s[a * p + b]! * x[b]!;
      sx[a] = v;
      quad += v * x[a]!;
    }
    b2sum += norm2 * norm2 - 2 * quad + sNorm2;
  }
  const b2 = Math.min(b2sum / (n * n), d2);
  const shrinkage = d2 > 0 ? b2 / d2 : 1;
  const sigma = new Float64Array(p * p);
  for (let k = 0; k < p * p; k++) sigma[k] = (1 - shrinkage) * s[k]!;
  for (let a = 0; a < p; a++) sigma[a * p + a]! += shrinkage * mu;
  let precision = spdInverse(sigma, p);
  // A rank-deficient S with a tiny shrinkage weight can still be numerically singular: add a ridge.
  for (let ridge = 1e-6; precision === null && ridge <= 1; ridge *= 10) {
    const r = sigma.slice();
    for (let a = 0; a < p; a++) r[a * p + a]! += ridge * mu;
    precision = spdInverse(r, p);
  }
  if (precision === null) throw invalid('the domain gate cannot be fitted: the covariance is not invertible');
  return { mean, precision, shrinkage };
}

/** Mahalanobis distance of each row to a fitted gate's mean. */
export function mahalanobis(gate: Pick<DomainGate, 'dim' | 'mean' | 'precision'>, rows: EmbeddingRows): number[] {
  if (rows.dim !== gate.dim) {
    throw invalid(`the domain gate expects ${gate.dim}-dimensional embeddings, the encoder gives ${rows.dim}`, {
      expected: gate.dim,
      found: rows.dim,
    });
  }
  const p = gate.dim;
  const diff = new Float64Array(p);
  const out: number[] = [];
  for (let i = 0; i < rows.count; i++) {
    for (let d = 0; d < p; d++) diff[d] = rows.data[i * p + d]! - gate.mean[d]!;
    let q = 0;
    for (let a = 0; a < p; a++) {
      let v = 0;
      const row = a * p;
      for (let b = 0; b < p; b++) v += gate.precision[row + b]! * diff[b]!;
      q += v * diff[a]!;
    }
    out.push(Math.sqrt(Math.max(0, q)));
  }
  return out;
}

/** The `q`-th percentile (0..100) of `values`, linearly interpolated (numpy's default). */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw invalid('a percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (Math.min(100, Math.max(0, q)) / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Options of {@link fitDomainGate}. */
export interface FitDomainGateOptions {
  /** Calibration percentile of the validation scores (default {@link DEFAULT_DOMAIN_PERCENTILE}). */
  readonly percentile?: number;
  readonly source?: string;
}

/**
 * Fit on the train split's embeddings, calibrate the threshold on the validation split's.
 * @throws PipelineError MODEL_INVALID when the sets are too small or of different dimensions.
 */
export function fitDomainGate(train: EmbeddingRows, validation: EmbeddingRows, options: FitDomainGateOptions = {}): DomainGate {
  const q = options.percentile ?? DEFAULT_DOMAIN_PERCENTILE;
  if (!(q > 0 && q <= 100)) throw new PipelineError(ErrorCodes.CONFIG_INVALID, `domain gate percentile must be in (0, 100], got ${String(q)}`);
  if (validation.count === 0) throw invalid('the domain gate needs validation embeddings to calibrate its threshold');
  const { mean, precision, shrinkage } = fitGaussian(train);
  const fitted = { dim: train.dim, mean, precision };
  const threshold = percentile(mahalanobis(fitted, validation), q);
  return {
    ...fitted,
    threshold,
    info: {
      method: 'mahalanobis-ledoit-wolf',
      pooling: 'mean',
      shrinkage,
      percentile: q,
      fitCount: train.count,
      calibrationCount: validation.count,
      ...(options.source === undefined ? {} : { source: options.source }),
    },
  };
}

/** Scores of rows against a gate, with the verdict. */
export function scoreDomain(gate: DomainGate, rows: EmbeddingRows): DomainScore[] {
  return mahalanobis(gate, rows).map((score) => ({ score, threshold: gate.threshold, inDomain: score <= gate.threshold }));
}

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const ArtifactSchema = z.object({
  format: z.literal(DOMAIN_GATE_FORMAT),
  formatVersion: z.literal(1),
  method: z.literal('mahalanobis-ledoit-wolf'),
  pooling: z.literal('mean'),
  dim: z.int().min(1).max(8192),
  /** Float64 little-endian. */
  mean: Base64,
  /** Float32 little-endian, row-major D x D (half the size; float32 is ample for a distance). */
  precision: Base64,
  threshold: z.number().nonnegative(),
  shrinkage: z.number().min(0).max(1),
  percentile: z.number().gt(0).max(100),
  fitCount: z.int().min(0),
  calibrationCount: z.int().min(0),
  source: z.string().optional(),
});

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  const buf = Buffer.from(text, 'base64');
  // Copied into a fresh, aligned buffer so typed-array views of it are legal.
  return new Uint8Array(buf);
}

/** The artifact's JSON text. */
export function serializeDomainGate(gate: DomainGate): string {
  const { info } = gate;
  return JSON.stringify({
    format: DOMAIN_GATE_FORMAT,
    formatVersion: 1,
    method: info.method,
    pooling: info.pooling,
    dim: gate.dim,
    mean: toBase64(new Uint8Array(new Float64Array(gate.mean).buffer)),
    precision: toBase64(new Uint8Array(Float32Array.from(gate.precision).buffer)),
    threshold: gate.threshold,
    shrinkage: info.shrinkage,
    percentile: info.percentile,
    fitCount: info.fitCount,
    calibrationCount: info.calibrationCount,
    ...(info.source === undefined ? {} : { source: info.source }),
  });
}

/**
 * Parse a `domain-gate.json` (bytes or text).
 * @throws PipelineError MODEL_INVALID naming the field that is wrong.
 */
export function parseDomainGate(input: Uint8Array | string): DomainGate {
  const text = typeof input === 'string' ? input : new TextDecoder().decode(input);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`${DOMAIN_GATE_FILE} is not valid JSON: ${(err as Error).message}`, { file: DOMAIN_GATE_FILE });
  }
  const parsed = ArtifactSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${DOMAIN_GATE_FILE} is invalid: ${issue?.path.map(String).join('.') ?? ''}: ${issue?.message ?? ''}`, {
      file: DOMAIN_GATE_FILE,
    });
  }
  const a = parsed.data;
  const meanBytes = fromBase64(a.mean);
  const precisionBytes = fromBase64(a.precision);
  if (meanBytes.byteLength !== a.dim * 8 || precisionBytes.byteLength !== a.dim * a.dim * 4) {
    throw invalid(`${DOMAIN_GATE_FILE} arrays do not match dim ${a.dim}`, {
      file: DOMAIN_GATE_FILE,
      meanBytes: meanBytes.byteLength,
      precisionBytes: precisionBytes.byteLength,
    });
  }
  return {
    dim: a.dim,
    mean: new Float64Array(meanBytes.buffer),
    precision: Float64Array.from(new Float32Array(precisionBytes.buffer)),
    threshold: a.threshold,
    info: {
      method: a.method,
      pooling: a.pooling,
      shrinkage: a.shrinkage,
      percentile: a.percentile,
      fitCount: a.fitCount,
      calibrationCount: a.calibrationCount,
      ...(a.source === undefined ? {} : { source: a.source }),
    },
  };
}

/**
 * Precision and recall of the gate as an out-of-domain detector: positives are the images that
 * are out of domain, a prediction is a score above the threshold.
 */
export function detectorFigures(
  inDomainScores: readonly number[],
  outOfDomainScores: readonly number[],
  threshold: number,
): { precision: number; recall: number; falsePositiveRate: number; tp: number; fp: number; fn: number; tn: number } {
  const tp = outOfDomainScores.filter((s) => s > threshold).length;
  const fn = outOfDomainScores.length - tp;
  const fp = inDomainScores.filter((s) => s > threshold).length;
  const tn = inDomainScores.length - fp;
  return {
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: outOfDomainScores.length === 0 ? 0 : tp / outOfDomainScores.length,
    falsePositiveRate: inDomainScores.length === 0 ? 0 : fp / inDomainScores.length,
    tp,
    fp,
    fn,
    tn,
  };
}

/**
 * Area under the ROC curve of the score as an out-of-domain detector: the chance that a random
 * out-of-domain image scores above a random in-domain one (ties count half); 0.5 is chance.
 */
export function rocAuc(inDomainScores: readonly number[], outOfDomainScores: readonly number[]): number {
  if (inDomainScores.length === 0 || outOfDomainScores.length === 0) return Number.NaN;
  let wins = 0;
  for (const o of outOfDomainScores) for (const i of inDomainScores) wins += o > i ? 1 : o === i ? 0.5 : 0;
  return wins / (inDomainScores.length * outOfDomainScores.length);
}
