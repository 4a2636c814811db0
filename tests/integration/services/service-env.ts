/**
 * Shared helpers of the service integration tests: the `CF_*` env the suite runner passes
 * (from `deploy/services/manager.ts` `up()`), and unique names so that every test works on
 * fresh topics, buckets and collections.
 */
import { randomBytes } from 'node:crypto';

/** The env var's value, or undefined when the servers were not started for this run. */
export function serviceEnv(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The reason to skip a test when one of `names` is not set (false when all are). */
export function skipUnless(...names: string[]): string | false {
  const missing = names.filter((n) => serviceEnv(n) === undefined);
  return missing.length === 0
    ? false
    : `${missing.join(', ')} not set: start the servers with deploy/services (up)`;
}

/** The env var's value; throws when missing (call only from tests guarded by {@link skipUnless}). */
export function mustEnv(name: string): string {
  const v = serviceEnv(name);
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
}

/** A fresh name: `prefix-<time>-<random>`, lower case, valid as a topic, bucket or collection. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * Resolves once `check` returns without throwing; rethrows its last error after `timeoutMs`.
 * For conditions that a server reaches asynchronously (a rebalance, a scrape).
 */
export async function eventually(
  check: () => void | Promise<void>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * The environment of a captionflow app in distributed mode on the test servers, isolated under
 * `name` (topic prefix, bucket and database of its own). `overrides` replace single variables
 * (e.g. an S3 endpoint behind a proxy).
 */
export function distributedEnv(name: string, overrides: Record<string, string> = {}): Record<string, string | undefined> {
  const env = process.env;
  return {
    CAPTIONFLOW_MODE: 'distributed',
    CAPTIONFLOW_TOPIC_PREFIX: name,
    CAPTIONFLOW_KAFKA_BROKERS: env.CF_KAFKA_BROKERS,
    CAPTIONFLOW_SCHEMA_REGISTRY_URL: env.CF_SCHEMA_REGISTRY_URL,
    CAPTIONFLOW_S3_ENDPOINT: env.CF_S3_ENDPOINT,
    CAPTIONFLOW_S3_ACCESS_KEY: env.CF_S3_ACCESS_KEY,
    CAPTIONFLOW_S3_SECRET_KEY: env.CF_S3_SECRET_KEY,
    CAPTIONFLOW_S3_REGION: env.CF_S3_REGION,
    CAPTIONFLOW_S3_BUCKET: name,
    CAPTIONFLOW_MONGO_URL: env.CF_MONGO_URL,
    CAPTIONFLOW_MONGO_DATABASE: name.replace(/-/g, '_'),
    ...overrides,
  };
}
