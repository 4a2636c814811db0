/**
 * Caption model bundles: detect which layout a set of files is in and parse it into one
 * {@link CaptionModelBundle}. Pure: the caller reads the files (from disk, the object store, a
 * registry) and hands over their bytes by name.
 *
 * Detection, in order:
 * 1. `model.json` whose `format` is `captionflow-onnx-encoder-decoder` → our trainer's export.
 * 2. any of `encoder_model.onnx`, `decoder_model.onnx` (also under `onnx/`), a KV-cache decoder
 *    or `preprocessor_config.json` → Hugging Face VisionEncoderDecoder (optimum export).
 * 3. otherwise MODEL_INVALID naming what each layout needs and the files that were given.
 * A `model.json` of another format, without HF markers beside it, is MODEL_INVALID too.
 */
import { z } from 'zod';
import type { BundleFiles, BundleFormat, CaptionModelBundle } from './bundle-types.ts';
import { BundleFileSet, modelInvalid } from './bundle-types.ts';
import { CAPTIONFLOW_FORMAT, CAPTIONFLOW_MODEL_FILE, parseCaptionflowBundle } from './captionflow-bundle.ts';
import { looksLikeHfBundle, parseHfBundle } from './hf-bundle.ts';
import { DOMAIN_GATE_FILE, parseDomainGate } from './domain-gate.ts';

export type {
  BundleFiles,
  BundleFormat,
  BundleIo,
  BundleTokens,
  CaptionModelBundle,
  PreprocessSpec,
} from './bundle-types.ts';

/** Which layout `files` are in (MODEL_INVALID when neither). */
export function detectBundleFormat(files: BundleFiles | BundleFileSet): BundleFormat {
  const set = files instanceof BundleFileSet ? files : new BundleFileSet(files);
  const descriptor = set.find(CAPTIONFLOW_MODEL_FILE);
  let foreignDescriptor: unknown;
  if (descriptor !== undefined) {
    const header = set.json('captionflow', descriptor);
    const parsed = z.looseObject({ format: z.unknown() }).safeParse(header);
    const format = parsed.success ? parsed.data.format : undefined;
    if (format === CAPTIONFLOW_FORMAT) return 'captionflow';
    foreignDescriptor = format;
  }
  if (looksLikeHfBundle(set)) return 'hf-vision-encoder-decoder';
  if (descriptor !== undefined) {
    throw modelInvalid(
      `${CAPTIONFLOW_MODEL_FILE} has format ${JSON.stringify(foreignDescriptor ?? null)}, expected ${JSON.stringify(CAPTIONFLOW_FORMAT)}`,
      { file: CAPTIONFLOW_MODEL_FILE, field: 'format', files: set.names() },
    );
  }
  if (set.find('encoder.onnx', 'decoder.onnx') !== undefined) {
    throw modelInvalid(`captionflow bundle is missing ${CAPTIONFLOW_MODEL_FILE}`, {
      format: 'captionflow',
      missing: [CAPTIONFLOW_MODEL_FILE],
      files: set.names(),
    });
  }
  throw modelInvalid(
    'not a caption model bundle: expected model.json + encoder.onnx + decoder.onnx + tokenizer.json (captionflow) or ' +
      'encoder_model.onnx + decoder_model.onnx + config.json + preprocessor_config.json + tokenizer.json (Hugging Face)',
    { files: set.names() },
  );
}

/**
 * Detect and parse a bundle; every problem is a MODEL_INVALID {@link PipelineError} naming the
 * file or field. A `domain-gate.json` beside the graphs (either layout) becomes `domainGate`.
 */
export function parseModelBundle(files: BundleFiles): CaptionModelBundle {
  const set = new BundleFileSet(files);
  const bundle = detectBundleFormat(set) === 'captionflow' ? parseCaptionflowBundle(set) : parseHfBundle(set);
  const gate = set.find(DOMAIN_GATE_FILE);
  return gate === undefined ? bundle : { ...bundle, domainGate: parseDomainGate(gate.bytes) };
}
