/**
 * Captioning with onnxruntime-node: one encoder session and one decoder session from a
 * {@link CaptionModelBundle}, greedy or beam decoding on top (`decoding.ts`).
 *
 * Sessions default to one intra-op thread: parallelism comes from the worker pool (one
 * captioner per worker thread), and ORT's own thread pool on top of that would oversubscribe
 * the cores.
 */
import * as ort from 'onnxruntime-node';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { CaptionModelBundle } from './bundle-types.ts';
import { modelInvalid } from './bundle-types.ts';
import {
  beamDecode,
  greedyDecode,
  type Hypothesis,
  meanLogProb,
  type NextLogits,
  type ScoreRules,
} from './decoding.ts';
import { type DomainScore, type EmbeddingRows, poolEmbeddings, scoreDomain } from './domain-gate.ts';
import { preprocessBatch, tensorSize } from './preprocess.ts';

/** Options of {@link OnnxCaptioner.create}. */
export interface CaptionerOptions {
  /** ORT intra-op threads per session; 1 by default (the worker pool provides parallelism). */
  readonly intraOpThreads?: number;
}

/** How to decode. Defaults: the bundle's `numBeams` (beam when > 1, else greedy) and `maxLength`. */
export interface DecodeOptions {
  readonly strategy?: 'greedy' | 'beam';
  /** Beam width for `beam`; default the bundle's `numBeams` when > 1, else 3. */
  readonly beamSize?: number;
  /** Total decoder length, start token included; at most the bundle's `maxPositions`. */
  readonly maxLength?: number;
  /** Hugging Face `no_repeat_ngram_size`: 0 (default) is off. */
  readonly noRepeatNgramSize?: number;
  /** Hugging Face `repetition_penalty`: 1 (default) is off, > 1 discourages repeated tokens. */
  readonly repetitionPenalty?: number;
}

/** One caption. */
export interface Caption {
  /** Decoded text, special tokens skipped, trimmed. */
  readonly text: string;
  /** Generated ids without the start and end tokens. */
  readonly tokens: number[];
  /** Mean log-prob of the generated tokens, the end token included (higher is better, <= 0). */
  readonly score: number;
  /** False when the caption hit maxLength without an end token. */
  readonly finished: boolean;
  /** How far the image is from the training data, when the bundle has a domain gate. */
  readonly domain?: DomainScore;
}

// Decoder inputs some exports add beside ids and encoder states; all-ones masks are correct for them.
const OPTIONAL_DECODER_INPUTS = ['encoder_attention_mask', 'attention_mask'] as const;

type IdsType = 'int64' | 'int32';

/** The switch input of optimum's merged decoders (decoder_model_merged.onnx): false selects the branch without a KV cache. */
const USE_CACHE_BRANCH = 'use_cache_branch';
const PAST_PREFIX = 'past_key_values.';

/** A merged decoder's cache inputs, fed empty (past length 0) with use_cache_branch false. */
interface MergedCache {
  readonly past: readonly { readonly name: string; readonly heads: number; readonly headDim: number }[];
}

/** The cache inputs of a merged decoder (null for a decoder without them), and what is wrong with them. */
function mergedCacheOf(decoder: ort.InferenceSession): { cache: MergedCache | null; problems: string[] } {
  if (!decoder.inputNames.includes(USE_CACHE_BRANCH)) return { cache: null, problems: [] };
  const past: { name: string; heads: number; headDim: number }[] = [];
  const problems: string[] = [];
  decoder.inputNames.forEach((name, i) => {
    if (!name.startsWith(PAST_PREFIX)) return;
    const meta = decoder.inputMetadata[i];
    const shape = meta?.isTensor === true ? meta.shape : [];
    const [, heads, , headDim] = shape;
    if (meta?.isTensor !== true || meta.type !== 'float32' || shape.length !== 4 || typeof heads !== 'number' || typeof headDim !== 'number') {
      problems.push(`merged decoder input ${name} is not float32 [batch, heads, past_sequence, head_dim] with fixed heads and head_dim`);
    } else {
      past.push({ name, heads, headDim });
    }
  });
  return { cache: { past }, problems };
}
type MaskType = IdsType | 'float32' | 'bool';

