import { captionScene } from './captions.ts';
import { resolveRunOptions, resolveSceneOptions, validateSeed } from './options.ts';
import type { GenerateScenesOptions, ResolvedSceneOptions, SceneOptions } from './options.ts';
import { deriveSceneSeed } from './random.ts';
import { renderScene } from './render.ts';
import { sampleSceneGraph } from './scene-graph.ts';
import type { SceneGraph } from './scene-graph.ts';

/** A scene's content and captions, without pixels. */
export interface SceneDescription extends SceneGraph {
  /** 'syn-' and the seed in 8 hex digits; unique within a run, stable across runs. */
  readonly id: string;
  /** Five reference captions (see `captionScene`). */
  readonly captions: readonly string[];
}

/** A rendered synthetic scene: image bytes, reference captions and the graph they came from. */
export interface SyntheticScene extends SceneDescription {
  /** Encoded image (PNG or JPEG, see `format`). */
  readonly image: Uint8Array;
  readonly format: 'png' | 'jpeg';
  readonly width: number;
  readonly height: number;
}

/**
 * Describe the scene of one seed (graph and captions) without drawing it: cheap, synchronous,
 * and identical to what {@link generateScene} returns for the same seed and concept options.
 * @throws PipelineError `CONFIG_INVALID` on a bad seed or options.
 */
export function sampleScene(seed: number, options: SceneOptions = {}): SceneDescription {
  return describe(validateSeed(seed), resolveSceneOptions(options));
}

/**
 * Generate one scene: same seed and options → byte-identical image and identical captions.
 * @throws PipelineError `CONFIG_INVALID` on a bad seed or options.
 */
export async function generateScene(seed: number, options: SceneOptions = {}): Promise<SyntheticScene> {
  const resolved = resolveSceneOptions(options);
  return render(describe(validateSeed(seed), resolved), resolved);
}

/**
 * Generate `count` scenes, scene i from seed `deriveSceneSeed(seed, i)`, one at a time (each
 * is rendered only when the consumer asks for it, so memory stays flat for any count).
 * Options are validated before the first scene: a bad option rejects the first `next()`.
 * @throws PipelineError `CONFIG_INVALID` on bad options.
 */
export async function* generateScenes(
  options: GenerateScenesOptions,
): AsyncGenerator<SyntheticScene, void, undefined> {
  const { seed, count, scene } = resolveRunOptions(options);
  for (let i = 0; i < count; i++) {
    yield await render(describe(deriveSceneSeed(seed, i), scene), scene);
  }
}

function describe(seed: number, options: ResolvedSceneOptions): SceneDescription {
  const graph = sampleSceneGraph(seed, options);
  return {
    id: `syn-${seed.toString(16).padStart(8, '0')}`,
    ...graph,
    captions: captionScene(graph.groups, graph.background),
  };
}

async function render(description: SceneDescription, options: ResolvedSceneOptions): Promise<SyntheticScene> {
  const image = await renderScene(description, options);
  return { ...description, image, format: options.format, width: options.width, height: options.height };
}
