import { COLOURS, NUMBER_WORDS, POSITIONS, SHAPES } from './vocabulary.ts';

/** The concepts a synthetic-scene caption names, by kind (what evaluation reports group by). */
export type SceneConcepts = {
  readonly colour: readonly string[];
  readonly shape: readonly string[];
  /** The number of objects the caption counts (one value), when it names any shape. */
  readonly count: readonly string[];
  readonly position: readonly string[];
};

const SHAPE_OF = new Map<string, string>(SHAPES.flatMap((s) => [[s, s], [`${s}s`, s]] as const));
const COUNT_OF = new Map<string, number>([['a', 1], ['an', 1], ...NUMBER_WORDS.map((w, i) => [w, i] as const)]);
const COLOUR_SET = new Set<string>(COLOURS);
const POSITION_SET = new Set<string>(POSITIONS);

/**
 * Read the concepts of a caption in the synthetic scenes' vocabulary: colours, shapes, the
 * object count (each shape word adds the count word before it: "a", "one", "two", …) and
 * positions. Applied to an image's references it gives the image's concepts (every reference is
 * true to the scene graph), applied to a generated caption what the model said.
 */
export function sceneConcepts(caption: string): SceneConcepts {
  const words = caption.toLowerCase().split(/[^a-z]+/u).filter((w) => w !== '');
  const colour = new Set<string>();
  const shape = new Set<string>();
  const position = new Set<string>();
  let objects = 0;
  let pending: number | undefined;
  for (const w of words) {
    const count = COUNT_OF.get(w);
    if (count !== undefined) pending = count;
    if (COLOUR_SET.has(w)) colour.add(w);
    if (POSITION_SET.has(w)) position.add(w);
    const s = SHAPE_OF.get(w);
    if (s !== undefined) {
      shape.add(s);
      objects += pending ?? 1;
      pending = undefined;
    }
  }
  return {
    colour: [...colour].sort(),
    shape: [...shape].sort(),
    count: shape.size === 0 ? [] : [String(objects)],
    position: [...position].sort(),
  };
}

/**
 * An image's concepts from its reference captions: the union of colours, shapes and positions
 * they name, and the largest object count (a short reference may leave a group out).
 */
export function sceneImageConcepts(references: readonly string[]): SceneConcepts {
  const all = references.map(sceneConcepts);
  const union = (kind: 'colour' | 'shape' | 'position'): string[] => [...new Set(all.flatMap((c) => c[kind]))].sort();
  const counts = all.flatMap((c) => c.count.map(Number));
  return { colour: union('colour'), shape: union('shape'), count: counts.length === 0 ? [] : [String(Math.max(...counts))], position: union('position') };
}