/** A loaded caption model. Create with {@link OnnxCaptioner.create}; `close()` releases native memory. */
export class OnnxCaptioner {
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(
    readonly bundle: CaptionModelBundle,
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    private readonly idsType: IdsType,
    private readonly cache: MergedCache | null = null,
  ) {}

  /**
   * Load both graphs and check their input/output names (and types, where ORT reports them)
   * against the bundle: MODEL_INVALID with the names found, MODEL_LOAD_FAILED when ORT cannot
   * load the bytes at all.
   */
  static async create(bundle: CaptionModelBundle, options: CaptionerOptions = {}): Promise<OnnxCaptioner> {
    const threads = options.intraOpThreads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `intraOpThreads must be an integer >= 1, got ${String(threads)}`,
      );
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    };
    const encoder = await load('encoder', bundle.encoder, sessionOptions);
    let decoder: ort.InferenceSession | undefined;
    try {
      decoder = await load('decoder', bundle.decoder, sessionOptions);
      const { idsType, cache } = validateSessions(bundle, encoder, decoder);
      return new OnnxCaptioner(bundle, encoder, decoder, idsType, cache);
    } catch (err) {
      await Promise.allSettled([encoder.release(), decoder?.release()]);
      throw err;
    }
  }

  /**
   * Caption images (encoded bytes, or an already preprocessed float32 `[n, 3, H, W]` batch).
   * Greedy decodes the whole batch together; beam search runs image by image.
   */
  async caption(
    images: readonly Uint8Array[] | Float32Array,
    options: DecodeOptions = {},
  ): Promise<Caption[]> {
    if (this.closed)
      throw new PipelineError(ErrorCodes.INFERENCE_FAILED, 'captioner is closed', { retriable: true });
    const run = this.run(images, options);
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
    }
  }

  /** Captions in flight (the worker waits for zero before closing an old model version). */
  get busy(): number {
    return this.inflight.size;
  }

  /** Release both sessions once in-flight captions are done. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // ORT must not release a session that a run is still using.
    await Promise.allSettled([...this.inflight]);
    await Promise.allSettled([this.encoder.release(), this.decoder.release()]);
  }

  /**
   * The image embeddings the domain gate works in: the encoder output mean-pooled over its
   * positions, `[n, D]`. Runs the encoder only (fitting a gate, scoring without a caption).
   */
  async embed(images: readonly Uint8Array[] | Float32Array): Promise<EmbeddingRows> {
    if (this.closed)
      throw new PipelineError(ErrorCodes.INFERENCE_FAILED, 'captioner is closed', { retriable: true });
    const run = (async () => {
      const { pixels, count } = await this.pixels(images);
      if (count === 0) return { data: new Float32Array(0), count: 0, dim: 0 };
      return pooled(await this.encode(pixels, count));
    })();
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
    }
  }

  private async pixels(images: readonly Uint8Array[] | Float32Array): Promise<{ pixels: Float32Array; count: number }> {
    const { preprocess: spec } = this.bundle;
    const perImage = tensorSize(spec);
    let pixels: Float32Array;
    if (images instanceof Float32Array) {
      if (images.length % perImage !== 0) {
        throw new PipelineError(
          ErrorCodes.INFERENCE_FAILED,
          `pixel batch has ${images.length} floats, not a multiple of 3x${spec.height}x${spec.width}`,
        );
      }
      pixels = images;
    } else {
      pixels = await preprocessBatch(images, spec);
    }
    return { pixels, count: pixels.length / perImage };
  }

  private async run(
    images: readonly Uint8Array[] | Float32Array,
    options: DecodeOptions,
  ): Promise<Caption[]> {
    const { strategy, beamSize, maxLength, rules } = this.resolve(options);
    const { pixels, count } = await this.pixels(images);
    if (count === 0) return [];

    const hidden = await this.encode(pixels, count);
    // The gate reuses the encoder output the caption needs anyway: one pooled D-vector and a D x D product per image.
    const gate = this.bundle.domainGate;
    const domain = gate === undefined ? undefined : scoreDomain(gate, pooled(hidden));
    const next = this.nextLogits(hidden);
    const params = {
      start: this.bundle.tokens.decoderStart,
      stop: new Set(this.bundle.tokens.stop),
      pad: this.bundle.tokens.pad,
      maxLength,
      rules,
    };
    let hypotheses: Hypothesis[];
    if (strategy === 'greedy') hypotheses = await greedyDecode(next, count, params);
    else {
      hypotheses = [];
      for (let i = 0; i < count; i++) hypotheses.push(await beamDecode(next, i, { ...params, beamSize }));
    }
    return hypotheses.map((h, i) => ({
      text: this.bundle.tokenizer.decode(h.tokens).trim(),
      tokens: h.tokens,
      score: meanLogProb(h),
      finished: h.finished,
      ...(domain?.[i] === undefined ? {} : { domain: domain[i] }),
    }));
  }

  private resolve(options: DecodeOptions): {
    strategy: 'greedy' | 'beam';
    beamSize: number;
    maxLength: number;
    rules: ScoreRules;
  } {
    const { numBeams, maxPositions } = this.bundle;
    const strategy = options.strategy ?? (numBeams > 1 ? 'beam' : 'greedy');
    const beamSize = options.beamSize ?? (numBeams > 1 ? numBeams : 3);
    const maxLength = options.maxLength ?? this.bundle.maxLength;
    if (strategy !== 'greedy' && strategy !== 'beam') {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `strategy must be greedy or beam, got ${String(strategy)}`,
      );
    }
    if (!Number.isInteger(beamSize) || beamSize < 1 || beamSize > 64) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `beamSize must be an integer in 1..64, got ${String(beamSize)}`,
      );
    }
    if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > maxPositions) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `maxLength must be an integer in 2..${maxPositions} (the model's positions), got ${String(maxLength)}`,
      );
    }
    const repetitionPenalty = options.repetitionPenalty ?? 1;
    const noRepeatNgramSize = options.noRepeatNgramSize ?? 0;
    if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `repetitionPenalty must be a number > 0, got ${String(repetitionPenalty)}`,
      );
    }
    if (!Number.isInteger(noRepeatNgramSize) || noRepeatNgramSize < 0 || noRepeatNgramSize > maxPositions) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `noRepeatNgramSize must be an integer in 0..${maxPositions}, got ${String(noRepeatNgramSize)}`,
      );
    }
    return { strategy, beamSize, maxLength, rules: { repetitionPenalty, noRepeatNgramSize } };
  }

  private async encode(pixels: Float32Array, count: number): Promise<ort.Tensor> {
    const { io, preprocess: spec } = this.bundle;
    const input = new ort.Tensor('float32', pixels, [count, 3, spec.height, spec.width]);
    const out = await runSession(this.encoder, 'encoder', { [io.pixelValues]: input }, io.encoderOutput);
    if (out.type !== 'float32' || out.dims.length !== 3 || out.dims[0] !== count) {
      throw new PipelineError(
        ErrorCodes.INFERENCE_FAILED,
        `encoder output ${io.encoderOutput} is ${out.type} [${out.dims.join(', ')}], expected float32 [${count}, S, D]`,
      );
    }
    return out;
  }

  /** The element type ORT reports for a mask input (int64 when it reports none). */
  private maskType(name: string): MaskType {
    const meta = this.decoder.inputMetadata[this.decoder.inputNames.indexOf(name)];
    const type = meta?.isTensor === true ? meta.type : 'int64';
    return type === 'int32' || type === 'float32' || type === 'bool' ? type : 'int64';
  }

  /** The decoding loop's view of the decoder: prefixes in, last-position logits out. */
  private nextLogits(hidden: ort.Tensor): NextLogits {
    const { io } = this.bundle;
    const [, seq, dim] = hidden.dims as [number, number, number];
    const rowSize = seq * dim;
    const hiddenData = hidden.data as Float32Array;
    const identity = (images: readonly number[]): boolean =>
      images.length === hidden.dims[0] && images.every((img, i) => img === i);
    let gathered: { key: string; tensor: ort.Tensor } | undefined;

    return async (prefixes, images) => {
      const rows = prefixes.length;
      const length = (prefixes[0] as readonly number[]).length;
      let states = hidden;
      if (!identity(images)) {
        // Beam search repeats one image's states per beam; the repeat is reused while the beam count holds.
        const key = images.join(',');
        if (gathered?.key !== key) {
          const data = new Float32Array(rows * rowSize);
          images.forEach((img, r) =>
            data.set(hiddenData.subarray(img * rowSize, (img + 1) * rowSize), r * rowSize),
          );
          gathered = { key, tensor: new ort.Tensor('float32', data, [rows, seq, dim]) };
        }
        states = gathered.tensor;
      }
      const feeds: Record<string, ort.Tensor> = {
        [io.inputIds]: idsTensor(this.idsType, prefixes, length),
        [io.encoderHiddenStates]: states,
      };
      const names = this.decoder.inputNames;
      if (names.includes('encoder_attention_mask'))
        feeds.encoder_attention_mask = onesTensor(this.maskType('encoder_attention_mask'), rows, seq);
      if (names.includes('attention_mask'))
        feeds.attention_mask = onesTensor(this.maskType('attention_mask'), rows, length);
      if (this.cache !== null) {
        // A merged decoder runs its no-cache branch: the whole prefix each step, empty past.
        feeds[USE_CACHE_BRANCH] = new ort.Tensor('bool', new Uint8Array([0]), [1]);
        for (const p of this.cache.past) feeds[p.name] = new ort.Tensor('float32', new Float32Array(0), [rows, p.heads, 0, p.headDim]);
      }
      const logits = await runSession(this.decoder, 'decoder', feeds, io.logits);
      const [lRows, lLength, vocab] = logits.dims as [number, number, number];
      if (logits.type !== 'float32' || logits.dims.length !== 3 || lRows !== rows || lLength !== length) {
        throw new PipelineError(
          ErrorCodes.INFERENCE_FAILED,
          `decoder output ${io.logits} is ${logits.type} [${logits.dims.join(', ')}], expected float32 [${rows}, ${length}, vocab]`,
        );
      }
      const data = logits.data as Float32Array;
      return prefixes.map((_, r) =>
        data.subarray((r * length + length - 1) * vocab, (r * length + length) * vocab),
      );
    };
  }
}

