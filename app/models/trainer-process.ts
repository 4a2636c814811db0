import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '../../schemas/errors.ts';
import type { Logger } from '../../runtime/logger.ts';

/**
 * The package root: the nearest folder above this module with a package.json. This module sits
 * at app/models/ in a checkout and at dist/app/models/ in the built package, so a fixed `../..`
 * would miss trainer/ (which is Python, shipped beside dist/, not compiled into it).
 */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new PipelineError(ErrorCodes.INTERNAL, `no package.json above ${from}: cannot find trainer/`);
  }
}

let trainer: string | undefined;
/** trainer/ of this package, found on first use so a broken layout fails training, not startup. */
function trainerDir(): string {
  return (trainer ??= join(packageRoot(dirname(fileURLToPath(import.meta.url))), 'trainer'));
}

let python: Promise<string> | undefined;

/** Run a command, streaming stdout lines to `onLine`; resolves with the exit code and the stderr tail. */
function run(cmd: string, args: readonly string[], options: { cwd: string; onLine: (line: string) => void; onErr?: (line: string) => void; signal?: AbortSignal; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stderrTail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(options.signal ? { signal: options.signal } : {}) });
    const tail: string[] = [];
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      let i;
      while ((i = out.indexOf('\n')) >= 0) {
        options.onLine(out.slice(0, i));
        out = out.slice(i + 1);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
      let i;
      while ((i = err.indexOf('\n')) >= 0) {
        const line = err.slice(0, i);
        err = err.slice(i + 1);
        tail.push(line);
        if (tail.length > 30) tail.shift();
        options.onErr?.(line);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (out !== '') options.onLine(out);
      resolve({ code: code ?? 1, stderrTail: tail });
    });
  });
}

/**
 * The trainer's Python: `trainer/setup-venv.sh` creates (once, cached outside the repo) or reuses
 * the venv with JAX/Flax/Optax and prints its python path last.
 */
export function trainerPython(logger: Logger): Promise<string> {
  python ??= (async () => {
    let last = '';
    const { code, stderrTail } = await run('bash', ['setup-venv.sh'], {
      cwd: trainerDir(),
      onLine: (line) => {
        if (line.trim() !== '') last = line.trim();
      },
      onErr: (line) => logger.debug({ component: 'setup-venv' }, line),
    });
    if (code !== 0 || last === '') {
      throw new PipelineError(ErrorCodes.TRAINING_FAILED, `trainer environment setup failed (exit ${code}): ${stderrTail.slice(-5).join(' | ')}`);
    }
    return last;
  })();
  python.catch(() => (python = undefined));
  return python;
}

/** A line of the trainer's JSON event stream. */
export interface TrainerEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/**
 * Run `python -m captionflow_trainer <args>` and stream its JSON events (progress, done) to
 * `onEvent`; non-JSON lines and stderr go to the log. A non-zero exit is TRAINING_FAILED with
 * the tail of stderr.
 */
export async function runTrainer(args: readonly string[], options: { logger: Logger; onEvent?: (e: TrainerEvent) => void; signal?: AbortSignal }): Promise<TrainerEvent[]> {
  const py = await trainerPython(options.logger);
  const events: TrainerEvent[] = [];
  const { code, stderrTail } = await run(py, ['-m', 'captionflow_trainer', ...args], {
    cwd: trainerDir(),
    env: { PYTHONUNBUFFERED: '1' },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onLine: (line) => {
      if (line.trim() === '') return;
      try {
        const e = JSON.parse(line) as TrainerEvent;
        events.push(e);
        options.onEvent?.(e);
      } catch {
        options.logger.debug({ component: 'trainer' }, line);
      }
    },
    onErr: (line) => options.logger.debug({ component: 'trainer' }, line),
  });
  if (code !== 0) {
    throw new PipelineError(ErrorCodes.TRAINING_FAILED, `trainer ${args[0]} failed (exit ${code}): ${stderrTail.slice(-5).join(' | ')}`, { context: { args: [...args] } });
  }
  return events;
}
