/**
 * The ONNX log-softmax the decoding loops score with: the graph written as protobuf bytes here
 * loads in onnxruntime, agrees with the JavaScript log-softmax, and gives the decoding loops the
 * same tokens and (to float32 rounding) the same scores as their own arithmetic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  beamDecodeBatch,
  greedyDecode,
  logSoftmax,
  type NextLogits,
} from '../../../processors/inference/decoding.ts';
import { createLogSoftmax, type LogSoftmaxSession } from '../../../processors/inference/log-softmax.ts';

const OPTIONS = { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 } as const;

/** Seeded logits, so a failure reproduces. */
function noise(seed: number, n: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * scale;
  });
}

function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs((a[i] as number) - (b[i] as number)));
  return e;
}

let session: LogSoftmaxSession;
before(async () => {
  session = await createLogSoftmax({ ...OPTIONS });
});
after(async () => {
  await session.close();
});

describe('createLogSoftmax', () => {
  it('matches the JavaScript log-softmax on adjacent rows (a view) and on scattered ones (a copy)', async () => {
    const vocab = 2048;
    const buffer = noise(1, 4 * vocab, 40);
    const rows = [0, 1, 2, 3].map((r) => buffer.subarray(r * vocab, (r + 1) * vocab));
    const out = await session.run(rows);
    assert.equal(out.length, 4);
    rows.forEach((row, r) => assert.ok(maxError(out[r] as Float32Array, logSoftmax(row)) < 1e-5, `row ${r}`));
    const scattered = [rows[3] as Float32Array, rows[0] as Float32Array, noise(2, vocab, 40)];
    const again = await session.run(scattered);
    scattered.forEach((row, r) => assert.ok(maxError(again[r] as Float32Array, logSoftmax(row)) < 1e-5, `row ${r}`));
    assert.deepEqual(await session.run([]), []);
  });

  it('keeps -Infinity (a banned token) at -Infinity and normalizes the rest', async () => {
    const row = Float32Array.from([1, Number.NEGATIVE_INFINITY, 3]);
    const [out] = await session.run([row]);
    assert.equal((out as Float32Array)[1], Number.NEGATIVE_INFINITY);
    const total = Math.exp((out as Float32Array)[0] as number) + Math.exp((out as Float32Array)[2] as number);
    assert.ok(Math.abs(total - 1) < 1e-6);
  });

  it('refuses rows of different lengths', async () => {
    await assert.rejects(session.run([new Float32Array(4), new Float32Array(5)]), RangeError);
  });
});

describe('the decoding loops with the ONNX log-softmax', () => {
  // A random "model": each step's logits depend on the image and the last token, so captions differ by image.
  const vocab = 300;
  const next: NextLogits = (prefixes, images) => {
    const out = new Float32Array(prefixes.length * vocab);
    prefixes.forEach((p, r) => {
      const row = noise(1 + (images[r] as number) * 7919 + (p.at(-1) as number) * 104729 + p.length, vocab, 12);
      // The end token grows likelier with length, so rows end at different steps.
      row[2] = (row[2] as number) + p.length * 0.8;
      out.set(row, r * vocab);
    });
    return Promise.resolve(prefixes.map((_, r) => out.subarray(r * vocab, (r + 1) * vocab)));
  };
  const params = { start: 1, stop: new Set([2]), pad: 0, maxLength: 16 };

  for (const rules of [undefined, { noRepeatNgramSize: 2, repetitionPenalty: 1.3 }]) {
    const label = rules === undefined ? '' : ' with repetition rules';
    it(`greedy: the same tokens, scores within float32 rounding${label}`, async () => {
      const plain = await greedyDecode(next, 6, { ...params, ...(rules === undefined ? {} : { rules }) });
      const onnx = await greedyDecode(next, 6, { ...params, ...(rules === undefined ? {} : { rules }), logSoftmax: session.run });
      assert.ok(plain.some((h) => h.finished) && plain.some((h) => h.tokens.length !== plain[0]?.tokens.length));
      plain.forEach((h, i) => {
        const o = onnx[i]!;
        assert.deepEqual(o.tokens, h.tokens);
        assert.equal(o.finished, h.finished);
        assert.ok(Math.abs(o.sumLogProb - h.sumLogProb) < 1e-4, `${o.sumLogProb} vs ${h.sumLogProb}`);
      });
    });

    it(`beam: the same hypotheses, scores within float32 rounding${label}`, async () => {
      const images = [0, 1, 2, 3];
      const base = { ...params, beamSize: 4, ...(rules === undefined ? {} : { rules }) };
      const plain = await beamDecodeBatch(next, images, base);
      const onnx = await beamDecodeBatch(next, images, { ...base, logSoftmax: session.run });
      plain.forEach((h, i) => {
        const o = onnx[i]!;
        assert.deepEqual(o.tokens, h.tokens);
        assert.ok(Math.abs(o.sumLogProb - h.sumLogProb) < 1e-4, `${o.sumLogProb} vs ${h.sumLogProb}`);
      });
    });
  }
});
