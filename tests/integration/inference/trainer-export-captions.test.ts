/**
 * The inference runtime on a real trainer export: synth data → `train --config tiny` → `export`
 * (cached per trainer source, see tests/fixtures/onnx/trainer-export.ts), then the bundle loader,
 * preprocessing, greedy/beam decoding and the Piscina worker on it. The greedy path must be the
 * one JAX took on the exporter's parity inputs (parity.json), wherever the top-1/top-2 gap is
 * large enough that two correct runtimes cannot disagree. Needs the trainer's Python venv; it
 * never skips.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PiscinaPool } from '../../../runtime/workers/piscina-pool.ts';
import type { CaptionTask, CaptionTaskResult } from '../../../processors/inference/caption-worker.ts';
import { OnnxCaptioner } from '../../../processors/inference/captioner.ts';
import { type CaptionModelBundle, parseModelBundle } from '../../../processors/inference/model-bundle.ts';
import { preprocessImage, rgbToTensor } from '../../../processors/inference/preprocess.ts';
import { readBundleDir } from '../../fixtures/onnx/tiny-models.ts';
import { trainerExport, type TrainerExport } from '../../fixtures/onnx/trainer-export.ts';

// Below this top-1/top-2 logit gap two correct runtimes may pick different tokens.
const TIE_MARGIN = 1e-3;

interface Parity {
  readonly encoder: { inputs: { pixel_values: { dims: number[]; data: string } } };
  readonly greedy: { tokens: number[][]; minMargin: number };
}

function float32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

let exported: TrainerExport;
let files: Record<string, Uint8Array>;
let bundle: CaptionModelBundle;
let captioner: OnnxCaptioner;
let images: Uint8Array[];

before(async () => {
  exported = await trainerExport();
  files = await readBundleDir(exported.dir);
  bundle = parseModelBundle(files);
  captioner = await OnnxCaptioner.create(bundle);
  const names = (await readdir(exported.images))
    .filter((n) => n.endsWith('.png'))
    .sort()
    .slice(0, 4);
  images = await Promise.all(
    names.map(async (n) => new Uint8Array(await readFile(join(exported.images, n)))),
  );
});

after(() => captioner.close());

describe('a real trainer export', { timeout: 900_000 }, () => {
  it('parses as a captionflow bundle with what model.json and tokenizer.json say', async () => {
    const model = JSON.parse(await readFile(join(exported.dir, 'model.json'), 'utf8')) as {
      maxLength: number;
      vocabSize: number;
      preprocess: { width: number; height: number };
    };
    assert.equal(bundle.format, 'captionflow');
    assert.equal(bundle.maxLength, model.maxLength);
    assert.equal(bundle.tokenizer.vocabSize, model.vocabSize);
    assert.deepEqual(
      [bundle.preprocess.width, bundle.preprocess.height],
      [model.preprocess.width, model.preprocess.height],
    );
  });

  it('greedy decoding follows JAX greedy path on the parity inputs', async () => {
    const parity = JSON.parse(await readFile(join(exported.dir, 'parity.json'), 'utf8')) as Parity;
    const pixels = float32(parity.encoder.inputs.pixel_values.data);
    const captions = await captioner.caption(pixels, { strategy: 'greedy' });
    assert.equal(captions.length, parity.greedy.tokens.length);
    if (parity.greedy.minMargin < TIE_MARGIN) return; // a near-tie: the paths may legitimately differ
    captions.forEach((caption, row) => {
      const jax = parity.greedy.tokens[row] ?? [];
      const end = jax.indexOf(bundle.tokens.eos);
      const generated = jax.slice(1, end === -1 ? undefined : end);
      assert.deepEqual(caption.tokens, generated, `row ${row}`);
      assert.equal(caption.finished, end !== -1);
      assert.equal(caption.text, bundle.tokenizer.decode(jax));
    });
  });

  it('preprocesses a training-size image to exactly the trainer formula', async () => {
    const image = images[0] as Uint8Array;
    const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [bundle.preprocess.width, bundle.preprocess.height]);
    const expected = rgbToTensor(new Uint8Array(data), bundle.preprocess);
    assert.deepEqual(await preprocessImage(image, bundle.preprocess), expected);
  });

  it('captions training images with greedy and beam in the worker pool, the model staying loaded', async () => {
    const pool = new PiscinaPool({ size: 1 });
    try {
      const greedy = await pool.run<CaptionTask, CaptionTaskResult>(
        new URL('../../../processors/inference/caption-worker.ts', import.meta.url),
        { modelVersion: 'trainer-export', bundle: files, images, decode: { strategy: 'greedy' } },
      );
      const beam = await pool.run<CaptionTask, CaptionTaskResult>(
        new URL('../../../processors/inference/caption-worker.ts', import.meta.url),
        { modelVersion: 'trainer-export', images, decode: { strategy: 'beam', beamSize: 3 } },
      );
      assert.equal(beam.loaded, false);
      greedy.results.forEach((g, i) => {
        const b = beam.results[i];
        assert.ok(g.ok && b?.ok === true);
        // Beam search is not guaranteed to beat greedy on a trained model (it prunes), so only sanity here;
        // the designed tiny models check beam >= greedy.
        for (const c of [g.caption, b.caption]) {
          assert.ok(c.text.length > 0, `image ${i}: empty caption`);
          assert.ok(Number.isFinite(c.score) && c.score <= 0, `image ${i}: score ${c.score}`);
          assert.equal(c.text, bundle.tokenizer.decode(c.tokens));
        }
      });
    } finally {
      await pool.close();
    }
  });
});
