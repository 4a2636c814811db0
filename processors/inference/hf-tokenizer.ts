/**
 * Decoding ids with a Hugging Face tokenizer: `tokenizer.json` of the `tokenizers` library, or
 * the older `vocab.json` (byte-level BPE, GPT-2/RoBERTa) and `vocab.txt` (WordPiece, BERT) files.
 *
 * Written here rather than taken from a package: captioning needs only ids → text, the
 * JavaScript ports of `tokenizers` pull in the whole encoder side (regex pre-tokenizers,
 * normalizers, model downloads), and decoding is a short, well-specified chain. It follows
 * `tokenizers`' `decode_chain` semantics: each decoder maps a list of token strings to a list
 * of strings, and the result is their concatenation; without a decoder, tokens are joined
 * with spaces. Supported decoders: ByteLevel, WordPiece, Metaspace, BPEDecoder, Replace,
 * ByteFallback, Fuse, Strip and Sequence of these; anything else is MODEL_INVALID at load,
 * never garbled text at serving time.
 */
import { z } from 'zod';
import type { BundleFormat } from './bundle-types.ts';
import { modelInvalid, validate } from './bundle-types.ts';
import type { TokenDecoder } from './bundle-types.ts';

/** GPT-2's table from bytes to the printable characters byte-level BPE token strings are written in. */
function byteToUnicodeTable(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) table[b] = String.fromCodePoint(256 + n++);
  }
  return table;
}

const BYTE_TO_UNICODE = byteToUnicodeTable();
const UNICODE_TO_BYTE = new Map<string, number>(BYTE_TO_UNICODE.map((ch, b) => [ch, b]));
const utf8 = new TextDecoder('utf-8', { fatal: false });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The byte-level form of text (what GPT-2's vocabulary stores), e.g. `" red"` → `"Ġred"`. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const b of new TextEncoder().encode(text)) out += BYTE_TO_UNICODE[b] ?? '';
  return out;
}

type DecodeStep = (tokens: string[]) => string[];

/** ByteLevel: every token's characters back to bytes, then one lossy UTF-8 decode (split characters reassemble). */
const byteLevel: DecodeStep = (tokens) => {
  const bytes: number[] = [];
  for (const token of tokens) {
    const mapped: number[] = [];
    let ok = true;
    for (const ch of token) {
      const b = UNICODE_TO_BYTE.get(ch);
      if (b === undefined) {
        ok = false;
        break;
      }
      mapped.push(b);
    }
    // A token that is not byte-level text (an added token) goes in as its own UTF-8, as in `tokenizers`.
    if (ok) bytes.push(...mapped);
    else bytes.push(...new TextEncoder().encode(token));
  }
  return [utf8.decode(Uint8Array.from(bytes))];
};

