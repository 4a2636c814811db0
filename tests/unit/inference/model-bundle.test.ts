/**
 * Bundle detection and validation on synthetic files: the ONNX entries are placeholder bytes,
 * since parsing a bundle never opens the graphs (the captioner does, and its tests use real ones).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import { detectBundleFormat, parseModelBundle } from '../../../processors/inference/model-bundle.ts';

const ONNX = new Uint8Array([8, 8, 18, 4]);
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const MODEL_JSON = {
  format: 'captionflow-onnx-encoder-decoder',
  formatVersion: 1,
  modelId: 'abc123',
  encoder: {
    file: 'encoder.onnx',
    inputs: [{ name: 'pixel_values', dtype: 'float32' }],
    outputs: [{ name: 'encoder_hidden_states' }],
  },
  decoder: {
    file: 'decoder.onnx',
    inputs: [
      { name: 'input_ids', dtype: 'int64' },
      { name: 'encoder_hidden_states', dtype: 'float32' },
    ],
    outputs: [{ name: 'logits' }],
    usesCache: false,
  },
  preprocess: {
    width: 64,
    height: 48,
    layout: 'NCHW',
    channels: 'RGB',
    resize: 'bilinear',
    scale: 1 / 255,
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
  },
  tokens: { pad: 0, bos: 1, eos: 2, unk: 3 },
  decoderStartTokenId: 1,
  eosTokenId: 2,
  padTokenId: 0,
  maxLength: 21,
  vocabSize: 6,
  tokenizer: 'tokenizer.json',
};
const WORD_TOKENIZER = {
  type: 'word',
  vocab: ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'cat'],
  pad: 0,
  bos: 1,
  eos: 2,
  unk: 3,
  maxLen: 21,
};

function ours(overrides: Record<string, unknown> = {}): Record<string, Uint8Array> {
  return {
    'encoder.onnx': ONNX,
    'decoder.onnx': ONNX,
    'model.json': json({ ...MODEL_JSON, ...overrides }),
    'tokenizer.json': json(WORD_TOKENIZER),
  };
}

const HF_TOKENIZER = {
  added_tokens: [{ id: 0, content: '<|endoftext|>', special: true }],
  decoder: { type: 'ByteLevel' },
  model: { type: 'BPE', vocab: { '<|endoftext|>': 0, a: 1, Ġcat: 2 }, merges: [] },
};

function hf(
  parts: { config?: unknown; generation?: unknown; preprocessor?: unknown; prefix?: string } = {},
): Record<string, Uint8Array> {
  const prefix = parts.prefix ?? '';
  const files: Record<string, Uint8Array> = {
    [`${prefix}encoder_model.onnx`]: ONNX,
    [`${prefix}decoder_model.onnx`]: ONNX,
    'config.json': json(
      parts.config ?? {
        model_type: 'vision-encoder-decoder',
        decoder_start_token_id: 0,
        eos_token_id: 0,
        pad_token_id: 0,
        decoder: { model_type: 'gpt2', n_positions: 64 },
      },
    ),
    'preprocessor_config.json': json(
      parts.preprocessor ?? {
        size: { height: 224, width: 192 },
        do_rescale: true,
        rescale_factor: 1 / 255,
        do_normalize: true,
        image_mean: [0.485, 0.456, 0.406],
        image_std: [0.229, 0.224, 0.225],
        resample: 3,
      },
    ),
    'tokenizer.json': json(HF_TOKENIZER),
  };
  if (parts.generation !== undefined) files['generation_config.json'] = json(parts.generation);
  return files;
}

function modelInvalid(pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${String(err)}`);
    assert.equal(err.code, 'MODEL_INVALID');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('bundle detection', () => {
  it('recognises our export by model.json format', () => {
    assert.equal(detectBundleFormat(ours()), 'captionflow');
  });

  it('recognises the HF layout, flat or under onnx/, and takes a Map as well as a record', () => {
    assert.equal(detectBundleFormat(hf()), 'hf-vision-encoder-decoder');
    assert.equal(detectBundleFormat(hf({ prefix: 'onnx/' })), 'hf-vision-encoder-decoder');
    assert.equal(detectBundleFormat(new Map(Object.entries(hf()))), 'hf-vision-encoder-decoder');
  });

  it('names both layouts when the files are neither', () => {
    assert.throws(
      () => detectBundleFormat({ 'weights.bin': ONNX }),
      modelInvalid(/model\.json.*encoder_model\.onnx/),
    );
  });

  it('refuses a model.json of another format, and our graphs without model.json', () => {
    assert.throws(
      () => detectBundleFormat(ours({ format: 'something-else' })),
      modelInvalid(/"something-else"/),
    );
    const { 'model.json': _drop, ...rest } = ours();
    assert.throws(() => detectBundleFormat(rest), modelInvalid(/missing model\.json/));
  });
});

describe('captionflow bundles', () => {
  it('accepts a decoder with a KV cache in the merged layout and refuses one in another layout', () => {
    const cachedDecoder = {
      ...MODEL_JSON.decoder,
      inputs: [
        ...MODEL_JSON.decoder.inputs,
        { name: 'use_cache_branch', dtype: 'bool' },
        { name: 'past_key_values.0.decoder.key', dtype: 'float32' },
      ],
      usesCache: true,
    };
    assert.equal(parseModelBundle(ours({ decoder: cachedDecoder })).format, 'captionflow');
    assert.throws(
      () => parseModelBundle(ours({ decoder: { ...cachedDecoder, inputs: MODEL_JSON.decoder.inputs } })),
      modelInvalid(/KV cache but no use_cache_branch input/),
    );
  });

  it('reads files, io names, preprocessing, tokens and the tokenizer from model.json', () => {
    const bundle = parseModelBundle(ours());
    assert.equal(bundle.format, 'captionflow');
    assert.equal(bundle.modelId, 'abc123');
    assert.deepEqual(bundle.io, {
      pixelValues: 'pixel_values',
      encoderOutput: 'encoder_hidden_states',
      inputIds: 'input_ids',
      encoderHiddenStates: 'encoder_hidden_states',
      logits: 'logits',
    });
    assert.deepEqual(bundle.preprocess, {
      width: 64,
      height: 48,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      rescale: 1 / 255,
      fit: 'fill',
      kernel: 'linear',
    });
    assert.deepEqual(bundle.tokens, { decoderStart: 1, eos: 2, stop: [2], pad: 0 });
    assert.equal(bundle.maxLength, 21);
    assert.equal(bundle.maxPositions, 21);
    assert.equal(bundle.numBeams, 1);
    assert.equal(bundle.tokenizer.decode([1, 4, 5, 2]), 'a cat');
  });

  it('names the missing decoder file', () => {
    const { 'decoder.onnx': _drop, ...files } = ours();
    assert.throws(
      () => parseModelBundle(files),
      (err: unknown) =>
        modelInvalid(/missing decoder\.onnx/)(err) && (err as PipelineError).context.missing !== undefined,
    );
  });

  it('names the invalid field of model.json', () => {
    assert.throws(
      () => parseModelBundle(ours({ preprocess: { ...MODEL_JSON.preprocess, layout: 'NHWC' } })),
      modelInvalid(/preprocess\.layout/),
    );
    assert.throws(() => parseModelBundle(ours({ maxLength: undefined })), modelInvalid(/maxLength/));
    assert.throws(() => parseModelBundle(ours({ formatVersion: 2 })), modelInvalid(/formatVersion 2/));
    assert.throws(() => parseModelBundle(ours({ vocabSize: 99 })), modelInvalid(/vocabSize 99/));
  });

  it('refuses a bundle whose tokenizer file is missing or not JSON', () => {
    const { 'tokenizer.json': _drop, ...files } = ours();
    assert.throws(() => parseModelBundle(files), modelInvalid(/missing tokenizer\.json/));
    assert.throws(
      () => parseModelBundle({ ...files, 'tokenizer.json': new TextEncoder().encode('{nope') }),
      modelInvalid(/not valid JSON/),
    );
  });
});

describe('HF VisionEncoderDecoder bundles', () => {
  it('reads preprocessing from preprocessor_config.json (height and width not swapped)', () => {
    const bundle = parseModelBundle(hf());
    assert.equal(bundle.format, 'hf-vision-encoder-decoder');
    assert.deepEqual(bundle.preprocess, {
      width: 192,
      height: 224,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      rescale: 1 / 255,
      fit: 'fill',
      kernel: 'cubic',
    });
    assert.deepEqual(bundle.io, {
      pixelValues: 'pixel_values',
      encoderOutput: 'last_hidden_state',
      inputIds: 'input_ids',
      encoderHiddenStates: 'encoder_hidden_states',
      logits: 'logits',
    });
    assert.equal(bundle.tokenizer.decode([0, 1, 2, 0]), 'a cat');
  });

  it('uses HF defaults: square int size, 1/255 rescale, max_length 20, greedy, pad = eos', () => {
    const bundle = parseModelBundle(
      hf({
        config: { decoder_start_token_id: 5, eos_token_id: 7 },
        preprocessor: { size: 32, image_mean: 0.5, image_std: 0.5 },
      }),
    );
    assert.deepEqual(
      [bundle.preprocess.width, bundle.preprocess.height, bundle.preprocess.rescale],
      [32, 32, 1 / 255],
    );
    assert.deepEqual(bundle.preprocess.mean, [0.5, 0.5, 0.5]);
    assert.deepEqual(bundle.tokens, { decoderStart: 5, eos: 7, stop: [7], pad: 7 });
    assert.equal(bundle.maxLength, 20);
    assert.equal(bundle.maxPositions, Number.POSITIVE_INFINITY);
    assert.equal(bundle.numBeams, 1);
  });

  it('prefers generation_config.json, then config.json, then config.json decoder', () => {
    const bundle = parseModelBundle(
      hf({
        config: {
          decoder_start_token_id: 9,
          decoder: { bos_token_id: 4, eos_token_id: 6, pad_token_id: 1, max_position_embeddings: 40 },
        },
        generation: { decoder_start_token_id: 3, eos_token_id: [2, 8], max_new_tokens: 15, num_beams: 4 },
      }),
    );
    assert.deepEqual(bundle.tokens, { decoderStart: 3, eos: 2, stop: [2, 8], pad: 1 });
    assert.equal(bundle.maxLength, 16);
    assert.equal(bundle.maxPositions, 40);
    assert.equal(bundle.numBeams, 4);
    const fromDecoder = parseModelBundle(hf({ config: { decoder: { bos_token_id: 4, eos_token_id: 6 } } }));
    assert.deepEqual(fromDecoder.tokens, { decoderStart: 4, eos: 6, stop: [6], pad: 6 });
  });

  it('reads the tokens from generation_config.json alone when there is no config.json', () => {
    const { 'config.json': _c, ...noConfig } = hf({ generation: { decoder_start_token_id: 3, eos_token_id: 2, max_length: 12 } });
    const bundle = parseModelBundle(noConfig);
    assert.deepEqual(bundle.tokens, { decoderStart: 3, eos: 2, stop: [2], pad: 2 });
    assert.equal(bundle.maxLength, 12);
    const { 'config.json': _c2, ...neither } = hf();
    assert.throws(() => parseModelBundle(neither), modelInvalid(/names no decoder_start_token_id/));
  });

  it('maps shortest_edge + center crop to a cover resize with the crop size', () => {
    const bundle = parseModelBundle(
      hf({
        preprocessor: {
          size: { shortest_edge: 256 },
          do_center_crop: true,
          crop_size: { height: 224, width: 224 },
          do_normalize: false,
        },
      }),
    );
    assert.deepEqual(bundle.preprocess, {
      width: 224,
      height: 224,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      rescale: 1 / 255,
      fit: 'cover',
      shortestEdge: 256,
      kernel: 'linear',
    });
  });

  it('names what is missing or unsupported', () => {
    const { 'decoder_model.onnx': _d, ...noDecoder } = hf();
    assert.throws(
      () => parseModelBundle(noDecoder),
      modelInvalid(/missing decoder_model_merged\.onnx or onnx\/decoder_model_merged\.onnx or decoder_model\.onnx or onnx\/decoder_model\.onnx/),
    );
    assert.throws(
      () => parseModelBundle({ ...noDecoder, 'decoder_with_past_model.onnx': ONNX }),
      modelInvalid(/decoder_with_past_model\.onnx \(a decoder that always needs a KV cache\)/),
    );
    const merged = new Uint8Array([9, 9]);
    assert.equal(parseModelBundle({ ...noDecoder, 'decoder_model_merged.onnx': merged }).decoder, merged, 'a merged decoder alone is used');
    assert.equal(parseModelBundle({ ...hf(), 'decoder_model_merged.onnx': merged }).decoder, merged, 'the merged decoder (KV cache) is preferred');
    const { 'preprocessor_config.json': _p, ...noPreprocessor } = hf();
    assert.throws(() => parseModelBundle(noPreprocessor), modelInvalid(/missing preprocessor_config\.json/));
    const { 'tokenizer.json': _t, ...noTokenizer } = hf();
    assert.throws(
      () => parseModelBundle(noTokenizer),
      modelInvalid(/missing tokenizer\.json or vocab\.json or vocab\.txt/),
    );
    assert.throws(
      () => parseModelBundle(hf({ config: { eos_token_id: 2 } })),
      modelInvalid(/decoder_start_token_id/),
    );
    assert.throws(
      () => parseModelBundle(hf({ config: { decoder_start_token_id: 2 } })),
      modelInvalid(/eos_token_id/),
    );
    assert.throws(
      () => parseModelBundle(hf({ preprocessor: { size: { height: 8, width: 8 } } })),
      modelInvalid(/image_mean is missing/),
    );
    assert.throws(
      () =>
        parseModelBundle(
          hf({ preprocessor: { size: { shortest_edge: 8 }, image_mean: 0.5, image_std: 0.5 } }),
        ),
      modelInvalid(/shortest_edge/),
    );
    assert.throws(
      () =>
        parseModelBundle(
          hf({
            config: {
              decoder_start_token_id: 0,
              eos_token_id: 0,
              max_length: 80,
              decoder: { n_positions: 64 },
            },
          }),
        ),
      modelInvalid(/max_length 80 exceeds/),
    );
  });

  it('falls back to vocab.json with special tokens from special_tokens_map.json', () => {
    const { 'tokenizer.json': _t, ...files } = hf();
    const bundle = parseModelBundle({
      ...files,
      'vocab.json': json({ '<|endoftext|>': 0, a: 1, Ġcat: 2, '<extra>': 3 }),
      'special_tokens_map.json': json({
        bos_token: '<|endoftext|>',
        additional_special_tokens: [{ content: '<extra>' }],
      }),
    });
    assert.equal(bundle.tokenizer.kind, 'hf-vocab-json');
    assert.equal(bundle.tokenizer.decode([0, 1, 3, 2]), 'a cat');
  });
});
