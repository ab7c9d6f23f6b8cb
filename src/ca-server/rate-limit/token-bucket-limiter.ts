/** Options of TokenBucketLimiter. */
export interface TokenBucketOptions {
  /** Tokens added per second to each bucket. */
  readonly ratePerSecond: number;
  /** Bucket size: the burst a key may spend at once. */
  readonly burst: number;
  /** Most keys tracked; the least recently used is forgotten beyond this. */
  readonly maxKeys: number;
  /** Milliseconds since the epoch (or any monotonic clock). */
  readonly clock: () => number;
}

/** The outcome of one take. */
export type TakeResult =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * A token bucket per key (an identity), in bounded memory. Forgetting a key is the same as
 * giving it a full bucket, so eviction can only be generous: a caller needs `maxKeys` distinct
 * authenticated identities to win anything by it.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1) || !(options.maxKeys >= 1)) {
      throw new RangeError('token bucket needs ratePerSecond > 0, burst >= 1 and maxKeys >= 1');
    }
  }

  /** Takes one token from `key`'s bucket if it has one. */
  take(key: string): TakeResult {
    const now = this.options.clock();
    const { ratePerSecond, burst } = this.options;
    const prev = this.buckets.get(key);
    let tokens = burst;
    if (prev !== undefined) {
      this.buckets.delete(key);
      // A clock that steps back adds nothing rather than a negative amount.
      tokens = Math.min(burst, prev.tokens + (Math.max(0, now - prev.atMs) * ratePerSecond) / 1000);
    } else if (this.buckets.size >= this.options.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done !== true) this.buckets.delete(oldest.value);
    }
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, atMs: now });
      return { allowed: true };
    }
    this.buckets.set(key, { tokens, atMs: now });
    return { allowed: false, retryAfterMs: Math.ceil(((1 - tokens) * 1000) / ratePerSecond) };
  }

  /** Number of keys tracked. */
  get size(): number {
    return this.buckets.size;
  }
}
