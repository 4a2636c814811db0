/**
 * A captioner exported in Hugging Face's VisionEncoderDecoder layout (optimum's
 * `optimum-cli export onnx --task image-to-text`): `encoder_model.onnx` (`pixel_values` →
 * `last_hidden_state`), `decoder_model.onnx` (`input_ids` + `encoder_hidden_states` →
 * `logits`, no KV cache; or `decoder_model_merged.onnx`, run with its KV cache),
 * `generation_config.json` and/or `config.json`,
 * `preprocessor_config.json` and a tokenizer. The `onnx/` sub-folder of the transformers.js
 * layout is accepted too. Where transformers reads a value from several places, the same
 * order is used here: generation_config.json, then config.json, then config.json `decoder`.
 */
import { z } from 'zod';
import type { BundleFileSet, CaptionModelBundle, PreprocessSpec, ResizeKernel } from './bundle-types.ts';
import { modelInvalid } from './bundle-types.ts';
import { hfTokenizerJsonDecoder, hfVocabDecoder } from './hf-tokenizer.ts';
import type { TokenDecoder } from './bundle-types.ts';

const FORMAT = 'hf-vision-encoder-decoder';

/** Candidate paths of each HF file, the flat optimum layout first. */
export const HF_FILES = {
  encoder: ['encoder_model.onnx', 'onnx/encoder_model.onnx'],
  /** The merged decoder (a KV cache behind `use_cache_branch`) is preferred: each step then runs one token (captioner.ts). */
  decoder: ['decoder_model_merged.onnx', 'onnx/decoder_model_merged.onnx', 'decoder_model.onnx', 'onnx/decoder_model.onnx'],
  /** Decoders that always need a KV cache: recognised only to explain that they are not supported. */
  cachedDecoders: ['decoder_with_past_model.onnx', 'onnx/decoder_with_past_model.onnx'],
  config: ['config.json'],
  generation: ['generation_config.json'],
  preprocessor: ['preprocessor_config.json'],
  tokenizer: ['tokenizer.json'],
} as const;

/** HF's default `max_length` when neither config names one. */
const HF_DEFAULT_MAX_LENGTH = 20;

const Id = z.int().min(0).nullish();
const Ids = z.union([z.int().min(0), z.array(z.int().min(0)).min(1)]).nullish();

const GenerationSchema = z.looseObject({
  decoder_start_token_id: Id,
  bos_token_id: Id,
  eos_token_id: Ids,
  pad_token_id: Id,
  max_length: z.int().min(2).nullish(),
  max_new_tokens: z.int().min(1).nullish(),
  num_beams: z.int().min(1).nullish(),
});

const ConfigSchema = GenerationSchema.extend({
  _name_or_path: z.string().nullish(),
  model_type: z.string().nullish(),
  decoder: GenerationSchema.extend({
    max_position_embeddings: z.int().min(1).nullish(),
    n_positions: z.int().min(1).nullish(),
  }).nullish(),
});

const SizeSchema = z.union([
  z.int().min(1),
  z.object({ height: z.int().min(1), width: z.int().min(1) }),
  z.object({ shortest_edge: z.int().min(1) }),
]);
const PerChannel = z.union([z.number(), z.tuple([z.number(), z.number(), z.number()])]);

const PreprocessorSchema = z.looseObject({
  do_resize: z.boolean().nullish(),
  size: SizeSchema.nullish(),
  do_center_crop: z.boolean().nullish(),
  crop_size: z.union([z.int().min(1), z.object({ height: z.int().min(1), width: z.int().min(1) })]).nullish(),
  resample: z.int().min(0).max(5).nullish(),
  do_rescale: z.boolean().nullish(),
  rescale_factor: z.number().positive().nullish(),
  do_normalize: z.boolean().nullish(),
  image_mean: PerChannel.nullish(),
  image_std: PerChannel.nullish(),
});

const TokenizerConfigSchema = z.looseObject({
  clean_up_tokenization_spaces: z.boolean().nullish(),
  added_tokens_decoder: z
    .record(z.string(), z.looseObject({ content: z.string(), special: z.boolean().optional() }))
    .nullish(),
});

const SpecialTokensMapSchema = z.record(
  z.string(),
  z.union([
    z.string(),
    z.looseObject({ content: z.string() }),
    z.array(z.union([z.string(), z.looseObject({ content: z.string() })])),
  ]),
);