/** The spacing clean-up of BERT-style decoding (`tokenizers` WordPiece `cleanup`, transformers `clean_up_tokenization`). */
export function cleanupTokenizationSpaces(text: string, doNot = false): string {
  let out = text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m");
  if (doNot) out = out.replaceAll(' do not', " don't");
  return out.replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

function wordPiece(prefix: string, cleanup: boolean): DecodeStep {
  return (tokens) =>
    tokens.map((token, i) => {
      let out = token;
      if (i > 0) out = token.startsWith(prefix) ? token.slice(prefix.length) : ` ${token}`;
      return cleanup ? cleanupTokenizationSpaces(out, true) : out;
    });
}

function metaspace(replacement: string, dropFirst: boolean): DecodeStep {
  return (tokens) =>
    tokens.map((token, i) => {
      let out = '';
      for (const ch of token) {
        if (ch === replacement) {
          if (!(i === 0 && dropFirst)) out += ' ';
        } else out += ch;
      }
      return out;
    });
}

function bpeSuffix(suffix: string): DecodeStep {
  return (tokens) => tokens.map((token, i) => token.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '));
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** ByteFallback: runs of `<0xNN>` tokens become the characters they encode (U+FFFD per byte if invalid). */
const byteFallback: DecodeStep = (tokens) => {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    try {
      out.push(strictUtf8.decode(Uint8Array.from(pending)));
    } catch {
      out.push('\uFFFD'.repeat(pending.length));
    }
    pending = [];
  };
  for (const token of tokens) {
    const m = BYTE_TOKEN.exec(token);
    if (m?.[1] !== undefined) pending.push(Number.parseInt(m[1], 16));
    else {
      flush();
      out.push(token);
    }
  }
  flush();
  return out;
};

function strip(content: string, start: number, stop: number): DecodeStep {
  return (tokens) =>
    tokens.map((token) => {
      const chars = [...token];
      let from = 0;
      while (from < start && chars[from] === content) from++;
      let to = chars.length;
      while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
      return chars.slice(from, to).join('');
    });
}

const DecoderSpecSchema: z.ZodType<DecoderSpec> = z.lazy(() =>
  z.looseObject({
    type: z.string(),
    prefix: z.string().optional(),
    cleanup: z.boolean().optional(),
    replacement: z.string().optional(),
    prepend_scheme: z.enum(['always', 'first', 'never']).optional(),
    add_prefix_space: z.boolean().optional(),
    suffix: z.string().optional(),
    pattern: z.union([z.object({ String: z.string() }), z.object({ Regex: z.string() })]).optional(),
    content: z.string().optional(),
    start: z.int().min(0).optional(),
    stop: z.int().min(0).optional(),
    decoders: z.array(DecoderSpecSchema).optional(),
  }),
);

interface DecoderSpec {
  type: string;
  prefix?: string | undefined;
  cleanup?: boolean | undefined;
  replacement?: string | undefined;
  prepend_scheme?: 'always' | 'first' | 'never' | undefined;
  add_prefix_space?: boolean | undefined;
  suffix?: string | undefined;
  pattern?: { String: string } | { Regex: string } | undefined;
  content?: string | undefined;
  start?: number | undefined;
  stop?: number | undefined;
  decoders?: DecoderSpec[] | undefined;
}

function buildDecoder(spec: DecoderSpec, fail: (message: string) => never): DecodeStep {
  switch (spec.type) {
    case 'ByteLevel':
      return byteLevel;
    case 'WordPiece':
      return wordPiece(spec.prefix ?? '##', spec.cleanup ?? true);
    case 'Metaspace': {
      const dropFirst =
        spec.prepend_scheme !== undefined ? spec.prepend_scheme !== 'never' : (spec.add_prefix_space ?? true);
      return metaspace(spec.replacement ?? '\u2581', dropFirst);
    }
    case 'BPEDecoder':
      return bpeSuffix(spec.suffix ?? '</w>');
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip':
      return strip(spec.content ?? ' ', spec.start ?? 0, spec.stop ?? 0);
    case 'Replace': {
      const { pattern, content } = spec;
      if (pattern === undefined || content === undefined) fail('Replace decoder needs pattern and content');
      const regex = 'String' in pattern ? undefined : new RegExp(pattern.Regex, 'gu');
      return (tokens) =>
        tokens.map((t) =>
          regex === undefined
            ? t.replaceAll((pattern as { String: string }).String, content)
            : t.replace(regex, content),
        );
    }
    case 'Sequence': {
      const steps = (spec.decoders ?? []).map((d) => buildDecoder(d, fail));
      return (tokens) => steps.reduce((acc, step) => step(acc), tokens);
    }
    default:
      return fail(
        `decoder type ${spec.type} is not supported (supported: ByteLevel, WordPiece, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence)`,
      );
  }
}

const HfTokenizerSchema = z.looseObject({
  added_tokens: z
    .array(z.looseObject({ id: z.int().min(0), content: z.string(), special: z.boolean().optional() }))
    .nullish(),
  decoder: DecoderSpecSchema.nullish(),
  model: z.looseObject({
    type: z.string().optional(),
    vocab: z.union([z.record(z.string(), z.int().min(0)), z.array(z.tuple([z.string(), z.number()]))]),
  }),
});

/** Options of the HF decoders: whether to apply transformers' `clean_up_tokenization_spaces`. */
export interface HfDecodeOptions {
  /** transformers applies its own spacing clean-up after decoding when `tokenizer_config.json` says so. */
  readonly cleanupSpaces?: boolean;
}

class HfTokenDecoder implements TokenDecoder {
  readonly vocabSize: number;

  constructor(
    readonly kind: 'hf-tokenizers' | 'hf-vocab-json',
    private readonly tokens: ReadonlyMap<number, string>,
    private readonly specials: ReadonlySet<number>,
    private readonly step: DecodeStep | undefined,
    private readonly cleanup: boolean,
  ) {
    let max = -1;
    for (const id of tokens.keys()) max = Math.max(max, id);
    this.vocabSize = max + 1;
  }

  decode(ids: readonly number[]): string {
    const pieces: string[] = [];
    for (const id of ids) {
      if (this.specials.has(id)) continue;
      const token = this.tokens.get(id);
      // Unknown ids are dropped, as `tokenizers` does (id_to_token gives None).
      if (token !== undefined) pieces.push(token);
    }
    const text = this.step === undefined ? pieces.join(' ') : this.step(pieces).join('');
    return this.cleanup ? cleanupTokenizationSpaces(text) : text;
  }

  isSpecial(id: number): boolean {
    return this.specials.has(id);
  }
}

/** A decoder from a `tokenizers` tokenizer.json (BPE, WordPiece, WordLevel or Unigram model). */
export function hfTokenizerJsonDecoder(
  value: unknown,
  options: HfDecodeOptions = {},
  format: BundleFormat = 'hf-vision-encoder-decoder',
  file = 'tokenizer.json',
): TokenDecoder {
  const json = validate(format, file, HfTokenizerSchema, value);
  const tokens = new Map<number, string>();
  const vocab = json.model.vocab;
  if (Array.isArray(vocab)) vocab.forEach(([piece], id) => tokens.set(id, piece));
  else for (const [token, id] of Object.entries(vocab)) tokens.set(id, token);
  const specials = new Set<number>();
  for (const added of json.added_tokens ?? []) {
    tokens.set(added.id, added.content);
    if (added.special === true) specials.add(added.id);
  }
  const fail = (message: string): never => {
    throw modelInvalid(`${format} bundle file ${file}: ${message}`, { format, file });
  };
  const step =
    json.decoder === null || json.decoder === undefined ? undefined : buildDecoder(json.decoder, fail);
  return new HfTokenDecoder('hf-tokenizers', tokens, specials, step, options.cleanupSpaces ?? false);
}

/**
 * A decoder from the files older checkpoints carry instead of tokenizer.json: `vocab.json`
 * (token → id, byte-level BPE as in GPT-2 and RoBERTa) or `vocab.txt` (one WordPiece token per
 * line, id = line number, as in BERT). `specialTokens` are token strings to skip (from
 * special_tokens_map.json / tokenizer_config.json); `specialIds` are ids to skip as well.
 */
export function hfVocabDecoder(
  vocab: { readonly json: Readonly<Record<string, number>> } | { readonly lines: readonly string[] },
  specialTokens: Iterable<string>,
  specialIds: Iterable<number>,
  options: HfDecodeOptions = {},
): TokenDecoder {
  const tokens = new Map<number, string>();
  const ids = new Map<string, number>();
  if ('json' in vocab) {
    for (const [token, id] of Object.entries(vocab.json)) {
      tokens.set(id, token);
      ids.set(token, id);
    }
  } else {
    vocab.lines.forEach((token, id) => {
      tokens.set(id, token);
      ids.set(token, id);
    });
  }
  const specials = new Set<number>(specialIds);
  for (const token of specialTokens) {
    const id = ids.get(token);
    if (id !== undefined) specials.add(id);
  }
  const step = 'json' in vocab ? byteLevel : wordPiece('##', true);
  return new HfTokenDecoder('hf-vocab-json', tokens, specials, step, options.cleanupSpaces ?? false);
}
