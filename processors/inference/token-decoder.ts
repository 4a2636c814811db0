/**
 * Turning generated token ids back into caption text. Captioning never encodes text, so a
 * decoder is all a bundle needs: our word vocabulary here, Hugging Face tokenizers in
 * `hf-tokenizer.ts`.
 */
import { z } from 'zod';
import { modelInvalid, validate, type TokenDecoder } from './bundle-types.ts';

export type { TokenDecoder } from './bundle-types.ts';


const WordTokenizerSchema = z.object({
  type: z.literal('word').optional(),
  vocab: z.array(z.string()).min(4),
  pad: z.int().min(0),
  bos: z.int().min(0),
  eos: z.int().min(0),
  unk: z.int().min(0),
  maxLen: z.int().min(2),
  joiner: z.string().optional(),
});

/** The trainer's `tokenizer.json` (captionflow_trainer/tokenizer.py `Tokenizer.to_json`). */
export type WordTokenizerJson = z.output<typeof WordTokenizerSchema>;

/** Validate the trainer's tokenizer.json (MODEL_INVALID naming the field otherwise). */
export function parseWordTokenizer(value: unknown, file = 'tokenizer.json'): WordTokenizerJson {
  const parsed = validate('captionflow', file, WordTokenizerSchema, value);
  for (const key of ['pad', 'bos', 'eos', 'unk'] as const) {
    if (parsed[key] >= parsed.vocab.length) {
      throw modelInvalid(
        `captionflow bundle file ${file} is invalid: ${key} id ${parsed[key]} is outside the vocab (${parsed.vocab.length} words)`,
        {
          format: 'captionflow',
          file,
          field: key,
        },
      );
    }
  }
  return parsed;
}

/**
 * The trainer's word vocabulary. Mirrors `Tokenizer.decode` in Python exactly so both sides
 * print the same caption: stop at `<eos>`, skip `<bos>`/`<pad>`, unknown ids read as the unk word.
 */
export class WordTokenDecoder implements TokenDecoder {
  readonly kind = 'captionflow-word' as const;
  readonly vocabSize: number;
  private readonly json: WordTokenizerJson;

  constructor(json: WordTokenizerJson) {
    this.json = json;
    this.vocabSize = json.vocab.length;
  }

  decode(ids: readonly number[]): string {
    const { vocab, eos, pad, bos, unk } = this.json;
    const words: string[] = [];
    for (const id of ids) {
      if (id === eos) break;
      if (id === pad || id === bos) continue;
      words.push(vocab[id] ?? vocab[unk] ?? '<unk>');
    }
    return words.join(this.json.joiner ?? ' ');
  }

  isSpecial(id: number): boolean {
    return id === this.json.pad || id === this.json.bos || id === this.json.eos;
  }
}
