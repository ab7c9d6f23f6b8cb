import { MeshcaError } from '../errors/index.js';
import { TokenBucketLimiter, type TakeResult } from '../ca-server/rate-limit/token-bucket-limiter.js';

/** Limits of ClientRateLimiter: the same for every route, counted per route. */
export interface ClientRateLimitOptions {
  /** Requests per second a client may make to one route, sustained. */
  readonly ratePerSecond: number;
  /** Requests a client may make to one route at once. */
  readonly burst: number;
  /** Most clients remembered per route; beyond it the least recent is forgotten. */
  readonly maxClients: number;
}

/** Defaults generous enough for a kubelet probe and a Prometheus scrape from the same node. */
export const DEFAULT_CLIENT_RATE_LIMIT: ClientRateLimitOptions = {
  ratePerSecond: 10,
  burst: 50,
  maxClients: 10_000,
};

/**
 * A token bucket per client IP and route, so a client hammering /metrics cannot starve the
 * kubelet's /healthz probe from the same address.
 */
export class ClientRateLimiter {
  private readonly byRoute = new Map<string, TokenBucketLimiter>();

  constructor(
    private readonly options: ClientRateLimitOptions,
    private readonly clock: () => number,
  ) {
    // Fail at construction, not on the first request.
    if (
      !(options.ratePerSecond > 0) ||
      !(options.burst >= 1) ||
      !Number.isInteger(options.maxClients) ||
      options.maxClients < 1
    ) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `the HTTP rate limit ${JSON.stringify(options)} is invalid: it needs ratePerSecond > 0, burst >= 1 and a whole maxClients >= 1`,
      );
    }
  }

  /** Takes one request for `client` on `route`. */
  take(route: string, client: string): TakeResult {
    let limiter = this.byRoute.get(route);
    if (limiter === undefined) {
      limiter = new TokenBucketLimiter({ ...this.bucketOptions(), clock: this.clock });
      this.byRoute.set(route, limiter);
    }
    return limiter.take(client);
  }

  private bucketOptions(): { ratePerSecond: number; burst: number; maxKeys: number } {
    return {
      ratePerSecond: this.options.ratePerSecond,
      burst: this.options.burst,
      maxKeys: this.options.maxClients,
    };
  }
}

/** The client key of a remote address: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function clientKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.startsWith('::ffff:') && remoteAddress.includes('.')
    ? remoteAddress.slice(7)
    : remoteAddress;
}
