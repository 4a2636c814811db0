import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

/** Structured JSON logger (pino). */
export type Logger = PinoLogger;

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'secretKey',
  'apiKey',
  'apiKeys',
  'token',
  'authorization',
  '*.password',
  '*.secret',
  '*.secretKey',
  '*.apiKey',
  '*.apiKeys',
  '*.token',
  '*.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

/** How log lines look: JSON for machines, readable lines for people at a terminal. */
export type LogFormat = 'json' | 'pretty';

/** JSON unless `destination` is a terminal (and `CAPTIONFLOW_LOG_FORMAT` does not say otherwise). */
export function defaultLogFormat(destination: NodeJS.WritableStream = process.stdout): LogFormat {
  const env = process.env.CAPTIONFLOW_LOG_FORMAT;
  if (env === 'json' || env === 'pretty') return env;
  return (destination as { isTTY?: boolean }).isTTY === true ? 'pretty' : 'json';
}

/**
 * Create the process logger, secrets redacted: JSON lines on stdout (or a destination), or —
 * `format: 'pretty'` — readable lines (time, level, message, then the fields) through
 * pino-pretty, synchronously, so a line is out before the process exits.
 */
export function createLogger(options: { level?: LevelWithSilent; name?: string; destination?: NodeJS.WritableStream; format?: LogFormat } = {}): Logger {
  const opts = {
    level: options.level ?? 'info',
    name: options.name ?? 'captionflow',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  const destination = options.destination ?? process.stdout;
  if ((options.format ?? 'json') === 'pretty') {
    const colorize = (destination as { isTTY?: boolean }).isTTY === true;
    return pino(opts, pretty({ destination, sync: true, colorize, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,name', singleLine: true }));
  }
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}

/** A logger that writes nothing (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
