import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { sniffImageFormat } from '../../../processors/image/sniff-format.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const text = (s: string) => new TextEncoder().encode(s);

describe('sniffImageFormat', () => {
  it('recognises every supported format from files sharp writes', async () => {
    const base = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } });
    assert.equal(sniffImageFormat(await base().jpeg().toBuffer()), 'jpeg');
    assert.equal(sniffImageFormat(await base().png().toBuffer()), 'png');
    assert.equal(sniffImageFormat(await base().webp().toBuffer()), 'webp');
    assert.equal(sniffImageFormat(await base().gif().toBuffer()), 'gif');
    assert.equal(sniffImageFormat(await base().tiff().toBuffer()), 'tiff');
    assert.equal(sniffImageFormat(await base().avif({ effort: 0 }).toBuffer()), 'avif');
  });

  it('recognises big-endian TIFF, BigTIFF and HEIC brands by magic alone', () => {
    assert.equal(sniffImageFormat(bytes(0x4d, 0x4d, 0x00, 0x2a, 0, 0)), 'tiff');
    assert.equal(sniffImageFormat(bytes(0x49, 0x49, 0x2b, 0x00, 0, 0)), 'tiff');
    const heic = new Uint8Array(24);
    heic.set([0, 0, 0, 24], 0);
    heic.set(text('ftypheic'), 4);
    heic.set(text('mif1heic'), 16);
    assert.equal(sniffImageFormat(heic), 'heif');
  });

  it('flags SVG however it starts (BOM, prolog, comment, whitespace)', () => {
    assert.equal(sniffImageFormat(text('<svg xmlns="http://www.w3.org/2000/svg"/>')), 'svg');
    assert.equal(sniffImageFormat(text('\uFEFF<?xml version="1.0"?><!-- c --><svg>')), 'svg');
    assert.equal(sniffImageFormat(text('\n  <!DOCTYPE svg><svg width="1">')), 'svg');
  });

  it('calls everything else unknown, including truncated magic', () => {
    assert.equal(sniffImageFormat(new Uint8Array(0)), 'unknown');
    assert.equal(sniffImageFormat(bytes(0xff, 0xd8)), 'unknown');
    assert.equal(sniffImageFormat(text('RIFF\0\0\0\0WAVE')), 'unknown');
    assert.equal(sniffImageFormat(text('%PDF-1.7')), 'unknown');
    assert.equal(sniffImageFormat(text('<html><body>svg</body></html>')), 'unknown');
  });
});
