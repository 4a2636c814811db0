import { existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateScenes, sceneFileName, toCocoCaptions, type SyntheticScene } from '../processors/synthetic/index.ts';
import type { Logger } from '../runtime/logger.ts';
import { progress } from './cli/progress.ts';

/** A generated sample dataset in COCO-captions layout. */
export interface SampleDataset {
  readonly dir: string;
  readonly annotations: string;
  readonly images: string;
  readonly count: number;
}

/**
 * Generate (once) a synthetic captioned-scene dataset in COCO layout under `root`: the sample
 * data of the embedded quick start, ingested through the ordinary bulk-import door.
 */
export async function ensureSampleDataset(
  root: string,
  options: { count: number; seed: number; size: number; holdOut?: { shape?: string; colour?: string } },
  logger: Logger,
): Promise<SampleDataset> {
  const hold = options.holdOut === undefined ? '' : `-without-${[options.holdOut.colour, options.holdOut.shape].filter(Boolean).join('-')}`;
  const dir = join(root, `synthetic-s${options.seed}-n${options.count}-${options.size}px${hold}`);
  const annotations = join(dir, 'captions.json');
  const images = join(dir, 'images');
  if (existsSync(annotations)) return { dir, annotations, images, count: options.count };
  mkdirSync(images, { recursive: true });
  const bar = progress('generate', options.count, logger);
  const scenes: SyntheticScene[] = [];
  for await (const scene of generateScenes({ seed: options.seed, count: options.count, size: options.size, ...(options.holdOut === undefined ? {} : { holdOut: options.holdOut }) })) {
    writeFileSync(join(images, sceneFileName(scene)), scene.image);
    scenes.push(scene);
    bar.update(scenes.length);
  }
  bar.stop();
  // The annotations file is written last and atomically: its presence means the set is complete.
  writeFileSync(`${annotations}.tmp`, JSON.stringify(toCocoCaptions(scenes)));
  renameSync(`${annotations}.tmp`, annotations);
  logger.info({ dir, count: scenes.length }, 'sample dataset generated');
  return { dir, annotations, images, count: scenes.length };
}
