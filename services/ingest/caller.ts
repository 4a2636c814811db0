import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

/**
 * Who made a request, for the `producer` of events and review provenance: `api-key:` and the
 * first 12 hex digits of the key's sha256. Stable per key, and the key itself never reaches
 * the log or the lake. `anonymous` when no key was presented.
 */
export function callerOf(req: FastifyRequest): string {
  const header = req.headers['x-api-key'];
  const auth = req.headers.authorization;
  const key =
    typeof header === 'string' && header !== ''
      ? header
      : typeof auth === 'string' && auth.startsWith('Bearer ')
        ? auth.slice(7)
        : undefined;
  if (key === undefined) return 'anonymous';
  return `api-key:${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}
