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
  beamDecodeBatch,
  greedyDecode,
  type Hypothesis,
  meanLogProb,
  type NextLogits,
  type ScoreRules,
} from './decoding.ts';
import { type DomainScore, type EmbeddingRows, poolEmbeddings, scoreDomain } from './domain-gate.ts';
import { createLogSoftmax, type LogSoftmaxSession } from './log-softmax.ts';
import { preprocessBatch, tensorSize } from './preprocess.ts';

/** Options of {@link OnnxCaptioner.create}. */
export interface CaptionerOptions {
  /** ORT intra-op threads per session; 1 by default (the worker pool provides parallelism). */
  readonly intraOpThreads?: number;
  /**
   * Decode on the decoder's KV cache when it has one (optimum's merged layout with present.*
   * outputs): true by default. False re-runs the whole prefix every step (tests, comparisons).
   */
  readonly kvCache?: boolean;
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

/**
 * The switch input of optimum's merged decoders (decoder_model_merged.onnx, and our own export):
 * false runs the prefix without a cache, true one new token on the `past_key_values.*` of the
 * step before (fed from that step's `present.*`).
 */
const USE_CACHE_BRANCH = 'use_cache_branch';
const PAST_PREFIX = 'past_key_values.';
const PRESENT_PREFIX = 'present.';

/** One cache input of a merged decoder. */
interface PastInput {
  readonly name: string;
  /** The output that feeds it on the next step. */
  readonly present: string;
  readonly heads: number;
  readonly headDim: number;
  /** Cross-attention keys/values (`.encoder.`): computed once from the encoder output, constant after. */
  readonly cross: boolean;
}

/** A merged decoder's cache inputs; `usable` when every one has its `present.*` output, so steps can run on the cache. */
interface MergedCache {
  readonly past: readonly PastInput[];
  readonly usable: boolean;
}

/** The cache inputs of a merged decoder (null for a decoder without them), and what is wrong with them. */
function mergedCacheOf(decoder: ort.InferenceSession): { cache: MergedCache | null; problems: string[] } {
  if (!decoder.inputNames.includes(USE_CACHE_BRANCH)) return { cache: null, problems: [] };
  const past: PastInput[] = [];
  const problems: string[] = [];
  decoder.inputNames.forEach((name, i) => {
    if (!name.startsWith(PAST_PREFIX)) return;
    const meta = decoder.inputMetadata[i];
    const shape = meta?.isTensor === true ? meta.shape : [];
    const [, heads, , headDim] = shape;
    if (meta?.isTensor !== true || meta.type !== 'float32' || shape.length !== 4 || typeof heads !== 'number' || typeof headDim !== 'number') {
      problems.push(`merged decoder input ${name} is not float32 [batch, heads, past_sequence, head_dim] with fixed heads and head_dim`);
    } else {
      const present = PRESENT_PREFIX + name.slice(PAST_PREFIX.length);
      past.push({ name, present, heads, headDim, cross: name.includes('.encoder.') });
    }
  });
  // A merged decoder without present.* outputs (or without any past) can only run its no-cache branch.
  const usable = past.length > 0 && past.every((p) => decoder.outputNames.includes(p.present));
  return { cache: { past, usable }, problems };
}

/** The key of a prefix of one image, to find the row it continues on the next step. */
function prefixKey(image: number, prefix: readonly number[], length: number): string {
  let key = `${image}:`;
  for (let t = 0; t < length; t++) key += `${prefix[t] as number},`;
  return key;
}

/** Rows `rows` of a `[n, ...]` float tensor, as a new tensor (the same tensor when `rows` is 0..n-1). */
export function gatherRows(tensor: ort.Tensor, rows: readonly number[]): ort.Tensor {
  const dims = tensor.dims;
  const n = dims[0] as number;
  if (rows.length === n && rows.every((r, i) => r === i)) return tensor;
  const size = (tensor.data as Float32Array).length / Math.max(1, n);
  const src = tensor.data as Float32Array;
  const out = new Float32Array(rows.length * size);
  rows.forEach((r, i) => out.set(src.subarray(r * size, (r + 1) * size), i * size));
  return new ort.Tensor('float32', out, [rows.length, ...dims.slice(1)]);
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
    private readonly cache: MergedCache | null,
    /** The decoding loops' scores: ORT's vectorized log-softmax instead of a Math.exp per word. */
    private readonly normalizer: LogSoftmaxSession,
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
      // ORT's intra-op threads spin while they wait for work by default: with more than one they
      // burn CPU that the other workers, the main thread and libvips need (on the serving bench
      // model, 2 threads at batch 32: 24 CPU ms per image spinning, 17.5 not, for the same time).
      ...(threads > 1 ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    const encoder = await load('encoder', bundle.encoder, sessionOptions);
    let decoder: ort.InferenceSession | undefined;
    try {
      decoder = await load('decoder', bundle.decoder, sessionOptions);
      const { idsType, cache } = validateSessions(bundle, encoder, decoder);
      const useCache = options.kvCache ?? true;
      const normalizer = await createLogSoftmax(sessionOptions);
      return new OnnxCaptioner(
        bundle,
        encoder,
        decoder,
        idsType,
        cache === null || useCache ? cache : { ...cache, usable: false },
        normalizer,
      );
    } catch (err) {
      await Promise.allSettled([encoder.release(), decoder?.release()]);
      throw err;
    }
  }

  /**
   * Caption images (encoded bytes, or an already preprocessed float32 `[n, 3, H, W]` batch).
   * Greedy and beam search decode the whole batch together (beam: every image's beams in one
   * decoder run per step), on the decoder's KV cache when it has one.
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

  /** True when decoding steps run on the decoder's KV cache (one new token per step). */
  get cached(): boolean {
    return this.cache?.usable === true;
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
    await Promise.allSettled([this.encoder.release(), this.decoder.release(), this.normalizer.close()]);
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
      logSoftmax: this.normalizer.run,
    };
    let hypotheses: Hypothesis[];
    if (strategy === 'greedy') hypotheses = await greedyDecode(next, count, params);
    else {
      const images = Array.from({ length: count }, (_, i) => i);
      hypotheses = await beamDecodeBatch(next, images, { ...params, beamSize });
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

  /**
   * The decoding loop's view of the decoder: prefixes in, last-position logits out.
   *
   * With a usable merged cache, the first step runs the prefixes without a cache and keeps the
   * presents; each later step whose prefixes all extend a prefix of the step before (same image,
   * one more token) feeds only the new tokens, the self-attention presents of each row's parent
   * row (a beam reorder is a row gather) and the cross-attention keys/values of the row's image,
   * computed once on the first step. Anything else (no cache, a prefix with no parent) re-runs the
   * whole prefix, which is always correct.
   */
  private nextLogits(hidden: ort.Tensor): NextLogits {
    const { io } = this.bundle;
    const [, seq, dim] = hidden.dims as [number, number, number];
    const rowSize = seq * dim;
    const hiddenData = hidden.data as Float32Array;
    const identity = (images: readonly number[]): boolean =>
      images.length === hidden.dims[0] && images.every((img, i) => img === i);
    let gathered: { key: string; tensor: ort.Tensor } | undefined;
    const cache = this.cache?.usable === true ? this.cache : null;
    /**
     * The step before: its prefixes (callers only append to them, so their first `length` tokens
     * stay as they were), images, length and self-attention presents.
     */
    let previous:
      | {
          prefixes: readonly (readonly number[])[];
          images: readonly number[];
          length: number;
          presents: Map<string, ort.Tensor>;
        }
      | undefined;
    /** Cross-attention keys/values by image: the presents of the first step and the row of each image there. */
    const crossSource = new Map<number, { presents: Map<string, ort.Tensor>; row: number }>();
    let crossGathered: { key: string; tensors: Map<string, ort.Tensor> } | undefined;
    const useCache = new ort.Tensor('bool', new Uint8Array([1]), [1]);
    const noCache = new ort.Tensor('bool', new Uint8Array([0]), [1]);

    const statesFor = (images: readonly number[]): ort.Tensor => {
      if (identity(images)) return hidden;
      // Beam search repeats one image's states per beam; the repeat is reused while the beam count holds.
      const key = images.join(',');
      if (gathered?.key !== key) {
        const data = new Float32Array(images.length * rowSize);
        images.forEach((img, r) => data.set(hiddenData.subarray(img * rowSize, (img + 1) * rowSize), r * rowSize));
        gathered = { key, tensor: new ort.Tensor('float32', data, [images.length, seq, dim]) };
      }
      return gathered.tensor;
    };

    const crossFor = (images: readonly number[]): Map<string, ort.Tensor> => {
      const key = images.join(',');
      if (crossGathered?.key === key) return crossGathered.tensors;
      const tensors = new Map<string, ort.Tensor>();
      for (const p of (cache as MergedCache).past) {
        if (!p.cross) continue;
        const first = crossSource.get(images[0] as number) as { presents: Map<string, ort.Tensor>; row: number };
        const sample = first.presents.get(p.present) as ort.Tensor;
        const size = (sample.data as Float32Array).length / (sample.dims[0] as number);
        const out = new Float32Array(images.length * size);
        images.forEach((img, r) => {
          const src = crossSource.get(img) as { presents: Map<string, ort.Tensor>; row: number };
          const data = (src.presents.get(p.present) as ort.Tensor).data as Float32Array;
          out.set(data.subarray(src.row * size, (src.row + 1) * size), r * size);
        });
        tensors.set(p.name, new ort.Tensor('float32', out, [images.length, ...sample.dims.slice(1)]));
      }
      crossGathered = { key, tensors };
      return tensors;
    };

    /** Each row's parent on the step before: the given ones when they fit, else found by prefix; undefined when some row has none. */
    const parentsOf = (
      prefixes: readonly (readonly number[])[],
      images: readonly number[],
      length: number,
      given: readonly number[] | undefined,
    ): readonly number[] | undefined => {
      const prev = previous;
      if (cache === null || prev === undefined || prev.length !== length - 1) return undefined;
      if (!images.every((image) => crossSource.has(image))) return undefined;
      const count = prev.prefixes.length;
      if (
        given !== undefined &&
        given.length === prefixes.length &&
        given.every(
          (p, r) =>
            Number.isInteger(p) &&
            p >= 0 &&
            p < count &&
            prev.images[p] === images[r] &&
            (prev.prefixes[p] as readonly number[])[length - 2] === (prefixes[r] as readonly number[])[length - 2],
        )
      )
        return given;
      // No parents given (or not these): match prefixes, which is always right, at a string per row.
      const rowsOf = new Map<string, number>();
      prev.prefixes.forEach((p, r) => rowsOf.set(prefixKey(prev.images[r] as number, p, prev.length), r));
      const found: number[] = [];
      for (let r = 0; r < prefixes.length; r++) {
        const parent = rowsOf.get(prefixKey(images[r] as number, prefixes[r] as readonly number[], length - 1));
        if (parent === undefined) return undefined;
        found.push(parent);
      }
      return found;
    };

    return async (prefixes, images, given) => {
      const rows = prefixes.length;
      const length = (prefixes[0] as readonly number[]).length;
      // A cached step needs every row's parent on the step before and its image's cross keys/values.
      const parents = parentsOf(prefixes, images, length, given);
      const cached = parents !== undefined;
      const feeds: Record<string, ort.Tensor> = {
        [io.inputIds]: cached
          ? idsTensor(this.idsType, prefixes.map((p) => [p[length - 1] as number]), 1)
          : idsTensor(this.idsType, prefixes, length),
        [io.encoderHiddenStates]: statesFor(images),
      };
      const names = this.decoder.inputNames;
      if (names.includes('encoder_attention_mask'))
        feeds.encoder_attention_mask = onesTensor(this.maskType('encoder_attention_mask'), rows, seq);
      if (names.includes('attention_mask'))
        feeds.attention_mask = onesTensor(this.maskType('attention_mask'), rows, length);
      const fetch = [io.logits];
      if (this.cache !== null) {
        feeds[USE_CACHE_BRANCH] = cached ? useCache : noCache;
        if (cached) {
          const prev = previous as { presents: Map<string, ort.Tensor> };
          const cross = crossFor(images);
          for (const p of this.cache.past) {
            feeds[p.name] = p.cross
              ? (cross.get(p.name) as ort.Tensor)
              : gatherRows(prev.presents.get(p.present) as ort.Tensor, parents);
          }
        } else {
          // The no-cache branch: the whole prefix, empty pasts.
          for (const p of this.cache.past)
            feeds[p.name] = new ort.Tensor('float32', new Float32Array(0), [rows, p.heads, 0, p.headDim]);
        }
        // The cross presents are kept from the no-cache step only; a cached step passes them through.
        if (cache !== null) for (const p of cache.past) if (!cached || !p.cross) fetch.push(p.present);
      }
      const outputs = await runSession(this.decoder, 'decoder', feeds, fetch);
      const logits = outputs[0] as ort.Tensor;
      const [lRows, lLength, vocab] = logits.dims as [number, number, number];
      const expected = cached ? 1 : length;
      // A decoder may also return only the last position's logits.
      if (logits.type !== 'float32' || logits.dims.length !== 3 || lRows !== rows || (lLength !== expected && lLength !== 1)) {
        throw new PipelineError(
          ErrorCodes.INFERENCE_FAILED,
          `decoder output ${io.logits} is ${logits.type} [${logits.dims.join(', ')}], expected float32 [${rows}, ${expected}, vocab]`,
        );
      }
      if (cache !== null) {
        const presents = new Map<string, ort.Tensor>();
        fetch.forEach((name, i) => {
          if (i > 0) presents.set(name, outputs[i] as ort.Tensor);
        });
        previous = { prefixes, images, length, presents };
        if (!cached) {
          images.forEach((img, r) => {
            if (!crossSource.has(img)) crossSource.set(img, { presents, row: r });
          });
          crossGathered = undefined;
        }
      }
      const data = logits.data as Float32Array;
      return prefixes.map((_, r) =>
        data.subarray((r * lLength + lLength - 1) * vocab, (r * lLength + lLength) * vocab),
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
): Promise<ort.Tensor>;
async function runSession(
  session: ort.InferenceSession,
  which: string,
  feeds: Record<string, ort.Tensor>,
  output: readonly string[],
): Promise<ort.Tensor[]>;
async function runSession(
  session: ort.InferenceSession,
  which: string,
  feeds: Record<string, ort.Tensor>,
  output: string | readonly string[],
): Promise<ort.Tensor | ort.Tensor[]> {
  const names = typeof output === 'string' ? [output] : [...output];
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await session.run(feeds, names);
  } catch (err) {
    throw new PipelineError(ErrorCodes.INFERENCE_FAILED, `${which} run failed: ${(err as Error).message}`, {
      cause: err,
      context: { graph: which },
    });
  }
  const values = names.map((name) => {
    const value = result[name];
    if (!(value instanceof ort.Tensor)) {
      throw new PipelineError(ErrorCodes.INFERENCE_FAILED, `${which} returned no tensor ${name}`, {
        context: { graph: which },
      });
    }
    return value;
  });
  return typeof output === 'string' ? (values[0] as ort.Tensor) : values;
}
