import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../schemas/errors.ts';
import {
  createCaptionNormalizer,
  normalizeCaption,
  normalizeCaptions,
} from '../../../processors/text/normalize-caption.ts';
import { captionFingerprint, resolveCaptionOptions } from '../../../processors/text/caption-options.ts';
import { tokenize } from '../../../processors/text/tokenize.ts';
import { sha256Hex } from '../../../processors/hash/sha256.ts';
import { DUPLICATE_CAPTIONS, makeCaptionCorpus } from '../../fixtures/bad-input/make-corpus.ts';

describe('normalizeCaption: the caption corpus', () => {
  for (const c of makeCaptionCorpus()) {
    it(c.name, () => {
      if (c.expectedCode !== null) {
        assert.throws(
          () => normalizeCaption(c.input, c.options ?? {}),
          (err: unknown) => {
            assert.ok(err instanceof PipelineError);
            assert.equal(err.code, c.expectedCode);
            assert.equal(err.retriable, false);
            return true;
          },
        );
        return;
      }
      const caption = normalizeCaption(c.input, c.options ?? {});
      if (c.expectedText !== undefined) assert.equal(caption.text, c.expectedText);
      if (c.expectedTokens !== undefined) assert.deepEqual(caption.tokens, c.expectedTokens);
      assert.equal(caption.hash, sha256Hex(caption.text));
      assert.equal(caption.text, caption.text.normalize('NFC'));
    });
  }
});

describe('normalizeCaption: policies', () => {
  it('lowercases Vietnamese without losing diacritics (Đ too), independent of locale', () => {
    const caption = normalizeCaption('ĐÂY LÀ MỘT CON CHÓ ĐANG CHẠY TRÊN BÃI CỎ');
    assert.equal(caption.text, 'đây là một con chó đang chạy trên bãi cỏ');
    // Unicode default mapping, whatever the process locale: I -> i (not Turkish dotless ı).
    assert.equal(normalizeCaption('KIŞ').text, 'kiş');
  });

  it('keeps multi-syllable Vietnamese words as space-separated syllable tokens with their marks', () => {
    assert.deepEqual(normalizeCaption('Người phụ nữ đội nón lá').tokens, [
      'người',
      'phụ',
      'nữ',
      'đội',
      'nón',
      'lá',
    ]);
  });

  it('applies punctuation policies keep, strip-trailing and strip', () => {
    const text = 'A dog\'s ball, a cat... "Nice"!';
    assert.equal(normalizeCaption(text, { punctuation: 'keep' }).text, 'a dog\'s ball, a cat... "nice"!');
    assert.equal(
      normalizeCaption('A dog runs fast!!! ', { punctuation: 'strip-trailing' }).text,
      'a dog runs fast',
    );
    assert.equal(normalizeCaption('50% off.', { punctuation: 'strip-trailing' }).text, '50% off');
    assert.equal(normalizeCaption(text, { punctuation: 'strip' }).text, 'a dogs ball a cat nice');
  });

  it('tokenizes letters, marks and digits, keeping in-word apostrophes', () => {
    assert.deepEqual(tokenize("a man's 2 dogs, well-fed; नमस्ते"), [
      'a',
      "man's",
      '2',
      'dogs',
      'well',
      'fed',
      'नमस्ते',
    ]);
  });

  it('enforces token and character bounds', () => {
    assert.throws(() => normalizeCaption('one two three', { maxTokens: 2 }), { code: 'CAPTION_TOO_LONG' });
    assert.throws(() => normalizeCaption('one two', { minTokens: 3 }), { code: 'CAPTION_TOO_SHORT' });
    assert.throws(() => normalizeCaption('abcdefghij', { maxChars: 9 }), { code: 'CAPTION_TOO_LONG' });
    // Characters are code points: an emoji counts once.
    assert.equal(normalizeCaption('dog 🐕', { maxChars: 5 }).text, 'dog 🐕');
  });

  it('refuses a megabyte-long caption before doing any work on it', () => {
    assert.throws(() => normalizeCaption(' '.repeat(1_000_000) + 'dog'), { code: 'CAPTION_TOO_LONG' });
  });

  it('matches blocked words and phrases case-insensitively on whole tokens only', () => {
    const normalizer = createCaptionNormalizer({ blockedWords: ['Badword', 'red flag'] });
    assert.throws(() => normalizer.normalize('A BADWORD here'), { code: 'CAPTION_BLOCKED' });
    assert.throws(() => normalizer.normalize('a red  flag flies'), { code: 'CAPTION_BLOCKED' });
    assert.equal(
      normalizer.normalize('a badwords list and a red car flag').text,
      'a badwords list and a red car flag',
    );
  });
});

