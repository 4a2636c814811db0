/**
 * The one tokenizer every caption metric uses.
 *
 * pycocoevalcap normally runs the Stanford PTBTokenizer (Java) first. We do not ship Java, so
 * captions are tokenized with a deliberately simple, documented rule instead:
 *
 * 1. Unicode NFKC normalization, then lower case;
 * 2. apostrophes (`'`, `’`, `` ` ``) are deleted, so "don't" becomes "dont" and "cat's" "cats";
 * 3. every run of characters that is neither a letter nor a digit (punctuation, symbols,
 *    whitespace) becomes a single separator;
 * 4. the text is split on separators; empty tokens are dropped.
 *
 * Scores therefore differ slightly from the official COCO leaderboard numbers on real data
 * (PTB splits clitics: "don't" → "do n't"), but on our controlled vocabulary they are the
 * same tokens. The rule is idempotent: tokenizing `tokens.join(' ')` returns `tokens`, which is
 * what lets the parity test feed pycocoevalcap the exact tokens we score.
 */
export function tokenizeCaption(text: string): string[] {
  const cleaned = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/['’`]/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
  return cleaned === '' ? [] : cleaned.split(' ');
}
