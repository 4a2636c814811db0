/**
 * The captioner of the serving benchmark: the trainer's architecture at a realistic size (128 px,
 * 4 encoder stages, a 3-layer decoder of width 256, a 2048-word vocabulary; see
 * peers/make_bench_model.py), exported by the trainer's own ONNX export. Built once per content
 * of the script and the trainer's sources into the captionflow cache
 * (`serving-bench-model-<digest>`), in a temporary folder renamed into place.
 * `CAPTIONFLOW_BENCH_MODEL=tiny` uses the tests' trained tiny export instead (64 px, 89k parameters).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, trainerPython } from '../fixtures/run-command.ts';
import { trainerExport } from '../fixtures/onnx/trainer-export.ts';

const SCRIPT = fileURLToPath(new URL('./peers/make_bench_model.py', import.meta.url));
const TRAINER_DIR = fileURLToPath(new URL('../../trainer/', import.meta.url));

/** A bundle folder and what it is. */
export interface BenchModel {
  /** The export folder: encoder.onnx, decoder.onnx, model.json, tokenizer.json. */
  readonly dir: string;
  /** One line for the benchmark's output. */
  readonly summary: string;
}

async function digest(): Promise<string> {
  const hash = createHash('sha256').update(await readFile(SCRIPT));
  const pkg = join(TRAINER_DIR, 'captionflow_trainer');
  for (const name of (await readdir(pkg)).filter((n) => n.endsWith('.py')).sort()) {
    hash.update(name).update(await readFile(join(pkg, name)));
  }
  hash.update(await readFile(join(TRAINER_DIR, 'requirements.txt')));
  return hash.digest('hex').slice(0, 16);
}

async function describe(dir: string, what: string): Promise<BenchModel> {
  const model = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
    paramCount: number;
    preprocess: { width: number; height: number };
    vocabSize: number;
    maxLength: number;
  };
  return {
    dir,
    summary: `${what}: ${(model.paramCount / 1e6).toFixed(2)}M parameters, ${model.preprocess.width}x${model.preprocess.height} input, vocabulary ${model.vocabSize}, max length ${model.maxLength} (${dir})`,
  };
}

/** Build (or reuse) the benchmark's captioner. */
export async function benchModel(): Promise<BenchModel> {
  const tiny = await trainerExport();
  if (process.env.CAPTIONFLOW_BENCH_MODEL === 'tiny')
    return describe(tiny.dir, "the tests' tiny trained export");
  const cache = process.env.CAPTIONFLOW_CACHE ?? join(homedir(), '.cache', 'captionflow');
  const root = join(cache, `serving-bench-model-${await digest()}`);
  const what = "the trainer's architecture at serving size, untrained weights (captions run to max length)";
  if (existsSync(join(root, '.complete'))) return describe(join(root, 'onnx'), what);
  const python = await trainerPython();
  await mkdir(cache, { recursive: true });
  const tmp = `${root}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  console.error('serving bench: building the benchmark captioner (about a minute)…');
  const made = await runCommand(
    'env',
    [`PYTHONPATH=${TRAINER_DIR}`, python, SCRIPT, tmp, join(tiny.dir, 'tokenizer.json')],
    { cwd: TRAINER_DIR },
  );
  if (made.code !== 0) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`make_bench_model.py failed (exit ${String(made.code)}):\n${made.stderr.slice(-3000)}`);
  }
  await writeFile(join(tmp, '.complete'), '');
  try {
    await rename(tmp, root);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(root, '.complete'))) throw err;
  }
  for (const name of await readdir(cache)) {
    const path = join(cache, name);
    if (name.startsWith('serving-bench-model-') && !name.includes('.tmp-') && path !== root) {
      await rm(path, { recursive: true, force: true });
    }
  }
  return describe(join(root, 'onnx'), what);
}
