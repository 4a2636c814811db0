/**
 * The trainer's ONNX export runs in onnxruntime-node exactly as the model ran in JAX.
 *
 * End to end through the trainer CLI: build (or reuse) the Python venv, generate a tiny
 * synthetic dataset, train the `tiny` preset for one epoch, export, then load encoder.onnx and
 * decoder.onnx with onnxruntime-node and compare against the JAX outputs the exporter saved in
 * parity.json for the same inputs. Without trainer/setup-venv.sh or a Python 3.11 this test
 * fails; it never silently skips.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { runCommand, trainerPython } from '../../fixtures/run-command.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TRAINER_DIR = join(REPO_ROOT, 'trainer');
const TOLERANCE = 1e-4;
// Below this top-1/top-2 logit gap two correct runtimes may pick different tokens.
const TIE_MARGIN = 1e-3;

interface TrainerEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

interface SavedTensor {
  readonly dims: number[];
  readonly dtype: 'float32' | 'int64';
  readonly data: string;
}

interface Parity {
  readonly tolerance: number;
  readonly encoder: {
    inputs: { pixel_values: SavedTensor };
    outputs: { encoder_hidden_states: SavedTensor };
  };
  readonly decoder: {
    inputs: { input_ids: SavedTensor; encoder_hidden_states: SavedTensor };
    outputs: { logits: SavedTensor };
  };
  readonly greedy: { tokens: number[][]; minMargin: number };
}

interface IoSpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: (number | string)[];
}

interface ModelJson {
  readonly encoder: { file: string; inputs: IoSpec[]; outputs: IoSpec[] };
  readonly decoder: { file: string; inputs: IoSpec[]; outputs: IoSpec[] };
  readonly tokens: { pad: number; bos: number; eos: number; unk: number };
  readonly maxLength: number;
  readonly vocabSize: number;
  readonly tokenizer: string;
  readonly preprocess: { width: number; height: number; layout: string };
}

/** Run the trainer CLI; every stdout line must be one JSON event and the last one `done`. */
async function trainer(python: string, args: readonly string[]): Promise<TrainerEvent[]> {
  const result = await runCommand(python, ['-m', 'captionflow_trainer', ...args], { cwd: TRAINER_DIR });
  assert.equal(
    result.code,
    0,
    `trainer ${args[0]} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr.slice(-3000)}`,
  );
  const events = result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as TrainerEvent);
  assert.equal(events.at(-1)?.event, 'done', `trainer ${args[0]} did not end with a done event`);
  return events;
}

