/** A login token of an upstream (Vault) and when it stops being usable. */
export interface UpstreamToken {
  readonly token: string;
  /** When to log in again; undefined for a token that does not expire (or whose lease is unknown). */
  readonly expiresAt?: Date;
}

/**
 * Login tokens by issuer, so that signing does not log in every time: createIssuer builds a new
 * Issuer per request, and the cache is what outlives it. A key names the issuer and its auth
 * settings, so a changed spec never reuses an old token.
 */
export class UpstreamTokenCache {
  readonly #tokens = new Map<string, UpstreamToken>();
  /** Tokens are dropped this long before their lease ends, so a request never races the expiry. */
  readonly #marginMs: number;

  constructor(options: { marginMs?: number } = {}) {
    this.#marginMs = options.marginMs ?? 30_000;
  }

  /** The token for `key` still usable at `now`, or undefined. */
  get(key: string, now: Date): UpstreamToken | undefined {
    const token = this.#tokens.get(key);
    if (token === undefined) return undefined;
    if (token.expiresAt !== undefined && now.getTime() >= token.expiresAt.getTime() - this.#marginMs) {
      this.#tokens.delete(key);
      return undefined;
    }
    return token;
  }

  /** Keeps a token. */
  set(key: string, token: UpstreamToken): void {
    this.#tokens.set(key, token);
  }

  /** Forgets a token the upstream refused. */
  delete(key: string): void {
    this.#tokens.delete(key);
  }

  /** How many tokens are kept. */
  get size(): number {
    return this.#tokens.size;
  }
}
