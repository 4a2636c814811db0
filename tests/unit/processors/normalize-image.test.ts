import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import { normalizeImage, type NormalizedImage } from '../../../processors/image/normalize.ts';
import {
  DEFAULT_NORMALIZE_OPTIONS,
  PROCESSING_VERSION,
  processingFingerprint,
  resolveNormalizeOptions,
} from '../../../processors/image/normalize-options.ts';
import { sha256Hex } from '../../../processors/hash/sha256.ts';
import { makeImageCorpus, sceneSharp, type ImageCase } from '../../fixtures/bad-input/make-corpus.ts';

let corpus: ImageCase[] = [];
const results = new Map<string, NormalizedImage>();

function caseNamed(name: string): ImageCase {
  const found = corpus.find((c) => c.name === name);
  assert.ok(found, `corpus case ${name}`);
  return found;
}

async function normalized(name: string): Promise<NormalizedImage> {
  const cached = results.get(name);
  if (cached !== undefined) return cached;
  const c = caseNamed(name);
  const result = await normalizeImage(c.bytes, c.options ?? {});
  results.set(name, result);
  return result;
}

/** The EXIF GPS IFD pointer (tag 0x8825) in a little- or big-endian TIFF block. */
function hasGpsPointer(exif: Buffer): boolean {
  return exif.includes(Buffer.from([0x25, 0x88])) || exif.includes(Buffer.from([0x88, 0x25]));
}

async function pixelAt(bytes: Uint8Array, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const o = (y * info.width + x) * info.channels;
  return [data[o] ?? -1, data[o + 1] ?? -1, data[o + 2] ?? -1];
}

before(async () => {
  corpus = await makeImageCorpus();
});

describe('normalizeImage: bad input gets its exact error code', () => {
  it('covers the corpus', () => {
    assert.ok(corpus.filter((c) => c.expectedCode !== null).length >= 10);
  });

  for (const name of [
    'empty.jpg',
    'too-large.png',
    'truncated.jpg',
    'truncated.png',
    'corrupt-idat.png',
    'random-bytes.jpg',
    'jpeg-magic-then-garbage.jpg',
    'bomb-20000x20000.png',
    'external-ref.svg',
    'prolog-entity.svg',
    'html-named.png',
  ]) {
    it(name, async () => {
      const c = caseNamed(name);
      assert.notEqual(c.expectedCode, null);
      await assert.rejects(normalizeImage(c.bytes, c.options ?? {}), (err: unknown) => {
        assert.ok(err instanceof PipelineError, `expected PipelineError, got ${String(err)}`);
        assert.equal(err.code, c.expectedCode);
        assert.equal(err.retriable, false, 'bad input must not be retried');
        return true;
      });
    });
  }

  it('reports the declared dimensions of a pixel bomb without decoding it', async () => {
    const c = caseNamed('bomb-20000x20000.png');
    await assert.rejects(normalizeImage(c.bytes), (err: PipelineError) => {
      assert.equal(err.context['width'], 20000);
      assert.equal(err.context['height'], 20000);
      return true;
    });
  });

  it('rejects images over maxPixels with PIXEL_LIMIT_EXCEEDED', async () => {
    const bytes = await sceneSharp(100, 100, 1).png().toBuffer();
    await assert.rejects(normalizeImage(bytes, { maxPixels: 9_999 }), { code: 'PIXEL_LIMIT_EXCEEDED' });
  });
});