function float32(saved: SavedTensor): Float32Array {
  assert.equal(saved.dtype, 'float32');
  const bytes = Buffer.from(saved.data, 'base64');
  // Copy into a fresh, aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function int64(saved: SavedTensor): BigInt64Array {
  assert.equal(saved.dtype, 'int64');
  const bytes = Buffer.from(saved.data, 'base64');
  return new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function output(results: InferenceSession.ReturnType, name: string): Tensor {
  const tensor = results[name];
  assert.ok(tensor !== undefined, `no output named ${name}`);
  return tensor;
}

/** The merged decoder's no-cache feeds: the whole prefix, every past_key_values.* empty (past length 0). */
function plainFeeds(model: ModelJson, inputIds: Tensor, hidden: Tensor): Record<string, Tensor> {
  const rows = inputIds.dims[0]!;
  const feeds: Record<string, Tensor> = {
    input_ids: inputIds,
    encoder_hidden_states: hidden,
    use_cache_branch: new Tensor('bool', new Uint8Array([0]), [1]),
  };
  for (const input of model.decoder.inputs.filter((i) => i.name.startsWith('past_key_values.'))) {
    const [, heads, , headDim] = input.shape as [string, number, string, number];
    feeds[input.name] = new Tensor('float32', new Float32Array(0), [rows, heads, 0, headDim]);
  }
  return feeds;
}

/**
 * Greedy decoding the way the serving runtime does it: the first step on the prefix without a
 * cache, then one token per step with the presents of the step before as pasts.
 */
async function greedy(
  decoder: InferenceSession,
  hidden: Tensor,
  row: number,
  model: ModelJson,
): Promise<number[]> {
  const [, seq, dim] = hidden.dims as [number, number, number];
  const size = seq * dim;
  const rowHidden = new Tensor('float32', (hidden.data as Float32Array).slice(row * size, (row + 1) * size), [
    1,
    seq,
    dim,
  ]);
  const ids = [model.tokens.bos];
  const pasts = model.decoder.inputs.map((i) => i.name).filter((n) => n.startsWith('past_key_values.'));
  let past: Record<string, Tensor> | undefined;
  while (ids.length < model.maxLength && ids.at(-1) !== model.tokens.eos) {
    let results: InferenceSession.ReturnType;
    if (past === undefined) {
      const inputIds = new Tensor('int64', BigInt64Array.from(ids.map((id) => BigInt(id))), [1, ids.length]);
      results = await decoder.run(plainFeeds(model, inputIds, rowHidden));
    } else {
      results = await decoder.run({
        input_ids: new Tensor('int64', BigInt64Array.from([BigInt(ids.at(-1)!)]), [1, 1]),
        encoder_hidden_states: rowHidden,
        use_cache_branch: new Tensor('bool', new Uint8Array([1]), [1]),
        ...past,
      });
    }
    const logits = output(results, 'logits');
    assert.deepEqual(logits.dims, [1, past === undefined ? ids.length : 1, model.vocabSize]);
    past = Object.fromEntries(pasts.map((n) => [n, output(results, n.replace('past_key_values.', 'present.'))]));
    const data = logits.data as Float32Array;
    const last = data.subarray(data.length - model.vocabSize);
    let best = 0;
    for (let v = 1; v < last.length; v++) if (last[v]! > last[best]!) best = v;
    ids.push(best);
  }
  return ids;
}

test(
  'a tiny model trained and exported by the trainer runs in onnxruntime-node like in JAX',
  { timeout: 900_000 },
  async () => {
    const python = await trainerPython();

    const dir = await mkdtemp(join(tmpdir(), 'captionflow-trainer-'));
    try {
      const data = join(dir, 'data');
      const checkpoint = join(dir, 'checkpoint');
      const exported = join(dir, 'onnx');
      const synth = await trainer(python, ['synth', '--out', data, '--count', '120', '--seed', '1']);
      const manifest = synth.at(-1)?.manifest;
      assert.equal(typeof manifest, 'string');

      const trained = await trainer(python, [
        'train',
        '--manifest',
        manifest as string,
        '--out',
        checkpoint,
        '--config',
        'tiny',
        '--epochs',
        '1',
      ]);
      const progress = trained.filter((e) => e.event === 'progress');
      assert.ok(progress.length > 0, 'training printed no progress events');
      for (const e of progress)
        for (const key of ['epoch', 'step', 'steps', 'loss'])
          assert.equal(typeof e[key], 'number', `progress.${key}`);

      const exportDone = (
        await trainer(python, ['export', '--checkpoint', checkpoint, '--out', exported])
      ).at(-1);
      assert.ok(exportDone !== undefined);

      const model = JSON.parse(await readFile(join(exported, 'model.json'), 'utf8')) as ModelJson;
      const parity = JSON.parse(await readFile(join(exported, 'parity.json'), 'utf8')) as Parity;
      const vocab = (
        JSON.parse(await readFile(join(exported, model.tokenizer), 'utf8')) as { vocab: string[] }
      ).vocab;
      assert.equal(vocab.length, model.vocabSize);
      assert.equal(model.preprocess.layout, 'NCHW');

      const encoder = await InferenceSession.create(join(exported, model.encoder.file));
      const decoder = await InferenceSession.create(join(exported, model.decoder.file));
      try {
        assert.deepEqual(encoder.inputNames, ['pixel_values']);
        assert.deepEqual(encoder.outputNames, ['encoder_hidden_states']);
        // optimum's merged decoder layout: a KV cache behind use_cache_branch.
        const pastNames = decoder.inputNames.filter((n) => n.startsWith('past_key_values.'));
        assert.deepEqual(decoder.inputNames, ['input_ids', 'encoder_hidden_states', 'use_cache_branch', ...pastNames]);
        assert.ok(pastNames.length > 0 && pastNames.length % 4 === 0);
        assert.deepEqual(decoder.outputNames, ['logits', ...pastNames.map((n) => n.replace('past_key_values.', 'present.'))]);

        // Encoder: same pixels in, the JAX features out.
        const pixelsSaved = parity.encoder.inputs.pixel_values;
        const pixels = new Tensor('float32', float32(pixelsSaved), pixelsSaved.dims);
        const hidden = output(await encoder.run({ pixel_values: pixels }), 'encoder_hidden_states');
        const hiddenShape = model.encoder.outputs[0]?.shape ?? [];
        assert.deepEqual(hidden.dims, [pixelsSaved.dims[0], hiddenShape[1], hiddenShape[2]]);
        const encoderError = maxAbsDiff(
          hidden.data as Float32Array,
          float32(parity.encoder.outputs.encoder_hidden_states),
        );
        assert.ok(encoderError <= TOLERANCE, `encoder differs from JAX by ${encoderError}`);

        // Decoder: same ids and features in, the JAX logits out.
        const idsSaved = parity.decoder.inputs.input_ids;
        const featuresSaved = parity.decoder.inputs.encoder_hidden_states;
        const logits = output(
          await decoder.run(
            plainFeeds(
              model,
              new Tensor('int64', int64(idsSaved), idsSaved.dims),
              new Tensor('float32', float32(featuresSaved), featuresSaved.dims),
            ),
          ),
          'logits',
        );
        assert.deepEqual(logits.dims, [idsSaved.dims[0], idsSaved.dims[1], model.vocabSize]);
        const decoderError = maxAbsDiff(logits.data as Float32Array, float32(parity.decoder.outputs.logits));
        assert.ok(decoderError <= TOLERANCE, `decoder logits differ from JAX by ${decoderError}`);

        // Greedy decoding yields tokenizer ids ending in <eos> or at maxLength, as JAX did.
        for (let row = 0; row < (pixelsSaved.dims[0] ?? 0); row++) {
          const ids = await greedy(decoder, hidden, row, model);
          assert.equal(ids[0], model.tokens.bos);
          assert.ok(ids.length <= model.maxLength);
          assert.ok(ids.at(-1) === model.tokens.eos || ids.length === model.maxLength);
          for (const id of ids)
            assert.ok(
              Number.isInteger(id) && id >= 0 && id < vocab.length,
              `token ${id} is not in the vocabulary`,
            );
          const words = ids
            .slice(1)
            .filter((id) => id !== model.tokens.eos)
            .map((id) => vocab[id]);
          assert.ok(words.every((w) => typeof w === 'string' && w !== ''));
          if (parity.greedy.minMargin > TIE_MARGIN) {
            const expected = (parity.greedy.tokens[row] ?? []).slice(0, ids.length);
            assert.deepEqual(ids, expected, `greedy path of row ${row} differs from JAX`);
          }
        }
      } finally {
        await encoder.release();
        await decoder.release();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
