import type { SceneBackground, SceneGroup } from './scene-graph.ts';
import { BACKGROUND_WORDS, NUMBER_WORDS, POSITION_PHRASES } from './vocabulary.ts';

/** How many reference captions each scene gets. */
export const CAPTIONS_PER_SCENE = 5;

/**
 * The five reference captions of a scene, each phrased differently, all lower case and
 * without punctuation, every one naming the colour and shape of every group:
 *
 * 1. a list — "two red circles and a blue square";
 * 2. a relation — "a blue square next to two red circles" (one group: "a red circle in the center");
 * 3. "an image with two small red circles and one large blue square on a striped background";
 * 4. sizes and positions — "two small red circles on the left and a large blue square at the top";
 * 5. background first — "a striped background with two small red circles and a large blue square".
 *
 * Groups are named in the scene's caption order, joined with "and" only, so the vocabulary
 * stays tiny.
 */
export function captionScene(groups: readonly SceneGroup[], background: SceneBackground): string[] {
  const bg = BACKGROUND_WORDS[background.kind];
  const plain = groups.map((g) => groupPhrase(g, { size: false }));
  const sized = groups.map((g) => groupPhrase(g, { size: true }));
  const counted = groups.map((g) => groupPhrase(g, { size: true, one: true }));
  const placed = groups.map((g) => `${groupPhrase(g, { size: true })} ${POSITION_PHRASES[g.position]}`);

  // One group has nothing to be next to, so its relation is its position instead.
  const relation =
    groups.length > 1
      ? `${plain.at(-1) ?? ''} next to ${joinAnd(plain.slice(0, -1))}`
      : (placedPlain(groups[0]) ?? '');

  return [
    joinAnd(plain),
    relation,
    `an image with ${joinAnd(counted)} on a ${bg} background`,
    joinAnd(placed),
    `a ${bg} background with ${joinAnd(sized)}`,
  ];
}

/** "a red circle", "an orange star", "two small blue squares", "one large green hexagon". */
function groupPhrase(group: SceneGroup, style: { readonly size: boolean; readonly one?: boolean }): string {
  const noun = group.count === 1 ? group.shape : `${group.shape}s`;
  const words = [...(style.size ? [group.size] : []), group.colour, noun].join(' ');
  if (group.count > 1 || style.one === true)
    return `${NUMBER_WORDS[group.count] ?? String(group.count)} ${words}`;
  return `${/^[aeiou]/u.test(words) ? 'an' : 'a'} ${words}`;
}

function placedPlain(group: SceneGroup | undefined): string | undefined {
  return group === undefined
    ? undefined
    : `${groupPhrase(group, { size: false })} ${POSITION_PHRASES[group.position]}`;
}

function joinAnd(phrases: readonly string[]): string {
  return phrases.join(' and ');
}