// PIL resampling codes → sharp kernels. BOX (4) and HAMMING (5) have no sharp kernel; linear is the nearest.
const RESAMPLE: Record<number, ResizeKernel> = {
  0: 'nearest',
  1: 'lanczos3',
  2: 'linear',
  3: 'cubic',
  4: 'linear',
  5: 'linear',
};

/** True when the files look like an HF VisionEncoderDecoder export. */
export function looksLikeHfBundle(files: BundleFileSet): boolean {
  return (
    files.find(...HF_FILES.encoder, ...HF_FILES.decoder, ...HF_FILES.cachedDecoders) !== undefined ||
    files.find(...HF_FILES.preprocessor) !== undefined
  );
}

/** Parse an HF VisionEncoderDecoder export. */
export function parseHfBundle(files: BundleFileSet): CaptionModelBundle {
  const encoder = files.require(FORMAT, ...HF_FILES.encoder);
  if (files.find(...HF_FILES.decoder) === undefined) {
    const cached = files.find(...HF_FILES.cachedDecoders);
    if (cached !== undefined) {
      throw modelInvalid(
        `${FORMAT} bundle has only ${cached.name} (a decoder that always needs a KV cache); export decoder_model.onnx or decoder_model_merged.onnx as well (optimum does by default)`,
        { format: FORMAT, missing: [...HF_FILES.decoder], files: files.names() },
      );
    }
  }
  const decoder = files.require(FORMAT, ...HF_FILES.decoder);
  // config.json is optional: exports that carry generation_config.json name every token there.
  const config = files.optionalJson(FORMAT, ConfigSchema, ...HF_FILES.config) ?? {};
  const generation = files.optionalJson(FORMAT, GenerationSchema, ...HF_FILES.generation) ?? {};
  const preprocessor = files.requiredJson(FORMAT, PreprocessorSchema, ...HF_FILES.preprocessor);
  const sub = config.decoder ?? {};

  const pick = <K extends keyof z.output<typeof GenerationSchema>>(
    key: K,
  ): z.output<typeof GenerationSchema>[K] => generation[key] ?? config[key] ?? sub[key];

  const decoderStart = pick('decoder_start_token_id') ?? sub.bos_token_id ?? pick('bos_token_id');
  if (decoderStart === null || decoderStart === undefined) {
    throw modelInvalid(
      `${FORMAT} bundle names no decoder_start_token_id (generation_config.json, config.json or config.json decoder.bos_token_id)`,
      {
        format: FORMAT,
        missing: ['decoder_start_token_id'],
      },
    );
  }
  const eosValue = pick('eos_token_id');
  if (eosValue === null || eosValue === undefined) {
    throw modelInvalid(
      `${FORMAT} bundle names no eos_token_id (generation_config.json, config.json or config.json decoder)`,
      {
        format: FORMAT,
        missing: ['eos_token_id'],
      },
    );
  }
  const stop = Array.isArray(eosValue) ? eosValue : [eosValue];
  const eos = stop[0] as number;
  // GPT-2 style decoders have no pad token; generate() pads with eos then.
  const pad = pick('pad_token_id') ?? eos;

  const maxPositions = sub.max_position_embeddings ?? sub.n_positions ?? Number.POSITIVE_INFINITY;
  const maxNew = generation.max_new_tokens ?? config.max_new_tokens;
  const maxLength =
    maxNew !== null && maxNew !== undefined ? maxNew + 1 : (pick('max_length') ?? HF_DEFAULT_MAX_LENGTH);
  if (maxLength > maxPositions) {
    throw modelInvalid(
      `${FORMAT} bundle: max_length ${maxLength} exceeds the decoder's ${maxPositions} positions`,
      {
        format: FORMAT,
        field: 'max_length',
      },
    );
  }

  return {
    format: FORMAT,
    modelId: config._name_or_path ?? undefined,
    encoder: encoder.bytes,
    decoder: decoder.bytes,
    io: {
      pixelValues: 'pixel_values',
      encoderOutput: 'last_hidden_state',
      inputIds: 'input_ids',
      encoderHiddenStates: 'encoder_hidden_states',
      logits: 'logits',
    },
    preprocess: preprocessSpec(preprocessor),
    tokens: { decoderStart, eos, stop, pad },
    maxLength,
    maxPositions,
    numBeams: pick('num_beams') ?? 1,
    tokenizer: tokenizerOf(files, [decoderStart, ...stop, pad]),
  };
}

