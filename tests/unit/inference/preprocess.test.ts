import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import type { PreprocessSpec } from '../../../processors/inference/bundle-types.ts';
import {
  preprocessBatch,
  preprocessImage,
  rgbToTensor,
  tensorSize,
} from '../../../processors/inference/preprocess.ts';

const HALF: PreprocessSpec = {
  width: 10,
  height: 12,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  rescale: 1 / 255,
  fit: 'fill',
  kernel: 'linear',
};
const IMAGENET: PreprocessSpec = { ...HALF, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

async function solid(
  r: number,
  g: number,
  b: number,
  width = 37,
  height = 23,
  format: 'png' | 'jpeg' = 'png',
): Promise<Uint8Array> {
  const img = sharp({ create: { width, height, channels: 3, background: { r, g, b } } });
  return new Uint8Array(await (format === 'png' ? img.png() : img.jpeg({ quality: 100 })).toBuffer());
}

function planes(tensor: Float32Array, spec: PreprocessSpec): Float32Array[] {
  const plane = spec.width * spec.height;
  return [0, 1, 2].map((c) => tensor.subarray(c * plane, (c + 1) * plane));
}

function assertAll(values: Float32Array, expected: number, tolerance = 1e-6): void {
  for (const v of values) assert.ok(Math.abs(v - expected) <= tolerance, `${v} != ${expected}`);
}

describe('preprocessImage', () => {
  it('gives 3 x height x width floats normalized per channel, whatever the input size', async () => {
    const tensor = await preprocessImage(await solid(255, 0, 128), HALF);
    assert.equal(tensor.length, 3 * 12 * 10);
    const [r, g, b] = planes(tensor, HALF) as [Float32Array, Float32Array, Float32Array];
    assertAll(r, 1);
    assertAll(g, -1);
    assertAll(b, (128 / 255 - 0.5) / 0.5);
  });

  it('uses each channel its own mean and std (ImageNet constants)', async () => {
    const tensor = await preprocessImage(await solid(255, 255, 255), IMAGENET);
    const [r, g, b] = planes(tensor, IMAGENET) as [Float32Array, Float32Array, Float32Array];
    assertAll(r, (1 - 0.485) / 0.229, 1e-5);
    assertAll(g, (1 - 0.456) / 0.224, 1e-5);
    assertAll(b, (1 - 0.406) / 0.225, 1e-5);
  });

  it('keeps rows as rows: a top-red / bottom-blue image stays so in the tensor (no width/height swap)', async () => {
    const top = await sharp({
      create: { width: 40, height: 24, channels: 3, background: { r: 255, g: 0, b: 0 } },
    })
      .composite([
        {
          input: { create: { width: 40, height: 12, channels: 3, background: { r: 0, g: 0, b: 255 } } },
          top: 12,
          left: 0,
        },
      ])
      .png()
      .toBuffer();
    const tensor = await preprocessImage(new Uint8Array(top), HALF);
    const [r] = planes(tensor, HALF) as [Float32Array];
    assert.equal(r[0], 1); // first row: red
    assert.equal(r[(HALF.height - 1) * HALF.width], -1); // last row: blue
  });

  it('drops alpha and expands greyscale to RGB', async () => {
    const rgba = await sharp({
      create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 255, b: 0, alpha: 0.2 } },
    })
      .png()
      .toBuffer();
    const [, g] = planes(await preprocessImage(new Uint8Array(rgba), HALF), HALF) as [
      Float32Array,
      Float32Array,
    ];
    assertAll(g, 1);
    const grey = await sharp({
      create: { width: 8, height: 8, channels: 3, background: { r: 51, g: 51, b: 51 } },
    })
      .greyscale()
      .png()
      .toBuffer();
    const tensor = await preprocessImage(new Uint8Array(grey), HALF);
    for (const plane of planes(tensor, HALF)) assertAll(plane, (51 / 255 - 0.5) / 0.5, 1e-6);
  });

  it('centre-crops for cover, after a shortest-edge resize', async () => {
    // 30 x 10: left third red, middle blue, right third red. A centre crop of a square keeps only blue.
    const img = await sharp({
      create: { width: 30, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } },
    })
      .composite([
        {
          input: { create: { width: 10, height: 10, channels: 3, background: { r: 0, g: 0, b: 255 } } },
          left: 10,
          top: 0,
        },
      ])
      .png()
      .toBuffer();
    const spec: PreprocessSpec = {
      ...HALF,
      width: 4,
      height: 4,
      fit: 'cover',
      shortestEdge: 5,
      kernel: 'nearest',
    };
    const [r, , b] = planes(await preprocessImage(new Uint8Array(img), spec), spec) as [
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    assertAll(r, -1);
    assertAll(b, 1);
  });

  it('fails with IMAGE_EMPTY / IMAGE_DECODE_FAILED on bad bytes', async () => {
    await assert.rejects(
      preprocessImage(new Uint8Array(0), HALF),
      (e: unknown) => e instanceof PipelineError && e.code === 'IMAGE_EMPTY',
    );
    await assert.rejects(
      preprocessImage(new TextEncoder().encode('not an image at all'), HALF),
      (e: unknown) => e instanceof PipelineError && e.code === 'IMAGE_DECODE_FAILED',
    );
  });
});

describe('preprocessBatch and rgbToTensor', () => {
  it('concatenates images in order and names the index of a bad one', async () => {
    const batch = await preprocessBatch([await solid(255, 0, 0), await solid(0, 0, 255, 5, 5, 'jpeg')], HALF);
    assert.equal(batch.length, 2 * tensorSize(HALF));
    assert.equal(batch[0], 1);
    assert.ok(Math.abs((batch[tensorSize(HALF) + 2 * 120] ?? 0) - 1) < 0.02); // image 1, blue plane
    await assert.rejects(
      preprocessBatch([await solid(1, 2, 3), new Uint8Array([1, 2, 3])], HALF),
      (e: unknown) => e instanceof PipelineError && e.code === 'IMAGE_DECODE_FAILED' && e.context.index === 1,
    );
  });

  it('normalizes raw interleaved RGB exactly with the formula', () => {
    const spec: PreprocessSpec = { ...IMAGENET, width: 2, height: 1 };
    const t = rgbToTensor(new Uint8Array([0, 128, 255, 10, 20, 30]), spec);
    const expect = (v: number, c: 0 | 1 | 2): number => Math.fround((v / 255 - spec.mean[c]) / spec.std[c]);
    assert.deepEqual(
      [...t],
      [expect(0, 0), expect(10, 0), expect(128, 1), expect(20, 1), expect(255, 2), expect(30, 2)],
    );
  });
});
