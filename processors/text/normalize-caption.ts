/**
 * Caption text normalization: untrusted caption strings (or bytes) in, clean NFKC text,
 * word tokens and a content hash out; bad captions are dropped with a stable reason code.
 *
 * Order matters: decode strictly, turn every Unicode space into a plain space, delete
 * invisible characters (controls, zero-width and other format characters, which would
 * otherwise hide blocked words or fake distinct duplicates), then NFKC (compatibility forms:
 * ligatures and full-width letters become plain letters, as the metrics' tokenizer reads them;
 * Vietnamese letters are canonical, not compatibility, forms and stay composed), case,
 * punctuation, whitespace collapse, tokens, bounds, blocked words.
 */
import { ErrorCodes, PipelineError, type ErrorCode } from '../../schemas/errors.ts';
import { sha256Hex } from '../hash/sha256.ts';
import {
  captionFingerprint,
  resolveCaptionOptions,
  type CaptionOptions,
  type CaptionOptionsInput,
} from './caption-options.ts';
import { tokenize } from './tokenize.ts';

/** A caption that passed normalization. */
export interface NormalizedCaption {
  /** Normalized text (NFKC, cleaned, cased, punctuation policy applied). */
  readonly text: string;
  /** Word tokens of `text`. */
  readonly tokens: readonly string[];
  /** SHA-256 hex of `text` (UTF-8): the caption's content address. */
  readonly hash: string;
  /** Position of the caption in the input list (0 for a single caption). */
  readonly index: number;
}

/** A caption that was dropped, and why. */
export interface DroppedCaption {
  /** The input as text (lossily decoded when it was bytes), cut to 256 characters. */
  readonly text: string;
  /** Stable reason code: CAPTION_EMPTY, CAPTION_TOO_LONG, CAPTION_TOO_SHORT, CAPTION_INVALID_UTF8, CAPTION_INVALID, CAPTION_BLOCKED or DUPLICATE. */
  readonly reason: ErrorCode;
  readonly message: string;
  readonly index: number;
}

/** Result of normalizing the captions of one image. */
export interface NormalizedCaptions {
  readonly captions: NormalizedCaption[];
  readonly dropped: DroppedCaption[];
  /** {@link captionFingerprint} of the options used. */
  readonly fingerprint: string;
}

/** A caption normalizer with its options validated and its blocked-word list prepared once. */
export interface CaptionNormalizer {
  readonly options: CaptionOptions;
  readonly fingerprint: string;
  /** Normalize one caption; throws a non-retriable PipelineError with the reason code. */
  normalize(text: string | Uint8Array, index?: number): NormalizedCaption;
  /** Normalize the captions of one image, dropping (not throwing on) bad ones. */
  normalizeAll(raw: unknown): NormalizedCaptions;
}

const DROPPED_TEXT_MAX = 256;
/** Raw input longer than this multiple of maxChars is refused before any other work. */
const RAW_LENGTH_FACTOR = 4;
const SPACES = /\p{White_Space}+/gu;
const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;
const LONE_SURROGATE = /\p{Cs}/u;
const TRAILING_PUNCTUATION =
  /[\s.!?,;:\u2026\u3002\uFF01\uFF1F\u3001\uFF0C\uFF1B\uFF1A\u061F\u06D4\u0964]+$/u;
