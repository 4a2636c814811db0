import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import normalizeTask, {
  type NormalizeTask,
  type NormalizeTaskResult,
} from '../../../processors/image/normalize-worker.ts';
import { PiscinaPool } from '../../../runtime/workers/piscina-pool.ts';
import { sceneSharp } from '../../fixtures/bad-input/make-corpus.ts';

const workerUrl = new URL('../../../processors/image/normalize-worker.ts', import.meta.url);

function ownArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

describe('normalize-worker (called in-process)', () => {
  it('accepts a transferred ArrayBuffer and returns byte fields that own their whole buffer', async () => {
    const png = await sceneSharp(120, 90, 1).png().toBuffer();
    const result = await normalizeTask({ bytes: ownArrayBuffer(png), options: { modelInput: { size: 32 } } });
    assert.equal(result.modelInput.width, 32);
    for (const bytes of [result.modelInput.bytes, result.thumbnail.bytes]) {
      assert.ok(!Buffer.isBuffer(bytes), 'plain Uint8Array, not a Node Buffer');
      assert.equal(bytes.byteOffset, 0);
      assert.equal(bytes.byteLength, bytes.buffer.byteLength);
    }
  });

  it('throws PipelineError with the bad-input code, and INTERNAL for a malformed task', async () => {
    await assert.rejects(normalizeTask({ bytes: new Uint8Array(0) }), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'IMAGE_EMPTY');
      return true;
    });
    await assert.rejects(normalizeTask({} as NormalizeTask), { code: 'INTERNAL' });
  });
});

describe('normalize-worker (in the runtime Piscina pool, a real thread)', () => {
  const pool = new PiscinaPool({ size: 1 });
  after(async () => {
    await pool.close();
  });

  it('normalizes in a worker thread, with the input transferred', async () => {
    const buffer = ownArrayBuffer(await sceneSharp(200, 150, 2).jpeg().toBuffer());
    const task: NormalizeTask = { bytes: buffer };
    const result = await pool.run<NormalizeTask, NormalizeTaskResult>(workerUrl, task, [buffer]);
    assert.equal(buffer.byteLength, 0, 'input was moved, not copied');
    const meta = await sharp(result.modelInput.bytes).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [96, 96, 3]);
    assert.equal(result.original.format, 'jpeg');
  });

  it('a bad image rejects with a PipelineError whose code and context survive the thread boundary', async () => {
    const bytes = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>');
    await assert.rejects(
      pool.run<NormalizeTask, NormalizeTaskResult>(workerUrl, { bytes }),
      (err: unknown) => {
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, 'UNSUPPORTED_FORMAT');
        assert.equal(err.retriable, false);
        assert.equal(err.context['format'], 'svg');
        return true;
      },
    );
  });
});
