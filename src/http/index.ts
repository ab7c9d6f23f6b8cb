/** The HTTP endpoint of `meshca serve`: metrics, health, readiness and the trust bundle. */
export {
  createHttpServer,
  DEFAULT_HTTP_LIMITS,
  HTTP_PATHS,
  type HttpServer,
  type HttpServerOptions,
  type HttpServerLimits,
  type MetricsSource,
} from './http-server.js';
export {
  parseListenAddress,
  formatListenAddress,
  DEFAULT_HTTP_ADDRESS,
  type ListenAddress,
} from './listen-address.js';
export { buildSpiffeBundle, type SpiffeBundle, type SpiffeBundleKey } from './spiffe-bundle.js';
export { type TrustBundleSnapshot, type JwtSigningKey } from './trust-bundle-snapshot.js';
export { type Readiness } from './readiness.js';
export {
  ClientRateLimiter,
  DEFAULT_CLIENT_RATE_LIMIT,
  clientKey,
  type ClientRateLimitOptions,
} from './client-rate-limiter.js';
