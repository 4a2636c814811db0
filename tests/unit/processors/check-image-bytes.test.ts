import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkImageBytes } from '../../../processors/image/check-image-bytes.ts';
import { PipelineError } from '../../../schemas/errors.ts';

const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>');
const pdf = new TextEncoder().encode('%PDF-1.7');

/** The PipelineError `fn` throws. */
function thrown(fn: () => unknown): PipelineError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PipelineError, String(err));
    return err;
  }
  assert.fail('expected a PipelineError');
}

describe('checkImageBytes', () => {
  it('returns the sniffed format and MIME type of an accepted image', () => {
    assert.deepEqual(checkImageBytes(png), { format: 'png', mime: 'image/png' });
    assert.deepEqual(checkImageBytes(png, { maxBytes: png.byteLength }), { format: 'png', mime: 'image/png' });
  });

  it('refuses empty bytes with IMAGE_EMPTY, not retriable', () => {
    const err = thrown(() => checkImageBytes(new Uint8Array(0), { maxBytes: 10 }));
    assert.equal(err.code, 'IMAGE_EMPTY');
    assert.equal(err.retriable, false);
    assert.equal(err.message, 'the image is empty (0 bytes)');
  });

  it('refuses bytes over maxBytes with IMAGE_TOO_LARGE naming size and limit, before sniffing', () => {
    const err = thrown(() => checkImageBytes(svg, { maxBytes: 10 }));
    assert.equal(err.code, 'IMAGE_TOO_LARGE');
    assert.equal(err.message, `the image is ${svg.byteLength} bytes, the limit is 10`);
    assert.deepEqual(err.context, { size: svg.byteLength, limit: 10 });
  });

  it('refuses SVG and unrecognised bytes with UNSUPPORTED_FORMAT and the sniffed format', () => {
    const vector = thrown(() => checkImageBytes(svg));
    assert.equal(vector.code, 'UNSUPPORTED_FORMAT');
    assert.equal(vector.message, 'unsupported image format: SVG (vector images are refused)');
    assert.deepEqual(vector.context, { format: 'svg' });
    const other = thrown(() => checkImageBytes(pdf));
    assert.equal(other.message, 'unsupported image format: not a recognised image format');
    assert.deepEqual(other.context, { format: 'unknown' });
  });

  it('names the input and carries the caller context when given', () => {
    const options = { subject: 'file "a.svg"', context: { field: 'file', index: 2 } };
    const empty = thrown(() => checkImageBytes(new Uint8Array(0), options));
    assert.equal(empty.message, 'file "a.svg" is empty (0 bytes)');
    assert.deepEqual(empty.context, { field: 'file', index: 2 });
    const vector = thrown(() => checkImageBytes(svg, options));
    assert.equal(vector.message, 'file "a.svg": SVG (vector images are refused)');
    assert.deepEqual(vector.context, { field: 'file', index: 2, format: 'svg' });
  });
});
