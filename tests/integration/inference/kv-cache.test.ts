/**
 * The KV cache on a real trainer export (its decoder is in optimum's merged layout): decoding on
 * the cache (one new token per step, self-attention presents reordered by beam, cross-attention
 * keys/values computed once) gives the same tokens as re-running the whole prefix every step, for
 * greedy and beam search, batched across images, with and without the repetition rules; the
 * scores agree to float tolerance. Needs the trainer's Python venv (tests/fixtures/onnx/trainer-export.ts).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Caption, type DecodeOptions, OnnxCaptioner } from '../../../processors/inference/captioner.ts';
import { parseModelBundle } from '../../../processors/inference/model-bundle.ts';
import { readBundleDir } from '../../fixtures/onnx/tiny-models.ts';
import { trainerExport } from '../../fixtures/onnx/trainer-export.ts';

let withCache: OnnxCaptioner;
let withoutCache: OnnxCaptioner;
let images: Uint8Array[];

before(async () => {
  const exported = await trainerExport();
  const bundle = parseModelBundle(await readBundleDir(exported.dir));
  withCache = await OnnxCaptioner.create(bundle);
  withoutCache = await OnnxCaptioner.create(bundle, { kvCache: false });
  const names = (await readdir(exported.images)).filter((n) => n.endsWith('.png')).sort().slice(0, 6);
  images = await Promise.all(names.map(async (n) => new Uint8Array(await readFile(join(exported.images, n)))));
});

after(async () => {
  await Promise.all([withCache.close(), withoutCache.close()]);
});

function same(a: readonly Caption[], b: readonly Caption[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((c, i) => {
    const d = b[i]!;
    assert.deepEqual(c.tokens, d.tokens, `${what}: image ${i} tokens`);
    assert.equal(c.finished, d.finished, `${what}: image ${i} finished`);
    assert.ok(Math.abs(c.score - d.score) < 1e-4, `${what}: image ${i} score ${c.score} vs ${d.score}`);
  });
}

describe('decoding on the KV cache', { timeout: 600_000 }, () => {
  it('the export has a usable cache; the kvCache: false captioner does not use it', () => {
    assert.equal(withCache.cached, true);
    assert.equal(withoutCache.cached, false);
  });

  const cases: [string, DecodeOptions][] = [
    ['greedy', { strategy: 'greedy' }],
    ['greedy, short max length', { strategy: 'greedy', maxLength: 5 }],
    ['greedy with repetition penalty and no-repeat 2-grams', { strategy: 'greedy', repetitionPenalty: 1.5, noRepeatNgramSize: 2 }],
    ['beam 3', { strategy: 'beam', beamSize: 3 }],
    ['beam 4 with rules', { strategy: 'beam', beamSize: 4, repetitionPenalty: 1.3, noRepeatNgramSize: 2 }],
    ['beam 2, short max length', { strategy: 'beam', beamSize: 2, maxLength: 4 }],
  ];
  for (const [name, options] of cases) {
    it(`${name}: the same captions with and without the cache, batched across images`, async () => {
      const cached = await withCache.caption(images, options);
      same(cached, await withoutCache.caption(images, options), name);
      // Batched equals one image at a time (beam search now runs every image's beams together).
      for (let i = 0; i < 2; i++) same([cached[i]!], await withCache.caption([images[i]!], options), `${name}, image ${i} alone`);
    });
  }
});