describe('normalizeImage: odd but valid images are normalized', () => {
  const goodNames = [
    'animated-200-frames.gif',
    'cmyk.jpg',
    'rgb16.png',
    'rgba.png',
    'grey.png',
    'display-p3.png',
    'giant-exif.jpg',
    'orientation-6-gps.jpg',
    'photo.webp',
    'photo.tiff',
    'photo.avif',
    'one-pixel.png',
    'panorama-2000x20.jpg',
  ];

  for (const name of goodNames) {
    it(`${name}: sRGB, 3 channels, target sizes, no metadata, expected properties`, async () => {
      const c = caseNamed(name);
      assert.equal(c.expectedCode, null);
      const result = await normalized(name);
      const size = DEFAULT_NORMALIZE_OPTIONS.modelInput.size;

      const model = await sharp(result.modelInput.bytes).metadata();
      assert.equal(model.format, 'webp');
      assert.equal(model.width, size);
      assert.equal(model.height, size);
      assert.equal(model.channels, 3);
      assert.equal(model.space, 'srgb');
      assert.equal(model.depth, 'uchar');
      const thumb = await sharp(result.thumbnail.bytes).metadata();
      assert.ok(Math.max(thumb.width, thumb.height) <= DEFAULT_NORMALIZE_OPTIONS.thumbnail.maxSide);
      assert.equal(thumb.channels, 3);
      for (const out of [model, thumb]) {
        assert.equal(out.exif, undefined, 'no EXIF in output');
        assert.equal(out.xmp, undefined, 'no XMP in output');
        assert.equal(out.iptc, undefined, 'no IPTC in output');
        assert.equal(out.icc, undefined, 'no ICC profile in output (untagged means sRGB)');
        assert.equal(out.orientation, undefined, 'no orientation tag in output');
      }

      assert.equal(result.modelInput.sha256, sha256Hex(result.modelInput.bytes));
      assert.equal(result.thumbnail.sha256, sha256Hex(result.thumbnail.bytes));
      assert.equal(result.original.sha256, sha256Hex(c.bytes));
      assert.equal(result.original.byteLength, c.bytes.byteLength);
      assert.match(result.perceptual.dHash, /^[0-9a-f]{16}$/);
      assert.match(result.perceptual.pHash, /^[0-9a-f]{16}$/);
      assert.ok(result.quality.brightness >= 0 && result.quality.brightness <= 1);
      assert.ok(result.quality.contrast >= 0 && result.quality.contrast <= 0.5);
      assert.ok(result.quality.blurVariance >= 0);
      assert.equal(result.quality.aspectRatio, result.quality.width / result.quality.height);
      assert.ok(result.fingerprint.startsWith(`${PROCESSING_VERSION}+`));

      const expect = c.expect ?? {};
      if (expect.format !== undefined) assert.equal(result.original.format, expect.format);
      if (expect.orientation !== undefined) assert.equal(result.original.orientation, expect.orientation);
      if (expect.orientedWidth !== undefined)
        assert.equal(result.original.orientedWidth, expect.orientedWidth);
      if (expect.orientedHeight !== undefined)
        assert.equal(result.original.orientedHeight, expect.orientedHeight);
      if (expect.hasAlpha !== undefined) assert.equal(result.quality.hasAlpha, expect.hasAlpha);
      if (expect.pages !== undefined) assert.equal(result.original.pages, expect.pages);
      for (const kind of expect.strippedMetadata ?? []) {
        assert.ok(result.original.strippedMetadata.includes(kind as never), `original carried ${kind}`);
      }
    });
  }
});