const IN_WORD_APOSTROPHE = /(?<=[\p{L}\p{M}\p{N}])['\u2019](?=[\p{L}\p{M}\p{N}])/gu;
const PUNCTUATION = /\p{P}+/gu;

/** Build a {@link CaptionNormalizer}; throws CONFIG_INVALID for bad options. */
export function createCaptionNormalizer(opts: CaptionOptionsInput | CaptionOptions = {}): CaptionNormalizer {
  const options = resolveCaptionOptions(opts);
  const fingerprint = captionFingerprint(options);
  const blocked = options.blockedWords
    .map((phrase) => tokenize(clean(phrase).toLowerCase()))
    .filter((tokens) => tokens.length > 0);

  const normalize = (input: string | Uint8Array, index = 0): NormalizedCaption => {
    const decoded = typeof input === 'string' ? checkWellFormed(input) : decodeUtf8(input);
    if (decoded.length > options.maxChars * RAW_LENGTH_FACTOR) {
      throw captionError(
        ErrorCodes.CAPTION_TOO_LONG,
        `caption input is ${decoded.length} UTF-16 units long`,
        {
          length: decoded.length,
          maxChars: options.maxChars,
        },
      );
    }
    let text = clean(decoded);
    if (options.casing === 'lower') text = text.toLowerCase().normalize('NFKC');
    text = applyPunctuation(text, options.punctuation).replace(/ {2,}/g, ' ').trim();
    const tokens = tokenize(text);
    if (text.length === 0 || tokens.length === 0) {
      throw captionError(ErrorCodes.CAPTION_EMPTY, 'caption has no words after normalization', {});
    }
    if (tokens.length < options.minTokens) {
      throw captionError(
        ErrorCodes.CAPTION_TOO_SHORT,
        `caption has ${tokens.length} words, minimum is ${options.minTokens}`,
        {
          tokens: tokens.length,
          minTokens: options.minTokens,
        },
      );
    }
    if (tokens.length > options.maxTokens) {
      throw captionError(
        ErrorCodes.CAPTION_TOO_LONG,
        `caption has ${tokens.length} words, maximum is ${options.maxTokens}`,
        {
          tokens: tokens.length,
          maxTokens: options.maxTokens,
        },
      );
    }
    const chars = countCodePoints(text);
    if (chars > options.maxChars) {
      throw captionError(
        ErrorCodes.CAPTION_TOO_LONG,
        `caption has ${chars} characters, maximum is ${options.maxChars}`,
        {
          chars,
          maxChars: options.maxChars,
        },
      );
    }
    const hit = findBlocked(tokens, blocked);
    if (hit !== undefined) {
      // The matched word is deliberately left out of the message: DLQ records are widely readable.
      throw captionError(ErrorCodes.CAPTION_BLOCKED, 'caption contains a blocked word', {
        blockedIndex: hit,
      });
    }
    return { text, tokens, hash: sha256Hex(text), index };
  };

  const normalizeAll = (raw: unknown): NormalizedCaptions => {
    const items = asCaptionList(raw);
    const captions: NormalizedCaption[] = [];
    const dropped: DroppedCaption[] = [];
    const seen = new Set<string>();
    items.forEach((item, index) => {
      if (typeof item !== 'string' && !(item instanceof Uint8Array)) {
        dropped.push({
          text: previewOf(item),
          reason: ErrorCodes.CAPTION_INVALID,
          message: `caption must be a string, got ${item === null ? 'null' : typeof item}`,
          index,
        });
        return;
      }
      try {
        const caption = normalize(item, index);
        // Case-insensitive token identity: "A dog." and "a dog" are one caption even when casing is preserved.
        const key = caption.tokens.join(' ').toLowerCase();
        if (options.dedupe && seen.has(key)) {
          dropped.push({
            text: previewOf(item),
            reason: ErrorCodes.DUPLICATE,
            message: 'duplicate caption',
            index,
          });
          return;
        }
        seen.add(key);
        captions.push(caption);
      } catch (err) {
        if (!(err instanceof PipelineError)) throw err;
        dropped.push({ text: previewOf(item), reason: err.code, message: err.message, index });
      }
    });
    return { captions, dropped, fingerprint };
  };

  return { options, fingerprint, normalize, normalizeAll };
}

/**
 * Normalize one caption. Throws a non-retriable PipelineError: CAPTION_INVALID_UTF8,
 * CAPTION_EMPTY, CAPTION_TOO_SHORT, CAPTION_TOO_LONG or CAPTION_BLOCKED (CONFIG_INVALID
 * for bad options). Prefer {@link createCaptionNormalizer} in a loop.
 */
export function normalizeCaption(
  text: string | Uint8Array,
  opts: CaptionOptionsInput | CaptionOptions = {},
): NormalizedCaption {
  return createCaptionNormalizer(opts).normalize(text);
}

/**
 * Normalize the captions of one image: a list of strings (or UTF-8 bytes); a single string
 * is treated as a one-item list. Bad and duplicate captions are returned in `dropped` with
 * their reason; the call throws (CAPTION_INVALID) only when `raw` is not a list at all.
 */
export function normalizeCaptions(
  raw: unknown,
  opts: CaptionOptionsInput | CaptionOptions = {},
): NormalizedCaptions {
  return createCaptionNormalizer(opts).normalizeAll(raw);
}

/** Whitespace to single spaces, invisible characters removed, NFKC. Shared with blocked-word preparation. */
function clean(text: string): string {
  return text.replace(SPACES, ' ').replace(INVISIBLE, '').normalize('NFKC').replace(/ {2,}/g, ' ').trim();
}

function applyPunctuation(text: string, policy: CaptionOptions['punctuation']): string {
  switch (policy) {
    case 'keep':
      return text;
    case 'strip-trailing':
      return text.replace(TRAILING_PUNCTUATION, '');
    case 'strip':
      return text.replace(IN_WORD_APOSTROPHE, '').replace(PUNCTUATION, ' ');
  }
}

function findBlocked(tokens: readonly string[], blocked: readonly string[][]): number | undefined {
  if (blocked.length === 0) return undefined;
  const lower = tokens.map((t) => t.toLowerCase());
  for (let b = 0; b < blocked.length; b++) {
    const phrase = blocked[b] ?? [];
    for (let start = 0; start + phrase.length <= lower.length; start++) {
      if (phrase.every((word, i) => lower[start + i] === word)) return b;
    }
  }
  return undefined;
}

function asCaptionList(raw: unknown): readonly unknown[] {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'string' || raw instanceof Uint8Array) return [raw];
  throw captionError(
    ErrorCodes.CAPTION_INVALID,
    `captions must be a list of strings, got ${raw === null ? 'null' : typeof raw}`,
    {},
  );
}