function triple(value: z.output<typeof PerChannel>): [number, number, number] {
  return typeof value === 'number' ? [value, value, value] : [value[0], value[1], value[2]];
}

function preprocessSpec(p: z.output<typeof PreprocessorSchema>): PreprocessSpec {
  const file = HF_FILES.preprocessor[0];
  const invalid = (message: string, field: string): never => {
    throw modelInvalid(`${FORMAT} bundle file ${file}: ${message}`, { format: FORMAT, file, field });
  };
  let width: number;
  let height: number;
  let fit: PreprocessSpec['fit'] = 'fill';
  let shortestEdge: number | undefined;
  const crop = p.do_center_crop === true ? p.crop_size : undefined;
  if (crop !== null && crop !== undefined) {
    // A shortest_edge resize, then a centre crop.
    [width, height] = typeof crop === 'number' ? [crop, crop] : [crop.width, crop.height];
    fit = 'cover';
    if (typeof p.size === 'object' && p.size !== null && 'shortest_edge' in p.size)
      shortestEdge = p.size.shortest_edge;
  } else if (p.size === null || p.size === undefined) {
    return invalid('size is missing', 'size');
  } else if (typeof p.size === 'number') {
    [width, height] = [p.size, p.size];
  } else if ('height' in p.size) {
    [width, height] = [p.size.width, p.size.height];
  } else {
    return invalid(
      'size.shortest_edge without do_center_crop/crop_size gives no fixed input size; not supported',
      'size',
    );
  }
  if (p.do_resize === false)
    return invalid('do_resize false is not supported (the encoder needs a fixed size)', 'do_resize');
  const normalize = p.do_normalize ?? true;
  if (normalize && (p.image_mean === null || p.image_mean === undefined))
    return invalid('image_mean is missing', 'image_mean');
  if (normalize && (p.image_std === null || p.image_std === undefined))
    return invalid('image_std is missing', 'image_std');
  const std = normalize ? triple(p.image_std ?? 1) : ([1, 1, 1] as [number, number, number]);
  if (std.some((s) => s <= 0)) return invalid('image_std must be positive', 'image_std');
  return {
    width,
    height,
    mean: normalize ? triple(p.image_mean ?? 0) : [0, 0, 0],
    std,
    rescale: (p.do_rescale ?? true) ? (p.rescale_factor ?? 1 / 255) : 1,
    fit,
    ...(shortestEdge === undefined ? {} : { shortestEdge }),
    kernel: RESAMPLE[p.resample ?? 2] ?? 'linear',
  };
}

function tokenizerOf(files: BundleFileSet, configIds: readonly number[]): TokenDecoder {
  const tokenizerConfig = files.optionalJson(FORMAT, TokenizerConfigSchema, 'tokenizer_config.json');
  const cleanupSpaces = tokenizerConfig?.clean_up_tokenization_spaces === true;
  const tokenizerJson = files.find(...HF_FILES.tokenizer);
  if (tokenizerJson !== undefined) {
    return hfTokenizerJsonDecoder(
      files.json(FORMAT, tokenizerJson),
      { cleanupSpaces },
      FORMAT,
      tokenizerJson.name,
    );
  }
  // Older checkpoints: vocab files plus the special tokens named in the tokenizer configs.
  const specials: string[] = [];
  for (const [, token] of Object.entries(tokenizerConfig?.added_tokens_decoder ?? {})) {
    if (token.special === true) specials.push(token.content);
  }
  const map = files.optionalJson(FORMAT, SpecialTokensMapSchema, 'special_tokens_map.json') ?? {};
  for (const value of Object.values(map)) {
    for (const v of Array.isArray(value) ? value : [value])
      specials.push(typeof v === 'string' ? v : v.content);
  }
  const vocabJson = files.optionalJson(FORMAT, z.record(z.string(), z.int().min(0)), 'vocab.json');
  if (vocabJson !== undefined)
    return hfVocabDecoder({ json: vocabJson }, specials, configIds, { cleanupSpaces });
  const vocabTxt = files.find('vocab.txt');
  if (vocabTxt !== undefined) {
    const lines = new TextDecoder().decode(vocabTxt.bytes).split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    return hfVocabDecoder({ lines }, specials, configIds, { cleanupSpaces });
  }
  throw modelInvalid(`${FORMAT} bundle is missing tokenizer.json or vocab.json or vocab.txt`, {
    format: FORMAT,
    missing: ['tokenizer.json', 'vocab.json', 'vocab.txt'],
    files: files.names(),
  });
}