describe('normalizeImage: specific behaviour', () => {
  it('applies EXIF orientation 6 (rotate 90° clockwise) and drops the GPS block', async () => {
    const c = caseNamed('orientation-6-gps.jpg');
    const input = await sharp(c.bytes).metadata();
    assert.equal(input.orientation, 6);
    assert.ok(input.exif !== undefined && hasGpsPointer(input.exif), 'fixture carries GPS');

    const result = await normalized('orientation-6-gps.jpg');
    // Stored 64x32 with red on the left and blue on the right; displayed 32x64, red on top.
    assert.deepEqual([result.thumbnail.width, result.thumbnail.height], [32, 64]);
    const [top, bottom] = await Promise.all([
      pixelAt(result.thumbnail.bytes, 16, 4),
      pixelAt(result.thumbnail.bytes, 16, 59),
    ]);
    assert.ok((top[0] ?? 0) > 200 && (top[2] ?? 255) < 60, `top is red: ${top.join(',')}`);
    assert.ok((bottom[2] ?? 0) > 200 && (bottom[0] ?? 255) < 60, `bottom is blue: ${bottom.join(',')}`);
    for (const bytes of [result.modelInput.bytes, result.thumbnail.bytes]) {
      assert.ok(!Buffer.from(bytes).includes('Exif'), 'no Exif marker anywhere in the output bytes');
    }
  });

  it('applies orientation on the downscaled path as well (large image, orientation 6)', async () => {
    const [width, height] = [600, 300];
    const raw = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) raw[i * 3 + (i % width < width / 2 ? 0 : 2)] = 255;
    const bytes = await sharp(raw, { raw: { width, height, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const result = await normalizeImage(bytes);
    assert.deepEqual([result.thumbnail.width, result.thumbnail.height], [128, 256]);
    const [top, bottom] = await Promise.all([
      pixelAt(result.thumbnail.bytes, 64, 8),
      pixelAt(result.thumbnail.bytes, 64, 247),
    ]);
    assert.ok(
      (top[0] ?? 0) > 200 && (bottom[2] ?? 0) > 200,
      `red on top, blue below: ${top.join(',')} / ${bottom.join(',')}`,
    );
  });

  it('uses only the first frame of an animated GIF (red), not the 199 others', async () => {
    const result = await normalized('animated-200-frames.gif');
    const [r, g, b] = await pixelAt(result.thumbnail.bytes, 24, 24);
    assert.ok((r ?? 0) > 200 && (g ?? 255) < 40 && (b ?? 255) < 40, `first frame is red: ${r},${g},${b}`);
    assert.equal(result.original.pages, 200);
  });

  it('flattens transparency onto the configured background', async () => {
    const c = caseNamed('rgba.png');
    const white = await normalizeImage(c.bytes, { encode: { format: 'png' } });
    const black = await normalizeImage(c.bytes, { encode: { format: 'png' }, background: '#000000' });
    // The left half of the fixture is fully transparent.
    assert.deepEqual(await pixelAt(white.thumbnail.bytes, 5, 30), [255, 255, 255]);
    assert.deepEqual(await pixelAt(black.thumbnail.bytes, 5, 30), [0, 0, 0]);
    assert.equal(white.quality.hasAlpha, true);
  });

  it('converts CMYK, 16-bit and greyscale inputs to 8-bit sRGB with colour intact', async () => {
    // Each fixture is a known scene; its plain 8-bit sRGB encode is the reference.
    const pairs = [
      { name: 'cmyk.jpg', reference: await sceneSharp(200, 150, 3).jpeg({ quality: 90 }).toBuffer() },
      { name: 'rgb16.png', reference: await sceneSharp(160, 120, 4).png().toBuffer() },
    ];
    for (const { name, reference } of pairs) {
      const [odd, plain] = await Promise.all([normalized(name), normalizeImage(reference)]);
      const [oddStats, plainStats] = await Promise.all([
        sharp(odd.modelInput.bytes).stats(),
        sharp(plain.modelInput.bytes).stats(),
      ]);
      oddStats.channels.forEach((channel, i) => {
        const meanDiff = Math.abs(channel.mean - (plainStats.channels[i]?.mean ?? 0));
        assert.ok(meanDiff < 12, `${name} channel ${i} mean differs by ${meanDiff.toFixed(1)}`);
      });
    }
    assert.equal((await normalized('cmyk.jpg')).original.colourSpace, 'cmyk');
    assert.equal((await normalized('rgb16.png')).original.depth, 'ushort');
    const grey = await normalized('grey.png');
    const [r, g, b] = await pixelAt(grey.modelInput.bytes, 48, 48);
    assert.ok(Math.abs((r ?? 0) - (g ?? 0)) <= 3 && Math.abs((g ?? 0) - (b ?? 0)) <= 3, 'grey stays grey');
  });

  it('letterboxes with fit=contain and crops with fit=cover', async () => {
    const bytes = await sceneSharp(200, 100, 5).png().toBuffer();
    const contain = await normalizeImage(bytes, {
      modelInput: { size: 64, fit: 'contain' },
      background: '#00ff00',
      encode: { format: 'png' },
    });
    const cover = await normalizeImage(bytes, {
      modelInput: { size: 64, fit: 'cover' },
      encode: { format: 'png' },
    });
    assert.deepEqual([contain.modelInput.width, contain.modelInput.height], [64, 64]);
    assert.deepEqual(await pixelAt(contain.modelInput.bytes, 32, 2), [0, 255, 0], 'letterbox band');
    assert.notDeepEqual(await pixelAt(cover.modelInput.bytes, 32, 2), [0, 255, 0]);
  });

  it('encodes jpeg and png on request, with the right MIME type', async () => {
    const bytes = await sceneSharp(120, 90, 6).png().toBuffer();
    for (const format of ['jpeg', 'png'] as const) {
      const result = await normalizeImage(bytes, { encode: { format, quality: 80 } });
      assert.equal((await sharp(result.modelInput.bytes).metadata()).format, format);
      assert.equal(result.modelInput.mime, `image/${format}`);
      assert.equal(result.thumbnail.format, format);
    }
  });

  it('is deterministic: the same bytes and options give byte-identical outputs', async () => {
    const c = caseNamed('cmyk.jpg');
    const [a, b] = await Promise.all([normalizeImage(c.bytes), normalizeImage(c.bytes)]);
    assert.equal(a.modelInput.sha256, b.modelInput.sha256);
    assert.equal(a.thumbnail.sha256, b.thumbnail.sha256);
    assert.deepEqual(a.perceptual, b.perceptual);
    assert.deepEqual(a.quality, b.quality);
  });

  it('measures blur, brightness and contrast in the expected directions', async () => {
    const crisp = await sceneSharp(256, 256, 7).png().toBuffer();
    const blurred = await sharp(crisp).blur(4).png().toBuffer();
    const white = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const [c, b, w] = await Promise.all([
      normalizeImage(crisp),
      normalizeImage(blurred),
      normalizeImage(white),
    ]);
    assert.ok(
      b.quality.blurVariance < c.quality.blurVariance / 4,
      'blurred image has much lower Laplacian variance',
    );
    assert.equal(w.quality.brightness, 1);
    assert.equal(w.quality.contrast, 0);
    assert.ok(c.quality.contrast > 0.05);
  });

  it('keeps the thumbnail aspect ratio and never enlarges it', async () => {
    const result = await normalized('panorama-2000x20.jpg');
    assert.equal(result.thumbnail.width, 256);
    assert.ok(result.thumbnail.height <= 3);
    const tiny = await normalized('one-pixel.png');
    assert.deepEqual([tiny.thumbnail.width, tiny.thumbnail.height], [1, 1]);
  });
});

describe('options and fingerprint', () => {
  it('rejects bad options with CONFIG_INVALID naming the key and value', () => {
    assert.throws(
      () => resolveNormalizeOptions({ modelInput: { size: 0 }, encode: { format: 'gif' as 'png' } }),
      (err: PipelineError) => {
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.match(err.message, /modelInput\.size=0/);
        assert.match(err.message, /encode\.format="gif"/);
        return true;
      },
    );
    assert.throws(() => resolveNormalizeOptions({ typo: 1 } as never), { code: 'CONFIG_INVALID' });
  });

  it('fingerprint is stable for equal options (whatever the key order) and changes with them', () => {
    const a = processingFingerprint({ modelInput: { size: 128, fit: 'contain' }, maxBytes: 1000 });
    const b = processingFingerprint({ maxBytes: 1000, modelInput: { fit: 'contain', size: 128 } });
    assert.equal(a, b);
    assert.match(a, /^image-normalize@1\+[0-9a-f]{12}$/);
    assert.equal(processingFingerprint({}), processingFingerprint(DEFAULT_NORMALIZE_OPTIONS));
    assert.notEqual(processingFingerprint({}), processingFingerprint({ encode: { quality: 84 } }));
  });
});
