/**
 * Unicode-aware word tokenization for captions.
 *
 * A token is a run of letters, combining marks and digits (`\p{L}\p{M}\p{N}`), optionally
 * joined by an in-word apostrophe ("dog's"). Marks matter: Vietnamese tone marks, Hindi
 * matras and Arabic harakat are `\p{M}` and must stay attached to their syllable.
 * Scripts written without spaces (Chinese, Japanese, Thai) come out as one token per run;
 * that only affects length bounds, which are a guard, not a linguistic measure.
 */

const WORD = /[\p{L}\p{M}\p{N}]+(?:['\u2019][\p{L}\p{M}\p{N}]+)*/gu;

/** The word tokens of `text`, in order. */
export function tokenize(text: string): string[] {
  return text.match(WORD) ?? [];
}
