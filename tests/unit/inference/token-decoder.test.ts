import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import {
  hfTokenizerJsonDecoder,
  hfVocabDecoder,
  toByteLevel,
} from '../../../processors/inference/hf-tokenizer.ts';
import { parseWordTokenizer, WordTokenDecoder } from '../../../processors/inference/token-decoder.ts';

const WORD_TOKENIZER = {
  type: 'word',
  vocab: ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'red', 'circle'],
  pad: 0,
  bos: 1,
  eos: 2,
  unk: 3,
  maxLen: 8,
  lowercase: true,
};

function byteLevelTokenizer(tokens: string[]) {
  return {
    version: '1.0',
    added_tokens: [{ id: 0, content: '<|endoftext|>', special: true }],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      vocab: Object.fromEntries(['<|endoftext|>', ...tokens].map((t, i) => [t, i])),
      merges: [],
    },
  };
}

describe('captionflow word tokenizer', () => {
  const decoder = new WordTokenDecoder(parseWordTokenizer(WORD_TOKENIZER));

  it('joins words, skips <bos>/<pad>, stops at <eos>, like the trainer', () => {
    assert.equal(decoder.decode([1, 4, 5, 6, 2, 5, 5]), 'a red circle');
    assert.equal(decoder.decode([4, 0, 5]), 'a red');
  });

  it('reads unknown ids as the unk word', () => {
    assert.equal(decoder.decode([4, 99]), 'a <unk>');
  });

  it('rejects a tokenizer whose special ids fall outside the vocabulary', () => {
    assert.throws(
      () => parseWordTokenizer({ ...WORD_TOKENIZER, eos: 40 }),
      (err: unknown) =>
        err instanceof PipelineError && err.code === 'MODEL_INVALID' && /eos id 40/.test(err.message),
    );
    assert.throws(
      () => parseWordTokenizer({ ...WORD_TOKENIZER, vocab: 'abc' }),
      (err: unknown) =>
        err instanceof PipelineError && err.code === 'MODEL_INVALID' && /vocab/.test(err.message),
    );
  });
});

describe('HF byte-level BPE (GPT-2 style)', () => {
  it('maps the printable-unicode alphabet back to bytes', () => {
    assert.equal(toByteLevel(' red'), 'Ġred');
    assert.equal(toByteLevel('ệ'), 'á»ĩ');
    assert.equal(toByteLevel('\n'), 'Ċ');
  });

  it('reassembles a UTF-8 character split across tokens ("Việt")', () => {
    // ệ is E1 BB 87: the first two bytes in one token, the last with "t" in the next.
    const decoder = hfTokenizerJsonDecoder(byteLevelTokenizer(['a', 'Ġred', 'ĠVi', 'á»', 'ĩt', 'ĠNam']));
    assert.equal(decoder.decode([1, 2, 3, 4, 5, 6]), 'a red Việt Nam');
    // Only the broken half: replacement character, no throw.
    assert.equal(decoder.decode([3, 4]), ' Vi\uFFFD');
  });

  it('skips special tokens and ids it does not know', () => {
    const decoder = hfTokenizerJsonDecoder(byteLevelTokenizer(['a', 'Ġred']));
    assert.equal(decoder.decode([0, 1, 2, 0, 77]), 'a red');
    assert.equal(decoder.isSpecial(0), true);
    assert.equal(decoder.isSpecial(1), false);
  });

  it('decodes a vocab.json-only tokenizer the same way, skipping named special tokens', () => {
    const decoder = hfVocabDecoder(
      { json: { '<|endoftext|>': 0, a: 1, Ġcir: 2, cle: 3, 'Ġ!': 4 } },
      ['<|endoftext|>'],
      [],
    );
    assert.equal(decoder.decode([0, 1, 2, 3, 0]), 'a circle');
  });

  it('applies transformers clean_up_tokenization_spaces when asked', () => {
    const tokenizer = byteLevelTokenizer(['a', 'Ġcat', 'Ġ.']);
    assert.equal(hfTokenizerJsonDecoder(tokenizer).decode([1, 2, 3]), 'a cat .');
    assert.equal(hfTokenizerJsonDecoder(tokenizer, { cleanupSpaces: true }).decode([1, 2, 3]), 'a cat.');
  });
});

describe('HF WordPiece (BERT style)', () => {
  const tokenizer = {
    added_tokens: [
      { id: 0, content: '[PAD]', special: true },
      { id: 1, content: '[CLS]', special: true },
      { id: 2, content: '[SEP]', special: true },
    ],
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      vocab: { '[PAD]': 0, '[CLS]': 1, '[SEP]': 2, a: 3, dog: 4, run: 5, '##ning': 6, '.': 7, "'": 8, s: 9 },
    },
  };

  it('merges ## continuations, cleans up spaces before punctuation, skips special tokens', () => {
    const decoder = hfTokenizerJsonDecoder(tokenizer);
    assert.equal(decoder.decode([1, 3, 4, 5, 6, 7, 2, 0]), 'a dog running.');
  });

  it('decodes vocab.txt (id = line number) with the same rules', () => {
    const decoder = hfVocabDecoder({ lines: ['[PAD]', 'a', 'dog', 'run', '##ning'] }, ['[PAD]'], []);
    assert.equal(decoder.decode([0, 1, 2, 3, 4, 0]), 'a dog running');
  });
});

describe('HF WordLevel, Metaspace and decoder sequences', () => {
  it('joins WordLevel tokens with spaces when there is no decoder', () => {
    const decoder = hfTokenizerJsonDecoder({
      decoder: null,
      model: { type: 'WordLevel', vocab: { '<s>': 0, a: 1, red: 2, circle: 3 }, unk_token: '<unk>' },
      added_tokens: [{ id: 0, content: '<s>', special: true }],
    });
    assert.equal(decoder.decode([0, 1, 2, 3]), 'a red circle');
  });

  it('turns Metaspace ▁ into spaces and drops the first one (SentencePiece / Unigram)', () => {
    const decoder = hfTokenizerJsonDecoder({
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      model: {
        type: 'Unigram',
        vocab: [
          ['<pad>', 0],
          ['▁a', -1],
          ['▁red', -2],
          ['▁cir', -3],
          ['cle', -4],
        ],
      },
      added_tokens: [{ id: 0, content: '<pad>', special: true }],
    });
    assert.equal(decoder.decode([0, 1, 2, 3, 4]), 'a red circle');
  });

  it('runs a Llama-style Sequence (Replace, ByteFallback, Fuse, Strip)', () => {
    const decoder = hfTokenizerJsonDecoder({
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          { type: 'Strip', content: ' ', start: 1, stop: 0 },
        ],
      },
      model: { type: 'BPE', vocab: { '▁Vi': 0, '<0xE1>': 1, '<0xBB>': 2, '<0x87>': 3, t: 4 } },
    });
    assert.equal(decoder.decode([0, 1, 2, 3, 4]), 'Việt');
  });

  it('refuses a decoder type it cannot run, naming it', () => {
    assert.throws(
      () =>
        hfTokenizerJsonDecoder({ decoder: { type: 'CTC' }, model: { type: 'WordLevel', vocab: { a: 0 } } }),
      (err: unknown) =>
        err instanceof PipelineError && err.code === 'MODEL_INVALID' && /CTC/.test(err.message),
    );
  });
});
