/**
 * Cheap image-quality figures used by the curation quality gate.
 */

/** Quality figures of a greyscale image. */
export interface LumaStatistics {
  /** Variance of the 4-neighbour Laplacian on 0..255 luma: low means blurry (< ~100 is soft). */
  readonly blurVariance: number;
  /** Mean luma, 0 (black) .. 1 (white). */
  readonly brightness: number;
  /** Standard deviation of luma, 0 (flat) .. 0.5 (half black, half white). */
  readonly contrast: number;
}

/**
 * Brightness, contrast and blur of a luma plane. The caller picks the resolution; measure
 * every image at the same size (normalize uses `analysisMaxSide`) or the blur figures of
 * a large and a small image are not comparable.
 */
export function lumaStatistics(luma: Uint8Array, width: number, height: number): LumaStatistics {
  const n = width * height;
  if (n === 0) return { blurVariance: 0, brightness: 0, contrast: 0 };
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = luma[i] ?? 0;
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);

  // Laplacian over interior pixels only: border handling would add fake edges.
  let lapSum = 0;
  let lapSumSq = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const lap =
        (luma[i - width] ?? 0) +
        (luma[i + width] ?? 0) +
        (luma[i - 1] ?? 0) +
        (luma[i + 1] ?? 0) -
        4 * (luma[i] ?? 0);
      lapSum += lap;
      lapSumSq += lap * lap;
      count++;
    }
  }
  const lapMean = count === 0 ? 0 : lapSum / count;
  const blurVariance = count === 0 ? 0 : Math.max(0, lapSumSq / count - lapMean * lapMean);
  return { blurVariance, brightness: mean / 255, contrast: Math.sqrt(variance) / 255 };
}