describe('normalizeCaptions: one image', () => {
  it('removes duplicates revealed only by normalization, keeping the first', () => {
    const { captions, dropped } = normalizeCaptions(DUPLICATE_CAPTIONS);
    assert.deepEqual(
      captions.map((c) => [c.index, c.text]),
      [
        [0, 'a dog runs on the grass'],
        [4, 'a cat sleeps on a sofa'],
      ],
    );
    assert.deepEqual(
      dropped.map((d) => [d.index, d.reason]),
      [
        [1, 'DUPLICATE'],
        [2, 'DUPLICATE'],
        [3, 'DUPLICATE'],
      ],
    );
  });

  it('treats NFC and NFD spellings of the same Vietnamese caption as duplicates', () => {
    const text = 'Một con chó đang chạy trên bãi cỏ';
    const { captions, dropped } = normalizeCaptions([text.normalize('NFD'), text.normalize('NFC')]);
    assert.equal(captions.length, 1);
    assert.equal(dropped[0]?.reason, 'DUPLICATE');
  });

  it('drops bad items with their reason and keeps the good ones', () => {
    const { captions, dropped } = normalizeCaptions(
      ['A dog.', '', Uint8Array.of(0xc3, 0x28), 42, null, 'x '.repeat(100), 'a b\u200Badword'],
      { blockedWords: ['badword'] },
    );
    assert.deepEqual(
      captions.map((c) => c.text),
      ['a dog'],
    );
    assert.deepEqual(
      dropped.map((d) => [d.index, d.reason]),
      [
        [1, 'CAPTION_EMPTY'],
        [2, 'CAPTION_INVALID_UTF8'],
        [3, 'CAPTION_INVALID'],
        [4, 'CAPTION_INVALID'],
        [5, 'CAPTION_TOO_LONG'],
        [6, 'CAPTION_BLOCKED'],
      ],
    );
    // Invalid bytes are previewed lossily so a dead-letter reader can still see them.
    assert.equal(dropped[1]?.text, '\uFFFD(');
  });

  it('keeps dropped previews short and valid', () => {
    const { dropped } = normalizeCaptions(['🐕'.repeat(10_000)]);
    const preview = dropped[0]?.text ?? '';
    assert.equal(Array.from(preview).length, 256);
    assert.ok(!/\p{Cs}/u.test(preview.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '')));
  });

  it('accepts a single string, can keep duplicates, and throws CAPTION_INVALID for non-lists', () => {
    assert.equal(normalizeCaptions('A dog.').captions.length, 1);
    assert.equal(normalizeCaptions(['a dog', 'A dog.'], { dedupe: false }).captions.length, 2);
    assert.throws(() => normalizeCaptions({ caption: 'a dog' }), { code: 'CAPTION_INVALID' });
    assert.throws(() => normalizeCaptions(undefined), { code: 'CAPTION_INVALID' });
  });
});

describe('caption options and fingerprint', () => {
  it('rejects bad options with CONFIG_INVALID naming the key', () => {
    assert.throws(() => resolveCaptionOptions({ casing: 'upper' as 'lower' }), /casing="upper"/);
    assert.throws(() => resolveCaptionOptions({ minTokens: 5, maxTokens: 2 }), { code: 'CONFIG_INVALID' });
  });

  it('fingerprint changes with options and is carried by the result', () => {
    assert.match(captionFingerprint(), /^caption-normalize@2\+[0-9a-f]{12}$/);
    assert.notEqual(captionFingerprint(), captionFingerprint({ casing: 'preserve' }));
    assert.equal(normalizeCaptions(['a dog']).fingerprint, captionFingerprint({}));
  });
});

it('captions get compatibility normalization (NFKC): ligatures and full-width letters become plain letters, Vietnamese stays composed', () => {
  const n = createCaptionNormalizer({});
  assert.equal(n.normalize('a ﬁsh on the ﬂoor').text, 'a fish on the floor');
  assert.equal(n.normalize('ＡＢＣ　ｔｒｕｃｋ parked').text, 'abc truck parked');
  assert.equal(n.normalize('Ｘe máy đang chạy trên đường').text, 'xe máy đang chạy trên đường');
  // The stored text equals what the metrics' tokenizer reads, so a ligature cannot fake a new caption.
  assert.equal(n.normalize('ﬁve cats').hash, n.normalize('five cats').hash);
});

it('a caption holding U+FFFD (bytes a lenient decoder could not read as UTF-8) is refused with CAPTION_INVALID_UTF8', () => {
  const n = createCaptionNormalizer({});
  assert.throws(() => n.normalize('a caf\uFFFD by the road'), (e: unknown) => e instanceof PipelineError && e.code === 'CAPTION_INVALID_UTF8');
  assert.equal(n.normalizeAll(['a cat on a mat', 'a caf\uFFFD']).dropped[0]?.reason, 'CAPTION_INVALID_UTF8');
});
