/**
 * The closed vocabulary of synthetic scenes. It is small on purpose: a tiny captioning model
 * must be able to learn every word, and captions are built only from these words plus a few
 * fixed connectives ("a", "an", "and", "next", "to", "on", "the", "with", "image", ...).
 */

/** Shapes a scene can contain. Plurals are the name plus "s". */
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond', 'hexagon'] as const;
/** One of {@link SHAPES}. */
export type Shape = (typeof SHAPES)[number];

/** Object colours and the sRGB value they are painted with (saturated, far from backgrounds). */
export const COLOUR_RGB = {
  red: [214, 40, 40],
  green: [42, 157, 63],
  blue: [31, 79, 209],
  yellow: [242, 210, 27],
  orange: [240, 138, 18],
  purple: [123, 44, 191],
  white: [248, 248, 248],
  black: [21, 21, 21],
} as const satisfies Record<string, readonly [number, number, number]>;
/** A named object colour. */
export type Colour = keyof typeof COLOUR_RGB;
/** Every {@link Colour}, in a fixed order (sampling depends on it: append, never reorder). */
export const COLOURS = Object.keys(COLOUR_RGB) as readonly Colour[];

/** Object sizes; all objects of a group share one. */
export const SIZES = ['small', 'large'] as const;
/** One of {@link SIZES}. */
export type Size = (typeof SIZES)[number];

/** Coarse positions; each group of a scene sits in its own. */
export const POSITIONS = ['left', 'top', 'center', 'bottom', 'right'] as const;
/** One of {@link POSITIONS}; the array order is the order groups are mentioned in captions. */
export type Position = (typeof POSITIONS)[number];

/** Background kinds. */
export const BACKGROUND_KINDS = ['plain', 'gradient', 'stripes', 'checker', 'noise'] as const;
/** One of {@link BACKGROUND_KINDS}. */
export type BackgroundKind = (typeof BACKGROUND_KINDS)[number];

/** The adjective a caption uses for each background kind. */
export const BACKGROUND_WORDS: Readonly<Record<BackgroundKind, string>> = {
  plain: 'plain',
  gradient: 'gradient',
  stripes: 'striped',
  checker: 'checkered',
  noise: 'noisy',
};

/** The phrase a caption uses for each position. */
export const POSITION_PHRASES: Readonly<Record<Position, string>> = {
  left: 'on the left',
  right: 'on the right',
  top: 'at the top',
  bottom: 'at the bottom',
  center: 'in the center',
};

/** Number words for group counts (a scene holds at most four objects). */
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four'] as const;

/** The most objects one scene holds. */
export const MAX_OBJECTS = 4;
/** The most objects one group (same shape and colour) holds. */
export const MAX_GROUP_COUNT = 3;
