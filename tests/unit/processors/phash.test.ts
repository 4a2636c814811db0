import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import {
  dHashFromGrid,
  hammingDistance,
  pHashFromGrid,
  perceptualHashes,
} from '../../../processors/image/phash.ts';
import { sceneSharp } from '../../fixtures/bad-input/make-corpus.ts';

describe('hammingDistance', () => {
  it('counts differing bits across both 32-bit halves', () => {
    assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
    assert.equal(hammingDistance('ffffffffffffffff', '0000000000000000'), 64);
    assert.equal(hammingDistance('8000000000000001', '0000000000000000'), 2);
    assert.equal(hammingDistance('00000000F0000000', '00000000f0000000'), 0);
  });

  it('rejects strings that are not 16 hex characters', () => {
    assert.throws(() => hammingDistance('abc', '0000000000000000'), PipelineError);
    assert.throws(() => hammingDistance('000000000000000g', '0000000000000000'), PipelineError);
  });
});

describe('dHashFromGrid / pHashFromGrid', () => {
  it('dHash sets a bit where luma increases to the right', () => {
    const rising = Array.from({ length: 72 }, (_, i) => i % 9);
    assert.equal(dHashFromGrid(rising), 'ffffffffffffffff');
    assert.equal(dHashFromGrid(rising.map((v) => 10 - v)), '0000000000000000');
  });

  it('pHash is invariant to a uniform brightness shift and flips under inversion', () => {
    const grid = Array.from({ length: 1024 }, (_, i) => ((i % 32) * 7 + Math.floor(i / 32) * 3) % 200);
    const hash = pHashFromGrid(grid);
    assert.match(hash, /^[0-9a-f]{16}$/);
    assert.equal(pHashFromGrid(grid.map((v) => v + 40)), hash);
    assert.ok(hammingDistance(pHashFromGrid(grid.map((v) => 255 - v)), hash) >= 48);
  });

  it('rejects grids of the wrong size', () => {
    assert.throws(() => dHashFromGrid([1, 2, 3]), PipelineError);
    assert.throws(() => pHashFromGrid(new Uint8Array(64)), PipelineError);
  });
});

describe('perceptualHashes', () => {
  it('puts an image and its re-encoded copy within 6 bits, and different images far apart', async () => {
    const originals = await Promise.all(
      [1, 2, 3].map((seed) => sceneSharp(320, 240, seed).jpeg({ quality: 90 }).toBuffer()),
    );
    const hashes = await Promise.all(originals.map((bytes) => perceptualHashes(bytes)));
    for (const [i, bytes] of originals.entries()) {
      const copy = await perceptualHashes(await sharp(bytes).jpeg({ quality: 70 }).toBuffer());
      const own = hashes[i];
      assert.ok(own !== undefined);
      assert.ok(hammingDistance(own.dHash, copy.dHash) <= 6, `dHash of re-encoded image ${i}`);
      assert.ok(hammingDistance(own.pHash, copy.pHash) <= 6, `pHash of re-encoded image ${i}`);
    }
    for (let i = 0; i < hashes.length; i++) {
      for (let j = i + 1; j < hashes.length; j++) {
        const [a, b] = [hashes[i], hashes[j]];
        assert.ok(a !== undefined && b !== undefined);
        assert.ok(hammingDistance(a.dHash, b.dHash) > 12, `dHash of images ${i} and ${j}`);
        assert.ok(hammingDistance(a.pHash, b.pHash) > 12, `pHash of images ${i} and ${j}`);
      }
    }
  });

  it('survives downscaling (pHash within 6 bits)', async () => {
    const bytes = await sceneSharp(320, 240, 4).png().toBuffer();
    const small = await sharp(bytes).resize(160).jpeg({ quality: 80 }).toBuffer();
    const [a, b] = await Promise.all([perceptualHashes(bytes), perceptualHashes(small)]);
    assert.ok(hammingDistance(a.pHash, b.pHash) <= 6);
  });

  it('throws IMAGE_DECODE_FAILED on bytes that are not an image', async () => {
    await assert.rejects(perceptualHashes(Uint8Array.of(1, 2, 3)), { code: 'IMAGE_DECODE_FAILED' });
  });
});