/** Mean-pool an encoder output tensor `[n, S, D]` into `[n, D]`. */
function pooled(hidden: ort.Tensor): EmbeddingRows {
  const [count, positions, dim] = hidden.dims as [number, number, number];
  return poolEmbeddings(hidden.data as Float32Array, count, positions, dim);
}

async function load(
  which: 'encoder' | 'decoder',
  bytes: Uint8Array,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  try {
    // ORT copies the model into native memory; a view over a SharedArrayBuffer is copied first since the binding wants a plain buffer.
    const plain = bytes.buffer instanceof ArrayBuffer ? bytes : Uint8Array.from(bytes);
    return await ort.InferenceSession.create(plain, options);
  } catch (err) {
    throw new PipelineError(
      ErrorCodes.MODEL_LOAD_FAILED,
      `onnxruntime cannot load the ${which}: ${(err as Error).message}`,
      {
        cause: err,
        context: { graph: which, bytes: bytes.byteLength },
      },
    );
  }
}

function validateSessions(
  bundle: CaptionModelBundle,
  encoder: ort.InferenceSession,
  decoder: ort.InferenceSession,
): { idsType: IdsType; cache: MergedCache | null } {
  const { io, format } = bundle;
  const found = {
    encoderInputs: [...encoder.inputNames],
    encoderOutputs: [...encoder.outputNames],
    decoderInputs: [...decoder.inputNames],
    decoderOutputs: [...decoder.outputNames],
  };
  const problems: string[] = [];
  if (!encoder.inputNames.includes(io.pixelValues)) problems.push(`encoder has no input ${io.pixelValues}`);
  const extraEncoder = encoder.inputNames.filter((n) => n !== io.pixelValues);
  if (extraEncoder.length > 0)
    problems.push(`encoder has inputs this runtime cannot feed: ${extraEncoder.join(', ')}`);
  if (!encoder.outputNames.includes(io.encoderOutput))
    problems.push(`encoder has no output ${io.encoderOutput}`);
  for (const name of [io.inputIds, io.encoderHiddenStates]) {
    if (!decoder.inputNames.includes(name)) problems.push(`decoder has no input ${name}`);
  }
  const known = new Set<string>([io.inputIds, io.encoderHiddenStates, ...OPTIONAL_DECODER_INPUTS]);
  const merged = mergedCacheOf(decoder);
  problems.push(...merged.problems);
  const extraDecoder = decoder.inputNames.filter((n) => !known.has(n) && !(merged.cache !== null && (n === USE_CACHE_BRANCH || n.startsWith(PAST_PREFIX))));
  if (extraDecoder.length > 0)
    problems.push(
      `decoder has inputs this runtime cannot feed (a KV-cache decoder?): ${extraDecoder.join(', ')}`,
    );
  if (!decoder.outputNames.includes(io.logits)) problems.push(`decoder has no output ${io.logits}`);

  const typeOf = (session: ort.InferenceSession, name: string): string | undefined => {
    const meta = session.inputMetadata[session.inputNames.indexOf(name)];
    return meta?.isTensor === true ? meta.type : undefined;
  };
  const pixelType = typeOf(encoder, io.pixelValues);
  if (pixelType !== undefined && pixelType !== 'float32')
    problems.push(`encoder input ${io.pixelValues} is ${pixelType}, expected float32`);
  const statesType = typeOf(decoder, io.encoderHiddenStates);
  if (statesType !== undefined && statesType !== 'float32')
    problems.push(`decoder input ${io.encoderHiddenStates} is ${statesType}, expected float32`);
  const idsType = typeOf(decoder, io.inputIds);
  if (idsType !== undefined && idsType !== 'int64' && idsType !== 'int32')
    problems.push(`decoder input ${io.inputIds} is ${idsType}, expected int64 or int32`);

  if (problems.length > 0) {
    throw modelInvalid(`${format} model graphs do not match the bundle: ${problems.join('; ')}`, {
      format,
      expected: io,
      found,
      problems,
    });
  }
  return { idsType: idsType === 'int32' ? 'int32' : 'int64', cache: merged.cache };
}

