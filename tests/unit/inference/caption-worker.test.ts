/**
 * The caption worker module: in this thread (version cache, hot reload with a grace period,
 * per-image errors) and in the runtime's Piscina pool on a real worker thread.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import { PiscinaPool } from '../../../runtime/workers/piscina-pool.ts';
import captionTask, {
  type CaptionTask,
  type CaptionTaskResult,
  closeAllModels,
  loadedModelVersions,
} from '../../../processors/inference/caption-worker.ts';
import { readBundleDir, tinyModels } from '../../fixtures/onnx/tiny-models.ts';

const workerUrl = new URL('../../../processors/inference/caption-worker.ts', import.meta.url);

async function solid(r: number, g: number, b: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g, b } } })
      .png()
      .toBuffer(),
  );
}

function texts(result: CaptionTaskResult): (string | undefined)[] {
  return result.results.map((r) => (r.ok ? r.caption.text : r.error.code));
}

/** Files copied into SharedArrayBuffers: structured clone shares them with worker threads. */
function shared(files: Record<string, Uint8Array>): Record<string, Uint8Array> {
  return Object.fromEntries(
    Object.entries(files).map(([name, bytes]) => {
      const view = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      view.set(bytes);
      return [name, view];
    }),
  );
}

let ours: Record<string, Uint8Array>;
let hf: Record<string, Uint8Array>;
let red: Uint8Array;
let blue: Uint8Array;

before(async () => {
  const models = await tinyModels();
  ours = await readBundleDir(models.captionflow);
  hf = await readBundleDir(models.hf);
  red = await solid(255, 0, 0);
  blue = await solid(0, 0, 255);
});

describe('caption-worker in this thread', () => {
  afterEach(() => closeAllModels());

  it('loads a version from its bundle once, then serves it by id alone', async () => {
    const first = await captionTask({ modelVersion: 'v1', bundle: ours, images: [red, blue] });
    assert.equal(first.loaded, true);
    assert.equal(first.format, 'captionflow');
    assert.equal(first.modelId, 'tiny-bigram-0001');
    assert.deepEqual(texts(first), ['a red circle', 'a blue circle']);
    const second = await captionTask({
      modelVersion: 'v1',
      images: [blue],
      decode: { strategy: 'beam', beamSize: 3 },
    });
    assert.equal(second.loaded, false);
    assert.deepEqual(texts(second), ['a blue circle']);
    assert.deepEqual(loadedModelVersions(), ['v1']);
  });

  it('asks for the bundle (MODEL_NOT_LOADED, retriable) when it does not have the version', async () => {
    await assert.rejects(captionTask({ modelVersion: 'never-seen', images: [red] }), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, 'MODEL_NOT_LOADED');
      assert.equal(err.retriable, true);
      return true;
    });
  });

  it('hot-reloads: a new version serves at once, the old one is closed once idle for the grace period', async () => {
    await captionTask({ modelVersion: 'v1', bundle: ours, images: [red], graceMs: 60_000 });
    const v2 = await captionTask({ modelVersion: 'v2', bundle: hf, images: [red], graceMs: 60_000 });
    assert.equal(v2.format, 'hf-vision-encoder-decoder');
    // Within the grace the old version still answers (requests in flight, a quick rollback).
    assert.deepEqual(loadedModelVersions().sort(), ['v1', 'v2']);
    assert.deepEqual(texts(await captionTask({ modelVersion: 'v1', images: [blue], graceMs: 60_000 })), [
      'a blue circle',
    ]);
    // v2 becomes current again; with no grace, idle v1 is closed right after this task.
    await captionTask({ modelVersion: 'v2', images: [blue], graceMs: 0 });
    assert.deepEqual(loadedModelVersions(), ['v2']);
    await assert.rejects(
      captionTask({ modelVersion: 'v1', images: [red] }),
      (e: unknown) => e instanceof PipelineError && e.code === 'MODEL_NOT_LOADED',
    );
  });

  it('keeps serving the working version when a new version fails to load', async () => {
    await captionTask({ modelVersion: 'v1', bundle: ours, images: [] });
    const { 'tokenizer.json': _drop, ...broken } = ours;
    await assert.rejects(
      captionTask({ modelVersion: 'v2', bundle: broken, images: [red], graceMs: 0 }),
      (e: unknown) => e instanceof PipelineError && e.code === 'MODEL_INVALID',
    );
    assert.deepEqual(loadedModelVersions(), ['v1']);
    assert.deepEqual(texts(await captionTask({ modelVersion: 'v1', images: [red] })), ['a red circle']);
  });

  it('reports a bad image per image and captions the others', async () => {
    const result = await captionTask({
      modelVersion: 'v1',
      bundle: ours,
      images: [red, new Uint8Array([1, 2, 3]), blue.buffer as ArrayBuffer],
    });
    assert.deepEqual(texts(result), ['a red circle', 'IMAGE_DECODE_FAILED', 'a blue circle']);
  });

  it('refuses a broken bundle with MODEL_INVALID and does not cache the failure', async () => {
    const { 'decoder.onnx': _drop, ...broken } = ours;
    await assert.rejects(
      captionTask({ modelVersion: 'v9', bundle: broken, images: [red] }),
      (e: unknown) => e instanceof PipelineError && e.code === 'MODEL_INVALID',
    );
    assert.deepEqual(loadedModelVersions(), []);
    const fixed = await captionTask({ modelVersion: 'v9', bundle: ours, images: [red] });
    assert.deepEqual(texts(fixed), ['a red circle']);
  });

  it('only loads (warms) the model for a task with no images', async () => {
    const warm = await captionTask({ modelVersion: 'v1', bundle: ours, images: [] });
    assert.equal(warm.loaded, true);
    assert.deepEqual(warm.results, []);
  });
});

describe('caption-worker in the Piscina pool (a real thread)', () => {
  const pool = new PiscinaPool({ size: 1 });
  after(() => pool.close());

  it('captions in the worker thread, keeps the model loaded, and errors keep their codes across the thread', async () => {
    const bundle = shared(ours);
    const image = red.slice();
    const first = await pool.run<CaptionTask, CaptionTaskResult>(
      workerUrl,
      { modelVersion: 'pool-v1', bundle, images: [image] },
      [image.buffer],
    );
    assert.equal(first.loaded, true);
    assert.deepEqual(texts(first), ['a red circle']);

    const second = await pool.run<CaptionTask, CaptionTaskResult>(workerUrl, {
      modelVersion: 'pool-v1',
      bundle,
      images: [blue],
    });
    assert.equal(second.loaded, false);
    assert.deepEqual(texts(second), ['a blue circle']);

    const hfResult = await pool.run<CaptionTask, CaptionTaskResult>(workerUrl, {
      modelVersion: 'pool-hf',
      bundle: shared(hf),
      images: [blue],
      decode: { strategy: 'beam', beamSize: 3 },
    });
    assert.deepEqual(texts(hfResult), ['a blue circle']);

    await assert.rejects(
      pool.run(workerUrl, { modelVersion: 'pool-unknown', images: [red] }),
      (err: unknown) => {
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, 'MODEL_NOT_LOADED');
        assert.equal(err.retriable, true);
        return true;
      },
    );
  });
});
