/**
 * The default-size captioner the domain-gate benchmark measures: `count` scenes from the
 * project's sample generator (processors/synthetic, 64x64 PNG, the trainer's input size), split
 * 80/10/10, trained with the trainer's `default` preset and exported to ONNX. Cached by its
 * arguments under the captionflow cache, so a second run of the benchmark only measures.
 *
 * Usage: npx tsx tests/bench/domain-gate-model.ts [count=1500] [epochs=20] [config=default]
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateScenes } from '../../processors/synthetic/index.ts';
import { runCommand, trainerPython } from '../fixtures/run-command.ts';

const TRAINER_DIR = fileURLToPath(new URL('../../trainer/', import.meta.url));

/** The seed of the training scenes; held-out scenes use another. */
export const TRAIN_SEED = 7;

/** Where a trained model and its data live. */
export interface BenchModel {
  readonly dir: string;
  /** The ONNX export folder. */
  readonly export: string;
  /** The trainer manifest (absolute image paths, splits). */
  readonly manifest: string;
}

/** Build (or reuse) the model; logs go to stderr. */
export async function benchModel(count: number, epochs: number, config: 'tiny' | 'default'): Promise<BenchModel> {
  const cache = process.env.CAPTIONFLOW_CACHE ?? join(homedir(), '.cache', 'captionflow');
  const dir = join(cache, `domain-gate-bench-${config}-${count}-${epochs}-s${TRAIN_SEED}`);
  const model: BenchModel = { dir, export: join(dir, 'onnx'), manifest: join(dir, 'data', 'manifest.json') };
  if (existsSync(join(dir, '.complete'))) return model;
  // A folder without .complete is a build that died part-way: start over.
  await rm(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'data', 'images'), { recursive: true });
  const items = [];
  let i = 0;
  for await (const scene of generateScenes({ seed: TRAIN_SEED, count, size: 64 })) {
    const file = join(dir, 'data', 'images', `${scene.id}.png`);
    await writeFile(join(tmp, 'data', 'images', `${scene.id}.png`), scene.image);
    const split = i % 10 === 8 ? 'val' : i % 10 === 9 ? 'test' : 'train';
    items.push({ id: scene.id, split, image: file, captions: [...scene.captions] });
    i++;
  }
  // Paths in the manifest name the final folder; the trainer reads them after the rename.
  await writeFile(join(tmp, 'data', 'manifest.json'), JSON.stringify({ datasetVersion: `synthetic-${TRAIN_SEED}-${count}`, items }));
  await rename(tmp, dir);
  const python = await trainerPython();
  const run = async (args: string[]): Promise<void> => {
    console.error(`domain-gate bench: captionflow_trainer ${args.join(' ')}`);
    const out = await runCommand(python, ['-m', 'captionflow_trainer', ...args], { cwd: TRAINER_DIR });
    if (out.code !== 0) throw new Error(`trainer ${args[0]} failed (exit ${String(out.code)}):\n${out.stderr.slice(-3000)}`);
  };
  await run(['train', '--manifest', model.manifest, '--out', join(dir, 'checkpoint'), '--config', config, '--epochs', String(epochs)]);
  await run(['export', '--checkpoint', join(dir, 'checkpoint'), '--out', model.export]);
  await writeFile(join(dir, '.complete'), '');
  return model;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [count = '1500', epochs = '20', config = 'default'] = process.argv.slice(2);
  const m = await benchModel(Number(count), Number(epochs), config === 'tiny' ? 'tiny' : 'default');
  console.log(JSON.stringify(m));
}
