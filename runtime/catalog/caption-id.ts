/**
 * Caption identity: the natural key of a caption is its image plus its text up to trivial
 * differences, so re-importing "A dog  runs." and "a dog runs." for the same image upserts one
 * record. Deliberately simpler than the caption normalizer in processors/ (which may change with
 * its version): ids must never change once written.
 */
import { createHash } from 'node:crypto';

/** The text a caption id is computed from: NFC, lowercased, whitespace collapsed, trimmed, trailing sentence punctuation dropped. */
export function captionIdentityText(text: string): string {
  return text
    .normalize('NFC')
    .toLowerCase()
    .replace(/\s+/gu, ' ')
    .trim()
    .replace(/[\s.!?。]+$/u, '');
}

/** The id of the caption `text` of image `imageId`: `cap-` + sha256 hex. */
export function captionId(imageId: string, text: string): string {
  return `cap-${createHash('sha256')
    .update(`${imageId}\n${captionIdentityText(text)}`)
    .digest('hex')}`;
}

/** True when `id` looks like a caption id (as opposed to an image id). */
export function isCaptionId(id: string): boolean {
  return /^cap-[0-9a-f]{64}$/.test(id);
}