function checkWellFormed(text: string): string {
  // A lone surrogate cannot be encoded as UTF-8: the caption would be corrupted on the way to the lake.
  if (LONE_SURROGATE.test(text)) {
    throw captionError(ErrorCodes.CAPTION_INVALID_UTF8, 'caption contains a lone UTF-16 surrogate', {});
  }
  // U+FFFD is what a lenient decoder (HTTP form fields, Avro strings, JSON files) put where the
  // bytes were not UTF-8: refusing it keeps replacement characters out of the lake, whatever door
  // the caption came by.
  if (text.includes('\uFFFD')) {
    throw captionError(ErrorCodes.CAPTION_INVALID_UTF8, 'caption was not valid UTF-8 (it holds U+FFFD replacement characters)', {});
  }
  return text;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw captionError(
      ErrorCodes.CAPTION_INVALID_UTF8,
      'caption bytes are not valid UTF-8',
      { byteLength: bytes.length },
      err,
    );
  }
}

function countCodePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function previewOf(item: unknown): string {
  let text: string;
  if (typeof item === 'string') text = item;
  else if (item instanceof Uint8Array)
    text = new TextDecoder('utf-8', { fatal: false }).decode(item.subarray(0, DROPPED_TEXT_MAX * 4));
  else text = safeJson(item);
  // Never cut a surrogate pair in half: the preview itself must stay valid UTF-8.
  return Array.from(text.slice(0, DROPPED_TEXT_MAX * 2))
    .slice(0, DROPPED_TEXT_MAX)
    .join('')
    .replace(/\p{Cs}/gu, '\uFFFD');
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // BigInt or a cycle: the type name is all a dead-letter reader needs.
    return `[${typeof value}]`;
  }
}

function captionError(
  code: ErrorCode,
  message: string,
  context: Record<string, unknown>,
  cause?: unknown,
): PipelineError {
  // Bad input is never retriable; PipelineError already ignores an undefined cause.
  return new PipelineError(code, message, { context, cause });
}
