/**
 * The decoding loops on a hand-written bigram "model" (no ONNX): logits depend on the last
 * token and, for image 1, on the image.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  beamDecode,
  greedyDecode,
  logSoftmax,
  logSumExp,
  meanLogProb,
  type NextLogits,
  topK,
} from '../../../processors/inference/decoding.ts';

// 0 pad, 1 bos, 2 eos, 3 a, 4 cat, 5 dog, 6 the, 7 bird
const V = 8;
function table(image: number): Record<number, Record<number, number>> {
  return {
    1: { 3: 2.0, 6: 1.9 }, // greedy takes "a"...
    3: { 4: 1.0, 5: image === 1 ? 3 : 1.0 }, // ...where it is unsure (cat/dog) unless image 1 says dog
    4: { 2: 9 },
    5: { 2: 9 },
    6: { 7: 9 }, // "the bird" is sure at every later step
    7: { 2: 9 },
  };
}

function bigram(calls: number[][] = []): NextLogits {
  return (prefixes, images) => {
    calls.push(prefixes.map((p) => p.length));
    return Promise.resolve(
      prefixes.map((prefix, i) => {
        const row = new Float32Array(V);
        const last = prefix.at(-1) as number;
        for (const [tok, v] of Object.entries(table(images[i] as number)[last] ?? {})) row[Number(tok)] = v;
        return row;
      }),
    );
  };
}

const PARAMS = { start: 1, stop: new Set([2]), pad: 0, maxLength: 10 };

describe('math helpers', () => {
  it('log-softmax exponentiates to a distribution, stably for large logits', () => {
    const lp = logSoftmax([1000, 1001, 999]);
    const total = [...lp].reduce((s, v) => s + Math.exp(v), 0);
    assert.ok(Math.abs(total - 1) < 1e-12);
    assert.ok(Math.abs(logSumExp([0, 0]) - Math.log(2)) < 1e-12);
  });

  it('topK returns indices of the largest values, ties to the lower index', () => {
    assert.deepEqual(topK([0.1, 5, 3, 5, -1], 3), [1, 3, 2]);
    assert.deepEqual(topK([1, 1, 1], 1), [0]);
  });
});

describe('greedyDecode', () => {
  it('decodes a batch together, pads rows that finished, stops when all have', async () => {
    const calls: number[][] = [];
    const [h0, h1] = await greedyDecode(bigram(calls), 2, PARAMS);
    assert.deepEqual(h0?.tokens, [3, 4]); // a cat (cat wins the 1.0/1.0 tie by index)
    assert.deepEqual(h1?.tokens, [3, 5]); // a dog
    assert.equal(h0?.finished, true);
    assert.equal(h0?.steps, 3);
    // One decoder call per step for both rows, prefix lengths 1, 2, 3.
    assert.deepEqual(calls, [
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });

  it('drops ended rows from the batch once they are a quarter of it, with the parent of each kept row', async () => {
    // Image i says SEQS[i] and then ends; image 3 never ends. Logits depend on the image and the
    // position only, so each row's caption is what it would be alone.
    const SEQS = [[3], [3, 4], [3, 4, 5], [7, 7, 7, 7, 7, 7, 7, 7]];
    const seen: { images: number[]; parents: number[] | undefined }[] = [];
    const next: NextLogits = (prefixes, images, parents) => {
      seen.push({ images: [...images], parents: parents === undefined ? undefined : [...parents] });
      return Promise.resolve(
        prefixes.map((prefix, i) => {
          const row = new Float32Array(V);
          row[SEQS[images[i] as number]![prefix.length - 1] ?? 2] = 9;
          return row;
        }),
      );
    };
    const params = { ...PARAMS, maxLength: 7 };
    const all = await greedyDecode(next, 4, params);
    assert.deepEqual(
      all.map((h) => h.tokens),
      [[3], [3, 4], [3, 4, 5], [7, 7, 7, 7, 7, 7]],
    );
    for (let i = 0; i < 4; i++) {
      const [alone] = await greedyDecode((p, _images, parents) => next(p, p.map(() => i), parents), 1, params);
      assert.deepEqual(all[i], alone, `image ${i} alone`);
    }
    assert.deepEqual(
      seen.slice(0, 6).map((s) => s.images),
      [[0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3], [2, 3], [3], [3]],
    );
    assert.deepEqual(
      seen.slice(0, 6).map((s) => s.parents),
      [undefined, [0, 1, 2, 3], [1, 2, 3], [1, 2], [1], [0]],
    );
  });

  it('stops at maxLength with an unfinished hypothesis', async () => {
    const [h] = await greedyDecode(bigram(), 1, { ...PARAMS, maxLength: 3 });
    assert.deepEqual(h?.tokens, [3, 4]);
    assert.equal(h?.finished, false);
    assert.equal(h?.steps, 2);
  });
});

describe('beamDecode', () => {
  it('finds a sequence with a better mean log-prob than greedy', async () => {
    const [greedy] = await greedyDecode(bigram(), 1, PARAMS);
    const beam = await beamDecode(bigram(), 0, { ...PARAMS, beamSize: 3 });
    assert.deepEqual(beam.tokens, [6, 7]); // the bird
    assert.ok(meanLogProb(beam) > meanLogProb(greedy!));
  });

  it('with one beam is greedy', async () => {
    for (const image of [0, 1]) {
      const [greedy] = await greedyDecode((p) => bigram()(p, [image]), 1, PARAMS);
      const beam = await beamDecode(bigram(), image, { ...PARAMS, beamSize: 1 });
      assert.deepEqual(beam.tokens, greedy?.tokens);
      assert.ok(Math.abs(meanLogProb(beam) - meanLogProb(greedy!)) < 1e-12);
    }
  });

  it('keeps open beams as unfinished candidates when maxLength cuts the search', async () => {
    const beam = await beamDecode(bigram(), 0, { ...PARAMS, beamSize: 2, maxLength: 2 });
    assert.equal(beam.finished, false);
    assert.deepEqual(beam.tokens, [3]);
  });
});