function idsTensor(type: IdsType, prefixes: readonly (readonly number[])[], length: number): ort.Tensor {
  const rows = prefixes.length;
  if (type === 'int32') {
    const data = new Int32Array(rows * length);
    prefixes.forEach((p, r) => data.set(p, r * length));
    return new ort.Tensor('int32', data, [rows, length]);
  }
  const data = new BigInt64Array(rows * length);
  prefixes.forEach((p, r) => p.forEach((id, t) => (data[r * length + t] = BigInt(id))));
  return new ort.Tensor('int64', data, [rows, length]);
}

function onesTensor(type: MaskType, rows: number, cols: number): ort.Tensor {
  const n = rows * cols;
  switch (type) {
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(n).fill(1), [rows, cols]);
    case 'float32':
      return new ort.Tensor('float32', new Float32Array(n).fill(1), [rows, cols]);
    case 'bool':
      return new ort.Tensor('bool', new Uint8Array(n).fill(1), [rows, cols]);
    default:
      return new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [rows, cols]);
  }
}

async function runSession(
  session: ort.InferenceSession,
  which: string,
  feeds: Record<string, ort.Tensor>,
  output: string,
): Promise<ort.Tensor> {
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await session.run(feeds, [output]);
  } catch (err) {
    throw new PipelineError(ErrorCodes.INFERENCE_FAILED, `${which} run failed: ${(err as Error).message}`, {
      cause: err,
      context: { graph: which },
    });
  }
  const value = result[output];
  if (!(value instanceof ort.Tensor)) {
    throw new PipelineError(ErrorCodes.INFERENCE_FAILED, `${which} returned no tensor ${output}`, {
      context: { graph: which },
    });
  }
  return value;
}
