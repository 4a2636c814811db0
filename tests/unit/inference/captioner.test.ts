/**
 * OnnxCaptioner on the tiny models of tests/fixtures/onnx (built with the trainer's venv), in
 * both bundle layouts. The models are designed (see make_tiny_models.py) so that greedy says
 * "a red circle" for a red image and "a blue circle" for a blue one, and so that on neutral
 * features beam search finds "the square", which has a better mean log-prob than greedy's path.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { PipelineError } from '../../../schemas/errors.ts';
import { type Caption, OnnxCaptioner } from '../../../processors/inference/captioner.ts';
import { parseModelBundle, type CaptionModelBundle } from '../../../processors/inference/model-bundle.ts';
import { tensorSize } from '../../../processors/inference/preprocess.ts';
import { readBundleDir, tinyModels, type TinyModels } from '../../fixtures/onnx/tiny-models.ts';

async function solid(r: number, g: number, b: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width: 31, height: 17, channels: 3, background: { r, g, b } } })
      .png()
      .toBuffer(),
  );
}

function codeIs(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

let models: TinyModels;
let red: Uint8Array;
let blue: Uint8Array;

before(async () => {
  models = await tinyModels();
  red = await solid(255, 0, 0);
  blue = await solid(0, 0, 255);
});

// hfMerged: optimum's merged decoder (use_cache_branch, past_key_values.*) run without its cache.
for (const layout of ['captionflow', 'hf', 'hfMerged'] as const) {
  describe(`OnnxCaptioner, ${layout} layout`, () => {
    let bundle: CaptionModelBundle;
    let captioner: OnnxCaptioner;

    before(async () => {
      bundle = parseModelBundle(await readBundleDir(models[layout]));
      captioner = await OnnxCaptioner.create(bundle);
    });
    after(() => captioner.close());

    it('is detected as the right format', () => {
      assert.equal(bundle.format, layout === 'captionflow' ? 'captionflow' : 'hf-vision-encoder-decoder');
    });

    it('greedy gives the designed captions, with a mean log-prob score', async () => {
      const [r, b] = await captioner.caption([red, blue], { strategy: 'greedy' });
      assert.equal(r?.text, 'a red circle');
      assert.equal(b?.text, 'a blue circle');
      assert.equal(r?.finished, true);
      assert.ok(r !== undefined && r.score < 0 && r.score > -1, `score ${r?.score}`);
      // tokens: no start token, no end token
      assert.equal(r?.tokens.length, layout === 'captionflow' ? 3 : 4);
      assert.equal(bundle.tokenizer.decode(r?.tokens ?? []).trim(), 'a red circle');
    });

    it('beam search (3) scores at least as well as greedy, and finds a better caption greedy misses', async () => {
      const neutral = new Float32Array(tensorSize(bundle.preprocess)); // all-zero features: colour undecided
      for (const input of [[red], [blue], neutral]) {
        const [greedy] = await captioner.caption(input, { strategy: 'greedy' });
        const [beam] = await captioner.caption(input, { strategy: 'beam', beamSize: 3 });
        assert.ok(beam !== undefined && greedy !== undefined);
        assert.ok(beam.score >= greedy.score - 1e-9, `beam ${beam.score} < greedy ${greedy.score}`);
      }
      const [greedy] = await captioner.caption(neutral, { strategy: 'greedy' });
      const [beam] = await captioner.caption(neutral, { strategy: 'beam', beamSize: 3 });
      assert.equal(greedy?.text, 'a red circle');
      assert.equal(beam?.text, 'the square');
      assert.ok((beam?.score ?? -Infinity) > (greedy?.score ?? 0) + 0.01);
    });

    it('a batch of 4 gives exactly what 4 single calls give', async () => {
      const images = [red, blue, await solid(200, 30, 60), await solid(40, 40, 220)];
      const batch = await captioner.caption(images, { strategy: 'greedy' });
      const singles: Caption[] = [];
      for (const image of images) singles.push(...(await captioner.caption([image], { strategy: 'greedy' })));
      assert.equal(batch.length, 4);
      assert.deepEqual(
        batch.map((c) => [c.text, c.tokens]),
        singles.map((c) => [c.text, c.tokens]),
      );
      batch.forEach((c, i) => assert.ok(Math.abs(c.score - (singles[i]?.score ?? 0)) < 1e-6));
      assert.deepEqual(
        batch.map((c) => c.text),
        ['a red circle', 'a blue circle', 'a red circle', 'a blue circle'],
      );
    });

    it('takes a preprocessed float batch as well as image bytes', async () => {
      const [fromBytes] = await captioner.caption([blue]);
      const pixels = new Float32Array(tensorSize(bundle.preprocess)).fill(-1);
      pixels.fill(1, 2 * (pixels.length / 3)); // blue plane = 1
      const [fromPixels] = await captioner.caption(pixels);
      assert.equal(fromPixels?.text, fromBytes?.text);
      assert.deepEqual(await captioner.caption([]), []);
    });

    it('cuts at maxLength and marks the caption unfinished', async () => {
      const [c] = await captioner.caption([red], { maxLength: 3 });
      assert.equal(c?.finished, false);
      assert.deepEqual(c?.text, 'a red');
    });

    it('rejects bad options and bad pixel batches', async () => {
      await assert.rejects(captioner.caption([red], { maxLength: 1 }), codeIs('CONFIG_INVALID', /maxLength/));
      await assert.rejects(
        captioner.caption([red], { maxLength: 1000 }),
        codeIs('CONFIG_INVALID', /maxLength/),
      );
      await assert.rejects(
        captioner.caption([red], { strategy: 'beam', beamSize: 0 }),
        codeIs('CONFIG_INVALID', /beamSize/),
      );
      await assert.rejects(
        captioner.caption(new Float32Array(7)),
        codeIs('INFERENCE_FAILED', /not a multiple/),
      );
      await assert.rejects(
        captioner.caption([red, new Uint8Array([9, 9, 9])]),
        codeIs('IMAGE_DECODE_FAILED', /image 1/),
      );
    });
  });
}

describe('OnnxCaptioner.create', () => {
  it('rejects graphs whose input names differ from the bundle, listing the names found', async () => {
    const files = await readBundleDir(models.hf);
    files['decoder_model.onnx'] = new Uint8Array(
      await readFile(join(models.bad, 'decoder_wrong_names.onnx')),
    );
    await assert.rejects(OnnxCaptioner.create(parseModelBundle(files)), (err: unknown) => {
      codeIs('MODEL_INVALID', /decoder has no input input_ids/)(err);
      const found = (err as PipelineError).context.found as { decoderInputs: string[] };
      assert.deepEqual(found.decoderInputs, ['decoder_input_ids', 'encoder_outputs']);
      return true;
    });
  });

  it('rejects bytes that are not an ONNX model with MODEL_LOAD_FAILED', async () => {
    const files = await readBundleDir(models.captionflow);
    files['encoder.onnx'] = new TextEncoder().encode('definitely not protobuf');
    await assert.rejects(
      OnnxCaptioner.create(parseModelBundle(files)),
      codeIs('MODEL_LOAD_FAILED', /encoder/),
    );
  });

  it('loads from SharedArrayBuffer-backed files, and refuses captions after close', async () => {
    const files = await readBundleDir(models.captionflow);
    for (const [name, bytes] of Object.entries(files)) {
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      shared.set(bytes);
      files[name] = shared;
    }
    const captioner = await OnnxCaptioner.create(parseModelBundle(files));
    assert.equal((await captioner.caption([red]))[0]?.text, 'a red circle');
    await captioner.close();
    await captioner.close();
    await assert.rejects(captioner.caption([red]), codeIs('INFERENCE_FAILED', /closed/));
  });
});
