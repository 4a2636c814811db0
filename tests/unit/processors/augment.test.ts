import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import {
  applyAugmentation,
  augmentImage,
  resolveAugmentOptions,
  sampleAugmentParams,
} from '../../../processors/image/augment.ts';
import { createPrng } from '../../../processors/hash/prng.ts';
import { makeScene, sceneSharp } from '../../fixtures/bad-input/make-corpus.ts';

let input: Buffer;

before(async () => {
  input = await sceneSharp(96, 96, 21).png().toBuffer();
});

describe('augmentImage', () => {
  it('is byte-identical for the same seed', async () => {
    const [a, b] = await Promise.all([
      augmentImage(input, { seed: 'train-42', count: 6 }),
      augmentImage(input, { seed: 'train-42', count: 6 }),
    ]);
    assert.deepEqual(
      a.map((v) => v.sha256),
      b.map((v) => v.sha256),
    );
    assert.deepEqual(
      a.map((v) => v.params),
      b.map((v) => v.params),
    );
    assert.ok(a.every((v, i) => Buffer.compare(Buffer.from(v.bytes), Buffer.from(b[i]?.bytes ?? [])) === 0));
  });

  it('differs for a different seed, and variants of one seed differ from each other', async () => {
    const [a, b] = await Promise.all([
      augmentImage(input, { seed: 1, count: 4 }),
      augmentImage(input, { seed: 2, count: 4 }),
    ]);
    assert.notDeepEqual(
      a.map((v) => v.sha256),
      b.map((v) => v.sha256),
    );
    assert.equal(new Set(a.map((v) => v.sha256)).size, 4);
  });

  it('variant i does not depend on how many variants were asked for', async () => {
    const [few, many] = await Promise.all([
      augmentImage(input, { seed: 7, count: 2 }),
      augmentImage(input, { seed: 7, count: 5 }),
    ]);
    assert.deepEqual(
      few.map((v) => v.sha256),
      many.slice(0, 2).map((v) => v.sha256),
    );
  });

  it('keeps the input size by default, honours size, and returns the params it used', async () => {
    const same = await augmentImage(input, { seed: 3, count: 1 });
    const resized = await augmentImage(input, { seed: 3, count: 1, size: 64, encode: { format: 'png' } });
    assert.deepEqual([same[0]?.width, same[0]?.height], [96, 96]);
    const meta = await sharp(resized[0]?.bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 64, 3]);
    const params = same[0]?.params;
    assert.ok(params !== undefined);
    assert.ok(Math.abs(params.rotateDeg) <= 10);
    assert.ok(params.scale >= 0.9 && params.scale <= 1.1);
    assert.ok(params.contrast >= 0.8 && params.contrast <= 1.2);
    assert.ok(params.crop.left + params.crop.width <= 96 && params.crop.top + params.crop.height <= 96);
  });

  it('replays a variant exactly from its recorded params', async () => {
    const [variant] = await augmentImage(input, { seed: 11, count: 1, encode: { format: 'png' } });
    assert.ok(variant !== undefined);
    const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
    const replay = await applyAugmentation(
      { data, width: info.width, height: info.height, channels: 3 },
      variant.params,
      96,
      96,
    );
    const decoded = await sharp(variant.bytes).raw().toBuffer();
    assert.equal(Buffer.compare(decoded, Buffer.from(replay.data)), 0);
  });

  it('samples every degradation kind across seeds, within their ranges', () => {
    const options = resolveAugmentOptions({ seed: 0 });
    const kinds = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const params = sampleAugmentParams(createPrng(seed), 96, 96, options);
      kinds.add(params.degrade.kind);
      if (params.degrade.kind === 'noise') assert.ok(params.degrade.sigma >= 2 && params.degrade.sigma <= 8);
      if (params.degrade.kind === 'blur')
        assert.ok(params.degrade.sigma >= 0.4 && params.degrade.sigma <= 1.2);
      const area = (params.crop.width * params.crop.height) / (96 * 96);
      assert.ok(area >= 0.5 && area <= 1.0001, `crop area ${area}`);
    }
    assert.deepEqual([...kinds].sort(), ['blur', 'noise', 'none']);
  });

  it('identity params return the input pixels unchanged', async () => {
    const scene = makeScene(40, 30, 5);
    const out = await applyAugmentation(
      scene,
      {
        crop: { left: 0, top: 0, width: 40, height: 30 },
        rotateDeg: 0,
        scale: 1,
        brightness: 0,
        contrast: 1,
        degrade: { kind: 'none' },
      },
      40,
      30,
    );
    assert.equal(Buffer.compare(Buffer.from(out.data), scene.data), 0);
  });

  it('rejects bad options with CONFIG_INVALID and undecodable bytes with IMAGE_DECODE_FAILED', async () => {
    await assert.rejects(augmentImage(input, { seed: 1, count: 0 }), { code: 'CONFIG_INVALID' });
    await assert.rejects(augmentImage(input, { seed: 1, scale: [1.2, 0.9] }), { code: 'CONFIG_INVALID' });
    await assert.rejects(augmentImage(Uint8Array.of(1, 2, 3), { seed: 1 }), { code: 'IMAGE_DECODE_FAILED' });
  });
});
