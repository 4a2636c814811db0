/**
 * The `CAPTIONFLOW_*` environment (runtime/config.ts ENV_KEYS) that points captionflow at the
 * servers `up` started, derived from their `CF_*` env (which the tests keep reading). With all
 * four servers up, the mode is `distributed`.
 */
import type { ServiceEnv } from './service.ts';

/** Which `CF_*` variable feeds which `CAPTIONFLOW_*` variable. */
export const CAPTIONFLOW_FROM_CF: Readonly<Record<string, string>> = {
  CF_KAFKA_BROKERS: 'CAPTIONFLOW_KAFKA_BROKERS',
  CF_SCHEMA_REGISTRY_URL: 'CAPTIONFLOW_SCHEMA_REGISTRY_URL',
  CF_S3_ENDPOINT: 'CAPTIONFLOW_S3_ENDPOINT',
  CF_S3_ACCESS_KEY: 'CAPTIONFLOW_S3_ACCESS_KEY',
  CF_S3_SECRET_KEY: 'CAPTIONFLOW_S3_SECRET_KEY',
  CF_S3_REGION: 'CAPTIONFLOW_S3_REGION',
  CF_MONGO_URL: 'CAPTIONFLOW_MONGO_URL',
};

const DISTRIBUTED_NEEDS = ['CF_KAFKA_BROKERS', 'CF_SCHEMA_REGISTRY_URL', 'CF_S3_ENDPOINT', 'CF_MONGO_URL'];

/** The `CAPTIONFLOW_*` variables for `env` (only those whose server is up). */
export function captionflowEnv(env: ServiceEnv): Record<string, string> {
  const out: Record<string, string> = {};
  if (DISTRIBUTED_NEEDS.every((k) => env[k] !== undefined)) out.CAPTIONFLOW_MODE = 'distributed';
  for (const [cf, cap] of Object.entries(CAPTIONFLOW_FROM_CF)) {
    const v = env[cf];
    if (v !== undefined) out[cap] = v;
  }
  return out;
}

/** `KEY=value` lines (dotenv, `node --env-file`, compose `env_file`); values are written raw, one per line. */
export function envFileText(env: Record<string, string>): string {
  for (const [k, v] of Object.entries(env)) if (/[\r\n]/.test(v)) throw new TypeError(`${k}: a value with a line break cannot go in an env file`);
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}
