import cliProgress from 'cli-progress';
import type { Logger } from '../../runtime/logger.ts';

/** A progress reporter: a bar on a terminal, periodic log lines otherwise (CI, pipes). */
export interface Progress {
  /** `detail` is shown after the bar (e.g. `epoch 2/8 loss 1.93`). */
  update(done: number, extra?: Record<string, number | string>, detail?: string): void;
  /** The total can grow or be learned late (training reports its steps with the first event). */
  setTotal(total: number): void;
  stop(): void;
}

/** Create a progress reporter for `total` units of `what`. */
export function progress(what: string, total: number, logger: Logger): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${what.padEnd(12)} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left {detail}`, stream: process.stderr, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return {
      update: (done, _extra, detail) => bar.update(done, { detail: detail ?? '' }),
      setTotal: (n) => bar.setTotal(n),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let max = total;
  return {
    update: (done, extra = {}, detail) => {
      if (Date.now() - last < 2_000 && done < max) return;
      last = Date.now();
      logger.info({ progress: what, done, total: max, ...extra }, `${what}: ${done}/${max}${detail === undefined ? '' : ` ${detail}`}`);
    },
    setTotal: (n) => void (max = n),
    stop: () => undefined,
  };
}

/** Progress of a training run from the trainer's events (`progress` with step/steps, epoch/epochs, loss). */
export function trainingProgress(logger: Logger): { onEvent: (e: { event: string; [k: string]: unknown }) => void; stop: () => void } {
  let bar: Progress | undefined;
  return {
    onEvent: (e) => {
      if (e.event !== 'progress') return;
      const steps = Number(e.steps);
      const step = Number(e.step);
      if (!Number.isFinite(steps) || !Number.isFinite(step)) return;
      bar ??= progress('train', steps, logger);
      bar.setTotal(steps);
      const loss = typeof e.loss === 'number' ? ` loss ${e.loss.toFixed(3)}` : '';
      bar.update(step, { epoch: Number(e.epoch), epochs: Number(e.epochs), ...(typeof e.loss === 'number' ? { loss: e.loss } : {}) }, `| epoch ${String(e.epoch)}/${String(e.epochs)}${loss}`);
    },
    stop: () => bar?.stop(),
  };
}
