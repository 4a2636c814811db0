import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

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

/** Create the process logger: JSON lines on stdout (or a destination), secrets redacted. */
export function createLogger(options: { level?: LevelWithSilent; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts = {
    level: options.level ?? 'info',
    name: options.name ?? 'captionflow',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}

/** A logger that writes nothing (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
