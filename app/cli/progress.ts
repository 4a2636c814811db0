import cliProgress from 'cli-progress';
import type { Logger } from '../../runtime/logger.ts';

/** A progress reporter: a bar on a terminal, periodic JSON log lines otherwise (CI, pipes). */
export interface Progress {
  update(done: number, extra?: Record<string, number | string>): void;
  stop(): void;
}

/** Create a progress reporter for `total` units of `what`. */
export function progress(what: string, total: number, logger: Logger): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${what.padEnd(12)} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let last = 0;
  return {
    update: (done, extra = {}) => {
      if (Date.now() - last < 2_000 && done < total) return;
      last = Date.now();
      logger.info({ progress: what, done, total, ...extra }, `${what}: ${done}/${total}`);
    },
    stop: () => undefined,
  };
}
