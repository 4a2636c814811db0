/**
 * Seeded procedural scenes with reference captions: the project's built-in dataset for
 * training, evaluation and incremental-learning demos. Pure (no I/O); sharp rasterizes.
 */
export { CAPTIONS_PER_SCENE, captionScene } from './captions.ts';
export {
  sceneFileName,
  toCocoCaptions,
  type CocoCaptionAnnotation,
  type CocoCaptionsDataset,
  type CocoCaptionsOptions,
  type CocoImage,
  type CocoSceneInput,
} from './coco-captions.ts';
export {
  generateScene,
  generateScenes,
  sampleScene,
  type SceneDescription,
  type SyntheticScene,
} from './generate.ts';
export type { ConceptFilter, GenerateScenesOptions, SceneOptions } from './options.ts';
export { sceneConcepts, sceneImageConcepts, type SceneConcepts } from './concepts.ts';
export { deriveSceneSeed } from './random.ts';
export type { SceneBackground, SceneGraph, SceneGroup, SceneObject } from './scene-graph.ts';
export {
  BACKGROUND_KINDS,
  BACKGROUND_WORDS,
  COLOURS,
  COLOUR_RGB,
  POSITIONS,
  POSITION_PHRASES,
  SHAPES,
  SIZES,
  type BackgroundKind,
  type Colour,
  type Position,
  type Shape,
  type Size,
} from './vocabulary.ts';
