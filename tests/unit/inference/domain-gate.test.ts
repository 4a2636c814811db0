/**
 * The domain gate's arithmetic (processors/inference/domain-gate.ts): Ledoit-Wolf fit,
 * Mahalanobis distance, percentile calibration, the artifact's round trip and its validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import {
  detectorFigures,
  type EmbeddingRows,
  fitDomainGate,
  fitGaussian,
  mahalanobis,
  parseDomainGate,
  percentile,
  poolEmbeddings,
  rocAuc,
  scoreDomain,
  serializeDomainGate,
} from '../../../processors/inference/domain-gate.ts';

/** A seeded normal sample (Box-Muller over a small LCG), scaled per dimension. */
function gaussian(count: number, scales: readonly number[], seed: number, shift = 0): EmbeddingRows {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 1) / 2 ** 32;
  };
  const dim = scales.length;
  const data = new Float32Array(count * dim);
  for (let i = 0; i < count * dim; i++) {
    const z = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    data[i] = z * scales[i % dim]! + shift;
  }
  return { data, count, dim };
}

describe('domain gate', () => {
  it('mean-pools an encoder output over its positions', () => {
    // 2 images, 2 positions, 3 dims.
    const hidden = Float32Array.from([1, 2, 3, 3, 4, 5, 0, 0, 0, 10, 10, 10]);
    const rows = poolEmbeddings(hidden, 2, 2, 3);
    assert.deepEqual([...rows.data], [2, 3, 4, 5, 5, 5]);
    assert.equal(rows.count, 2);
    assert.equal(rows.dim, 3);
  });

  it('with plenty of data the distance approaches the true Mahalanobis distance', () => {
    const scales = [1, 4, 0.5];
    const fit = fitGaussian(gaussian(20_000, scales, 1));
    assert.ok(fit.shrinkage < 0.05, `shrinkage ${fit.shrinkage}`);
    const probe: EmbeddingRows = { data: Float32Array.from([2, 0, 0, 0, 8, 0, 0, 0, 1]), count: 3, dim: 3 };
    const d = mahalanobis({ dim: 3, ...fit }, probe);
    for (const v of d) assert.ok(Math.abs(v - 2) < 0.1, `distance ${v}, expected about 2`);
  });

  it('fits fewer samples than dimensions (shrinkage keeps the covariance invertible)', () => {
    const train = gaussian(10, Array.from({ length: 32 }, () => 1), 2);
    const fit = fitGaussian(train);
    assert.ok(fit.shrinkage > 0 && fit.shrinkage <= 1);
    const [near, far] = [gaussian(1, Array.from({ length: 32 }, () => 1), 3), gaussian(1, Array.from({ length: 32 }, () => 1), 3, 5)];
    const [dNear] = mahalanobis({ dim: 32, ...fit }, near);
    const [dFar] = mahalanobis({ dim: 32, ...fit }, far);
    assert.ok(dFar! > dNear!, `${dFar} > ${dNear}`);
  });

  it('calibrates the threshold at the validation percentile, and flags shifted data', () => {
    const scales = [1, 1, 1, 1];
    const gate = fitDomainGate(gaussian(2000, scales, 4), gaussian(500, scales, 5), { percentile: 95 });
    const val = mahalanobis(gate, gaussian(500, scales, 5));
    assert.equal(gate.threshold, percentile(val, 95));
    // The threshold lies between sorted scores 474 and 475 (0.95 x 499), so 25 of 500 are above it.
    assert.equal(val.filter((s) => s > gate.threshold).length, 25);
    const fresh = scoreDomain(gate, gaussian(1000, scales, 6));
    const shifted = scoreDomain(gate, gaussian(1000, scales, 7, 3));
    const inRate = fresh.filter((s) => s.inDomain).length / 1000;
    const outRate = shifted.filter((s) => !s.inDomain).length / 1000;
    assert.ok(inRate > 0.9, `in-domain kept: ${inRate}`);
    assert.ok(outRate > 0.95, `shifted flagged: ${outRate}`);
    const figures = detectorFigures(fresh.map((s) => s.score), shifted.map((s) => s.score), gate.threshold);
    assert.ok(figures.precision > 0.9 && figures.recall > 0.95);
    assert.ok(rocAuc(fresh.map((s) => s.score), shifted.map((s) => s.score)) > 0.99);
  });

  it('survives serialization (the artifact) with the same scores to float32 precision', () => {
    const scales = [1, 2, 3, 4, 5];
    const gate = fitDomainGate(gaussian(300, scales, 8), gaussian(100, scales, 9), { source: 'unit' });
    const back = parseDomainGate(serializeDomainGate(gate));
    assert.equal(back.threshold, gate.threshold);
    assert.deepEqual(back.info, gate.info);
    const probe = gaussian(20, scales, 10);
    const a = mahalanobis(gate, probe);
    const b = mahalanobis(back, probe);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-4 * Math.max(1, v)));
  });

  it('rejects a broken artifact and a dimension mismatch with MODEL_INVALID', () => {
    const gate = fitDomainGate(gaussian(50, [1, 1], 11), gaussian(10, [1, 1], 12));
    const json = JSON.parse(serializeDomainGate(gate)) as Record<string, unknown>;
    const isInvalid = (pattern: RegExp) => (err: unknown) =>
      err instanceof PipelineError && err.code === 'MODEL_INVALID' && pattern.test(err.message);
    assert.throws(() => parseDomainGate('{'), isInvalid(/not valid JSON/));
    assert.throws(() => parseDomainGate(JSON.stringify({ ...json, dim: 3 })), isInvalid(/do not match dim 3/));
    assert.throws(() => parseDomainGate(JSON.stringify({ ...json, threshold: -1 })), isInvalid(/threshold/));
    assert.throws(() => mahalanobis(gate, gaussian(1, [1, 1, 1], 13)), isInvalid(/expects 2-dimensional/));
    assert.throws(() => fitDomainGate(gaussian(1, [1, 1], 14), gaussian(1, [1, 1], 15)), isInvalid(/at least 2/));
  });

  it('percentile interpolates like numpy', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([5, 1, 3], 100), 5);
    assert.equal(percentile([5, 1, 3], 0), 1);
  });
});
