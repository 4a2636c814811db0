/**
 * The shape every caption model bundle is parsed into, whatever layout it came in, plus the
 * small helpers the format parsers share (file lookup, JSON with MODEL_INVALID errors).
 * Kept apart from `model-bundle.ts` so the format parsers can import it without a cycle.
 */
import type { z } from 'zod';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { DomainGate } from './domain-gate.ts';

/** Ids → text for one model's vocabulary. */
export interface TokenDecoder {
  /** Which decoding rules apply (for logs and tests). */
  readonly kind: 'captionflow-word' | 'hf-tokenizers' | 'hf-vocab-json';
  /** Number of known ids (ids outside 0..vocabSize-1 are unknown). */
  readonly vocabSize: number;
  /** Text of `ids`, special tokens skipped, not trimmed. */
  decode(ids: readonly number[]): string;
  /** True for ids that are never shown in text (bos, eos, pad, other special tokens). */
  isSpecial(id: number): boolean;
}

/** The files of a bundle by name relative to its root (`encoder.onnx`, `onnx/encoder_model.onnx`, …). */
export type BundleFiles = Readonly<Record<string, Uint8Array>> | ReadonlyMap<string, Uint8Array>;

/** The layouts a bundle can come in. */
export type BundleFormat = 'captionflow' | 'hf-vision-encoder-decoder';

/** sharp's resampling kernels that the bundle formats map to. */
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'lanczos3';

/** How an image becomes the encoder's `[3, height, width]` float input: `((pixel * rescale) - mean[c]) / std[c]`. */
export interface PreprocessSpec {
  readonly width: number;
  readonly height: number;
  /** Per channel, RGB order. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /** Multiplies the 0..255 pixel before normalization (1/255, or 1 when the model wants raw values). */
  readonly rescale: number;
  /** `fill` stretches to the exact size; `cover` resizes the short side and centre-crops (HF shortest_edge + crop). */
  readonly fit: 'fill' | 'cover';
  /**
   * With `cover`: resize so the short side is this long, then centre-crop to width x height
   * (HF `shortest_edge` 256 + `crop_size` 224). Absent: the short side goes straight to the crop size.
   */
  readonly shortestEdge?: number;
  readonly kernel: ResizeKernel;
}

/** Token ids the decoding loop needs. */
export interface BundleTokens {
  /** The first decoder input: `<bos>` in our format, `decoder_start_token_id` in HF's. */
  readonly decoderStart: number;
  /** The main end-of-sequence id. */
  readonly eos: number;
  /** Every id that ends a sequence (HF allows a list of eos ids); always contains `eos`. */
  readonly stop: readonly number[];
  /** Appended to rows that already finished while others in the batch go on. */
  readonly pad: number;
}

/** Input/output names the ONNX graphs must have; checked against the sessions at load. */
export interface BundleIo {
  readonly pixelValues: string;
  readonly encoderOutput: string;
  readonly inputIds: string;
  readonly encoderHiddenStates: string;
  readonly logits: string;
}

/** A parsed, validated caption model: what {@link OnnxCaptioner} runs. */
export interface CaptionModelBundle {
  readonly format: BundleFormat;
  /** The model's own id when the bundle states one (our `modelId`, HF `_name_or_path`); informational. */
  readonly modelId: string | undefined;
  readonly encoder: Uint8Array;
  readonly decoder: Uint8Array;
  readonly io: BundleIo;
  readonly preprocess: PreprocessSpec;
  readonly tokens: BundleTokens;
  /** Default total decoder length, start token included (HF `max_length` semantics). */
  readonly maxLength: number;
  /** Hard limit on the decoder length (position table); a request may not exceed it. */
  readonly maxPositions: number;
  /** Default beam width (HF `num_beams`; 1 for ours): 1 means greedy. */
  readonly numBeams: number;
  readonly tokenizer: TokenDecoder;
  /** The out-of-domain gate fitted for this model (`domain-gate.json`), when the bundle has one. */
  readonly domainGate?: DomainGate;
}

/** A MODEL_INVALID error naming the bundle format and what is wrong. */
export function modelInvalid(
  message: string,
  context: Record<string, unknown> = {},
  cause?: unknown,
): PipelineError {
  return new PipelineError(ErrorCodes.MODEL_INVALID, message, {
    context,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Read-only access to bundle files by name. */
export class BundleFileSet {
  private readonly files: ReadonlyMap<string, Uint8Array>;

  constructor(files: BundleFiles) {
    this.files = files instanceof Map ? files : new Map(Object.entries(files));
  }

  /** All file names, sorted (for error messages). */
  names(): string[] {
    return [...this.files.keys()].sort();
  }

  /** The first of `candidates` present, or undefined. */
  find(...candidates: string[]): { name: string; bytes: Uint8Array } | undefined {
    for (const name of candidates) {
      const bytes = this.files.get(name);
      if (bytes !== undefined) return { name, bytes };
    }
    return undefined;
  }

  /** The first of `candidates`, or MODEL_INVALID naming them and the files that are there. */
  require(format: BundleFormat, ...candidates: string[]): { name: string; bytes: Uint8Array } {
    const found = this.find(...candidates);
    if (found === undefined) {
      throw modelInvalid(`${format} bundle is missing ${candidates.join(' or ')}`, {
        format,
        missing: candidates,
        files: this.names(),
      });
    }
    if (found.bytes.byteLength === 0) {
      throw modelInvalid(`${format} bundle file ${found.name} is empty`, { format, file: found.name });
    }
    return found;
  }

  /** Parse a JSON file (UTF-8, BOM tolerated). */
  json(format: BundleFormat, file: { name: string; bytes: Uint8Array }): unknown {
    const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(file.bytes);
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw modelInvalid(
        `${format} bundle file ${file.name} is not valid JSON: ${(err as Error).message}`,
        {
          format,
          file: file.name,
        },
        err,
      );
    }
  }

  /** Find, parse and validate a JSON file, or undefined when none of `candidates` is present. */
  optionalJson<S extends z.ZodType>(
    format: BundleFormat,
    schema: S,
    ...candidates: string[]
  ): z.output<S> | undefined {
    const file = this.find(...candidates);
    return file === undefined ? undefined : validate(format, file.name, schema, this.json(format, file));
  }

  /** Find, parse and validate a JSON file that must be present. */
  requiredJson<S extends z.ZodType>(format: BundleFormat, schema: S, ...candidates: string[]): z.output<S> {
    const file = this.require(format, ...candidates);
    return validate(format, file.name, schema, this.json(format, file));
  }
}

/** Validate with zod; the error names the file and the field path of the first problem. */
export function validate<S extends z.ZodType>(
  format: BundleFormat,
  file: string,
  schema: S,
  value: unknown,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path === '' ? '(root)' : path}: ${issue.message}`;
  });
  throw modelInvalid(`${format} bundle file ${file} is invalid: ${problems.slice(0, 3).join('; ')}`, {
    format,
    file,
    issues: problems,
  });
}
