import { hash } from 'node:crypto';

/**
 * A bounded LRU of tokens already verified, keyed by the SHA-256 of the token (the token itself
 * is a credential and is not kept). An entry lives until its own expiry, which the caller sets no
 * later than the token's `exp`, so a renewal storm verifies each token once.
 */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, { value: T; expiresAtMs: number }>();

  constructor(private readonly maxEntries: number) {}

  /** The hash a token is cached under. */
  static keyOf(token: string): string {
    // The one-shot hash (Node ≥ 20.12) makes no Hash object: about 1 µs less per request.
    return hash('sha256', token, 'base64url');
  }

  /** The cached value for a token key, if present and not expired at `nowMs`. */
  get(key: string, nowMs: number): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (nowMs >= entry.expiresAtMs) return undefined;
    // Re-inserting moves the entry to the young end of the Map's insertion order.
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Caches a value until `expiresAtMs`, evicting the least recently used entry when full. */
  set(key: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAtMs });
  }

  /** Number of entries held (expired ones included until touched or evicted). */
  get size(): number {
    return this.entries.size;
  }
}
