/**
 * How a running import shows its progress: a `cli-progress` bar on a terminal, a JSON line every
 * few seconds otherwise (CI logs, `nohup`, pipes), so a long import is never silent and never
 * floods a log file with carriage-return frames.
 */
import cliProgress from 'cli-progress';
import type { ImportProgress } from './importer.ts';

/** Receives progress updates; `stop` draws the final state and releases the terminal/timer. */
export interface ProgressDisplay {
  update(progress: ImportProgress): void;
  stop(): void;
}

/** Options of {@link createProgressDisplay}. */
export interface ProgressDisplayOptions {
  /** Where progress goes (stderr in the CLI, so stdout keeps only the summary). */
  readonly stream: NodeJS.WritableStream;
  /** Draw a bar (terminal) or print JSON lines (anything else). */
  readonly tty: boolean;
  /** Period of the JSON lines (ignored on a terminal). */
  readonly intervalMs: number;
  /** Milliseconds clock, for the rate (default `Date.now`). */
  readonly now?: () => number;
}

/** A progress display for a terminal or for a log. */
export function createProgressDisplay(options: ProgressDisplayOptions): ProgressDisplay {
  return options.tty ? barDisplay(options) : jsonLineDisplay(options);
}

function barDisplay(options: ProgressDisplayOptions): ProgressDisplay {
  const bar = new cliProgress.SingleBar(
    {
      stream: options.stream,
      format:
        'import |{bar}| {percentage}% | {value}/{total} | failed {failed} | skipped {skipped} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = { failed: p.failed, skipped: p.skipped };
      if (!started) {
        bar.start(p.total, p.done, payload);
        started = true;
      } else bar.update(p.done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

function jsonLineDisplay(options: ProgressDisplayOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const startedAt = now();
  let last: ImportProgress | undefined;
  let firstSkipped = 0;
  const print = (): void => {
    if (last === undefined) return;
    const elapsed = (now() - startedAt) / 1000;
    // Skipped images cost nothing: the rate counts only the images this run actually handled.
    const handled = last.done - firstSkipped;
    options.stream.write(
      `${JSON.stringify({
        msg: 'import progress',
        ...last,
        elapsedSeconds: Math.round(elapsed * 10) / 10,
        imagesPerSecond: elapsed > 0 ? Math.round((handled / elapsed) * 10) / 10 : null,
      })}\n`,
    );
  };
  const timer = setInterval(print, options.intervalMs);
  // The import's own work keeps the process alive; the progress timer must not.
  timer.unref();
  let stopped = false;
  return {
    update(p) {
      if (last === undefined) firstSkipped = p.skipped;
      last = p;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      print();
    },
  };
}
