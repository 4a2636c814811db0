/**
 * Our own export layout, written by `trainer/captionflow_trainer/export_onnx.py`:
 * `encoder.onnx`, `decoder.onnx`, `tokenizer.json` (word vocabulary) and `model.json`, whose
 * `format` is {@link CAPTIONFLOW_FORMAT}. model.json names the other files, the graphs'
 * input/output names, the preprocessing and the special ids, so nothing is assumed that the
 * exporter did not write down.
 */
import { z } from 'zod';
import type { BundleFileSet, CaptionModelBundle } from './bundle-types.ts';
import { modelInvalid } from './bundle-types.ts';
import { parseWordTokenizer, WordTokenDecoder } from './token-decoder.ts';

/** `model.json` `format` of our exports. */
export const CAPTIONFLOW_FORMAT = 'captionflow-onnx-encoder-decoder';
/** The model.json `formatVersion`s this runtime reads. */
export const CAPTIONFLOW_FORMAT_VERSIONS: readonly number[] = [1];
/** The descriptor's file name. */
export const CAPTIONFLOW_MODEL_FILE = 'model.json';

const ValueInfo = z.object({ name: z.string().min(1), dtype: z.string().optional() });
const Triple = z.tuple([z.number(), z.number(), z.number()]);

const ModelJsonSchema = z.object({
  format: z.literal(CAPTIONFLOW_FORMAT),
  formatVersion: z.int(),
  modelId: z.string().nullish(),
  encoder: z.object({
    file: z.string().min(1),
    inputs: z.array(ValueInfo).min(1),
    outputs: z.array(ValueInfo).min(1),
  }),
  decoder: z.object({
    file: z.string().min(1),
    /** input_ids and encoder_hidden_states; a cached decoder adds use_cache_branch and past_key_values.*. */
    inputs: z.array(ValueInfo).min(2),
    outputs: z.array(ValueInfo).min(1),
    /** True: optimum's merged layout (use_cache_branch, past_key_values.* in, present.* out), checked on the graph at load. */
    usesCache: z.boolean().optional(),
  }),
  preprocess: z.object({
    width: z.int().min(1),
    height: z.int().min(1),
    layout: z.literal('NCHW'),
    channels: z.literal('RGB'),
    resize: z.enum(['bilinear', 'bicubic', 'nearest', 'lanczos']).optional(),
    scale: z.number().positive(),
    mean: Triple,
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  }),
  decoderStartTokenId: z.int().min(0),
  eosTokenId: z.int().min(0),
  padTokenId: z.int().min(0),
  maxLength: z.int().min(2),
  vocabSize: z.int().min(1).optional(),
  tokenizer: z.string().min(1),
});

const KERNELS = { bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest', lanczos: 'lanczos3' } as const;

/** Parse our export layout (the caller has seen model.json with our `format`). */
export function parseCaptionflowBundle(files: BundleFileSet): CaptionModelBundle {
  const format = 'captionflow';
  const header = files.requiredJson(
    format,
    z.looseObject({ format: z.unknown(), formatVersion: z.unknown() }),
    CAPTIONFLOW_MODEL_FILE,
  );
  if (!CAPTIONFLOW_FORMAT_VERSIONS.includes(header.formatVersion as number)) {
    throw modelInvalid(
      `${CAPTIONFLOW_MODEL_FILE} formatVersion ${String(header.formatVersion)} is not supported (supported: ${CAPTIONFLOW_FORMAT_VERSIONS.join(', ')})`,
      { format, file: CAPTIONFLOW_MODEL_FILE, field: 'formatVersion' },
    );
  }
  const model = files.requiredJson(format, ModelJsonSchema, CAPTIONFLOW_MODEL_FILE);
  const inputNames = model.decoder.inputs.map((i) => i.name);
  if (model.decoder.usesCache === true && !inputNames.includes('use_cache_branch')) {
    throw modelInvalid(
      `${CAPTIONFLOW_MODEL_FILE} describes a decoder with a KV cache but no use_cache_branch input (the only cache layout this runtime runs is optimum's merged one)`,
      {
        format,
        file: CAPTIONFLOW_MODEL_FILE,
        field: 'decoder.usesCache',
      },
    );
  }
  const tokenizerFile = files.require(format, model.tokenizer);
  const tokenizerJson = parseWordTokenizer(files.json(format, tokenizerFile), tokenizerFile.name);
  const vocab = tokenizerJson.vocab.length;
  if (model.vocabSize !== undefined && model.vocabSize !== vocab) {
    throw modelInvalid(
      `${CAPTIONFLOW_MODEL_FILE} vocabSize ${model.vocabSize} disagrees with ${tokenizerFile.name} (${vocab} words)`,
      {
        format,
        field: 'vocabSize',
      },
    );
  }
  for (const field of ['decoderStartTokenId', 'eosTokenId', 'padTokenId'] as const) {
    if (model[field] >= vocab) {
      throw modelInvalid(
        `${CAPTIONFLOW_MODEL_FILE} ${field} ${model[field]} is outside the vocabulary (${vocab} words)`,
        {
          format,
          field,
        },
      );
    }
  }
  // The ids input is the integer one; the exporter lists it first, but the dtype says for sure.
  const [first, second] = model.decoder.inputs as [z.output<typeof ValueInfo>, z.output<typeof ValueInfo>];
  const [ids, hidden] =
    second.dtype?.startsWith('int') === true && first.dtype?.startsWith('int') !== true
      ? [second, first]
      : [first, second];
  const p = model.preprocess;
  return {
    format,
    modelId: model.modelId ?? undefined,
    encoder: files.require(format, model.encoder.file).bytes,
    decoder: files.require(format, model.decoder.file).bytes,
    io: {
      pixelValues: model.encoder.inputs[0]?.name ?? 'pixel_values',
      encoderOutput: model.encoder.outputs[0]?.name ?? 'encoder_hidden_states',
      inputIds: ids.name,
      encoderHiddenStates: hidden.name,
      logits: model.decoder.outputs[0]?.name ?? 'logits',
    },
    preprocess: {
      width: p.width,
      height: p.height,
      mean: p.mean,
      std: p.std,
      rescale: p.scale,
      fit: 'fill',
      kernel: KERNELS[p.resize ?? 'bilinear'],
    },
    tokens: {
      decoderStart: model.decoderStartTokenId,
      eos: model.eosTokenId,
      stop: [model.eosTokenId],
      pad: model.padTokenId,
    },
    maxLength: model.maxLength,
    // The decoder's position table and causal mask are exactly maxLength long.
    maxPositions: model.maxLength,
    numBeams: 1,
    tokenizer: new WordTokenDecoder(tokenizerJson),
  };
}
