/**
 * Per-API-key rate limiting of the HTTP edge: one token bucket per key. A bucket holds up to
 * `burst` tokens and gains `perSecond` tokens a second; a request takes one, and a request that
 * finds none is refused with 429 and the seconds until a token is back (`Retry-After`).
 *
 * Our own (about forty lines) rather than @fastify/rate-limit: that plugin counts fixed windows
 * per key, which lets twice the limit through at a window edge; a token bucket is what the issue
 * asks for and what clients' backoff expects. Buckets live in this process: with N replicas behind
 * nginx a key gets up to N times the rate (nginx's `limit_req` is the shared limit).
 */
import { createHash } from 'node:crypto';

/** Settings of the limiter. */
export interface RateLimitOptions {
  /** Requests a key may make at once (the bucket's size). */
  readonly burst: number;
  /** Requests a key may make per second, sustained (the refill rate). */
  readonly perSecond: number;
  /** Most buckets kept; the least recently used are dropped beyond it (a dropped key starts full). */
  readonly maxKeys?: number;
}

/** The answer for one request. */
export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets by key. `now` is in milliseconds (a fake clock in tests). */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(options.burst >= 1) || !Number.isFinite(options.burst))
      throw new TypeError(`rate limit burst must be >= 1, got ${options.burst}`);
    if (!(options.perSecond > 0) || !Number.isFinite(options.perSecond))
      throw new TypeError(`rate limit perSecond must be > 0, got ${options.perSecond}`);
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** Take a token from `key`'s bucket. */
  take(key: string): RateDecision {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.options.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      bucket.tokens = Math.min(
        this.options.burst,
        bucket.tokens + ((now - bucket.at) / 1000) * this.options.perSecond,
      );
      bucket.at = now;
      this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return {
      ok: false,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.perSecond)),
    };
  }
}

/** The bucket key of an API key: its hash, so raw keys are not kept in memory longer than needed. */
export function bucketKeyOf(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}
