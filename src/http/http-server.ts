import { createHash } from 'node:crypto';
import {
  STATUS_CODES,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MeshcaError, toMeshcaError } from '../errors/index.js';
import { LOG_FIELDS, NOOP_LOGGER, type Logger } from '../telemetry/index.js';
import {
  ClientRateLimiter,
  DEFAULT_CLIENT_RATE_LIMIT,
  clientKey,
  type ClientRateLimitOptions,
} from './client-rate-limiter.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from './listen-address.js';
import type { Readiness } from './readiness.js';
import { buildSpiffeBundle } from './spiffe-bundle.js';
import type { TrustBundleSnapshot } from './trust-bundle-snapshot.js';

/** Where /metrics text comes from; a prom-client Registry is one. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Transport limits; every one bounds what a slow or hostile client can hold. */
export interface HttpServerLimits {
  /** Largest request head (request line plus headers), bytes; larger gets 431. */
  readonly maxHeaderSize: number;
  /** Time allowed to receive the whole request head; a slower client gets 408 and is closed. */
  readonly headersTimeoutMs: number;
  /** Time allowed to receive the whole request. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs: number;
  /** How often the head and request timeouts are checked (Node checks on an interval). */
  readonly connectionsCheckingIntervalMs: number;
  /** A socket with no traffic for this long is destroyed. */
  readonly idleTimeoutMs: number;
  /** Most connections at once; Node closes any connection beyond this as soon as it is accepted. */
  readonly maxConnections: number;
  /** Requests served on one connection before it is closed. */
  readonly maxRequestsPerSocket: number;
  /** On close, how long in-flight requests may take before their connections are cut. */
  readonly closeGraceMs: number;
}

/** Defaults: small, since every answer here is small and every client is a probe or a scraper. */
export const DEFAULT_HTTP_LIMITS: HttpServerLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  connectionsCheckingIntervalMs: 1_000,
  idleTimeoutMs: 60_000,
  maxConnections: 1_024,
  maxRequestsPerSocket: 1_000,
  closeGraceMs: 5_000,
};

/** Options of createHttpServer. */
export interface HttpServerOptions {
  /** Source of GET /metrics. */
  readonly metrics: MetricsSource;
  /** Answer of GET /readyz. */
  readonly readiness: () => Readiness | Promise<Readiness>;
  /** The current trust bundle, or undefined while there is none; serves /bundle.pem and the SPIFFE bundle. */
  readonly bundle: () => TrustBundleSnapshot | undefined | Promise<TrustBundleSnapshot | undefined>;
  /** Milliseconds, for the rate limiter. */
  readonly clock: () => number;
  /** Per client IP and route. */
  readonly rateLimit?: Partial<ClientRateLimitOptions>;
  readonly limits?: Partial<HttpServerLimits>;
  readonly logger?: Logger;
}

/** The HTTP server of meshca: metrics, health and the trust bundle. */
export interface HttpServer {
  /** Starts listening on `host:port` (port 0 picks a free port) and resolves with the bound address. */
  listen(address: string | ListenAddress): Promise<ListenAddress>;
  /** Stops accepting, lets in-flight requests finish within the grace time, then closes. */
  close(): Promise<void>;
  /** The bound address, while listening. */
  address(): ListenAddress | undefined;
}

/** What a route answers; `send` writes it. */
interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Answer 304 to a matching If-None-Match. */
  readonly etag?: boolean;
}

type Route = () => Promise<Reply>;

/** Paths served, and the one route name a request to any other path is counted under. */
export const HTTP_PATHS = [
  '/metrics',
  '/healthz',
  '/readyz',
  '/bundle.pem',
  '/.well-known/spiffe/bundle',
] as const;
const OTHER_ROUTE = 'other';
const ALLOW = 'GET, HEAD';

const text = (status: number, body: string, headers?: Record<string, string>): Reply => ({
  status,
  contentType: 'text/plain; charset=utf-8',
  body: body.endsWith('\n') ? body : `${body}\n`,
  ...(headers === undefined ? {} : { headers }),
});

const json = (status: number, value: unknown, etag = false): Reply => ({
  status,
  contentType: 'application/json',
  body: `${JSON.stringify(value)}\n`,
  etag,
});

/** A provider failed: a retryable failure is "try later" (503), anything else our fault (500). */
function providerFailure(logger: Logger, err: unknown, what: string): Reply {
  const e = toMeshcaError(err);
  logger.warn(what, { [LOG_FIELDS.error]: e });
  return text(e.retryable ? 503 : 500, `${what}: ${e.message}`);
}

/**
 * The HTTP endpoint of `meshca serve` on node:http: GET/HEAD only, no request bodies, bounded
 * heads, timeouts on slow clients, a rate limit per client IP and route, and no path that can
 * crash the process on a malformed request.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const limits = checkedLimits({ ...DEFAULT_HTTP_LIMITS, ...options.limits });
  const logger = (options.logger ?? NOOP_LOGGER).child({ [LOG_FIELDS.component]: 'http' });
  const limiter = new ClientRateLimiter(
    { ...DEFAULT_CLIENT_RATE_LIMIT, ...options.rateLimit },
    options.clock,
  );

  const routes: Record<(typeof HTTP_PATHS)[number], Route> = {
    '/metrics': async () => {
      try {
        const body = await options.metrics.metrics();
        return { status: 200, contentType: options.metrics.contentType, body };
      } catch (err) {
        return providerFailure(logger, err, 'collecting metrics failed');
      }
    },
    '/healthz': async () => text(200, 'ok'),
    '/readyz': async () => {
      let readiness: Readiness;
      try {
        readiness = await options.readiness();
      } catch (err) {
        readiness = { ready: false, reasons: [`the readiness check failed: ${toMeshcaError(err).message}`] };
      }
      const ready = readiness.ready && readiness.reasons.length === 0;
      return json(ready ? 200 : 503, { ready, reasons: readiness.reasons });
    },
    '/bundle.pem': async () => {
      const snapshot = await loadBundle();
      if ('status' in snapshot) return snapshot;
      const reply = text(200, snapshot.roots.map((c) => c.pem.trimEnd()).join('\n'));
      return { ...reply, contentType: 'application/x-pem-file', etag: true };
    },
    '/.well-known/spiffe/bundle': async () => {
      const snapshot = await loadBundle();
      if ('status' in snapshot) return snapshot;
      try {
        return json(200, buildSpiffeBundle(snapshot), true);
      } catch (err) {
        return providerFailure(logger, err, 'the trust bundle cannot be published');
      }
    },
  };

  async function loadBundle(): Promise<TrustBundleSnapshot | Reply> {
    let snapshot: TrustBundleSnapshot | undefined;
    try {
      snapshot = await options.bundle();
    } catch (err) {
      return providerFailure(logger, err, 'reading the trust bundle failed');
    }
    if (snapshot === undefined || snapshot.roots.length === 0) {
      return text(503, 'no trust bundle is loaded yet: wait for the CA to initialise, or run meshca init', {
        'retry-after': '5',
      });
    }
    return snapshot;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url);
    const route = path !== undefined && (HTTP_PATHS as readonly string[]).includes(path) ? path : OTHER_ROUTE;
    const client = clientKey(req.socket.remoteAddress);

    const taken = limiter.take(route, client);
    if (!taken.allowed) {
      const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
      return send(
        req,
        res,
        text(429, `too many requests to ${route} from ${client}: retry after ${seconds} s`, {
          'retry-after': String(seconds),
        }),
      );
    }
    // No route takes a body; refusing them unread keeps memory per request bounded by the head.
    if (hasBody(req)) {
      return send(
        req,
        res,
        text(413, 'request bodies are not accepted: send GET or HEAD without a body', {
          connection: 'close',
        }),
      );
    }
    if (path === undefined)
      return send(
        req,
        res,
        text(400, 'the request target is not a path: send an origin-form target such as /metrics'),
      );
    if (route === OTHER_ROUTE)
      return send(
        req,
        res,
        text(404, `no such path ${JSON.stringify(path.slice(0, 200))}: try ${HTTP_PATHS.join(', ')}`),
      );
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(
        req,
        res,
        text(405, `method ${req.method ?? ''} is not allowed on ${path}: use GET or HEAD`, { allow: ALLOW }),
      );
    }
    return send(req, res, await routes[route as (typeof HTTP_PATHS)[number]]());
  }

  const server: Server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        // Only a bug gets here: every route turns its own failures into replies.
        logger.error('request failed', { [LOG_FIELDS.path]: pathOf(req.url) ?? '', [LOG_FIELDS.error]: err });
        if (!res.headersSent) send(req, res, text(500, 'internal error: see the meshca log'));
        else res.destroy();
      });
    },
  );
  server.maxHeadersCount = 100;
  server.maxConnections = limits.maxConnections;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.setTimeout(limits.idleTimeoutMs);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    logger.debug('malformed or slow request', {
      [LOG_FIELDS.remoteAddress]: socket.remoteAddress ?? '',
      [LOG_FIELDS.errorCode]: err.code ?? '',
    });
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
    socket.destroySoon();
  });

  const onAcceptError = (err: NodeJS.ErrnoException): void => {
    logger.error('cannot accept a connection; still listening', {
      [LOG_FIELDS.errorCode]: err.code ?? '',
      [LOG_FIELDS.error]: err,
    });
  };

  let bound: ListenAddress | undefined;

  return {
    async listen(address) {
      const wanted = typeof address === 'string' ? parseListenAddress(address) : address;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException): void => {
          reject(
            new MeshcaError(
              'INVALID_INPUT',
              `cannot listen on ${formatListenAddress(wanted)}: ${err.code ?? err.message}`,
              {
                hint: 'pick another --http-address, or stop the process that holds this one',
                cause: err,
              },
            ),
          );
        };
        server.once('error', onError);
        server.listen({ host: wanted.host, port: wanted.port }, () => {
          server.off('error', onError);
          // Once listening, an error is a failed accept (EMFILE, ENFILE): Node keeps the listener
          // and accepts again, so it is logged, never left to become an uncaught exception.
          if (!server.listeners('error').includes(onAcceptError)) server.on('error', onAcceptError);
          resolve();
        });
      });
      const info = server.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      logger.info('listening', { [LOG_FIELDS.address]: formatListenAddress(bound) });
      return bound;
    },

    async close() {
      if (!server.listening) return;
      bound = undefined;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), limits.closeGraceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
    },

    address: () => bound,
  };
}

/** Refuses limits Node would reject later or that would disable a protection. */
function checkedLimits(limits: HttpServerLimits): HttpServerLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || (value as number) <= 0) {
      throw new MeshcaError(
        'INVALID_INPUT',
        `the HTTP limit ${name} is ${String(value)}: it must be a positive whole number`,
      );
    }
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new MeshcaError(
      'INVALID_INPUT',
      `the HTTP headersTimeoutMs (${limits.headersTimeoutMs}) is longer than requestTimeoutMs (${limits.requestTimeoutMs}): make it shorter`,
    );
  }
  return limits;
}

/** The path of an origin-form (`/x?y`) or absolute-form (`http://h/x`) target, or undefined for anything else. */
function pathOf(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  if (target.startsWith('/')) {
    const end = target.search(/[?#]/);
    return end < 0 ? target : target.slice(0, end);
  }
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** True when the request says it carries a body (RFC 9112 §6.3: Transfer-Encoding, or a non-zero Content-Length). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length.trim() !== '0';
}

/** Writes a reply: Content-Length always, no body for HEAD (Node drops it), 304 for a matching ETag. */
function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(reply.body, 'utf8');
  const headers: Record<string, string> = {
    'content-type': reply.contentType,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    ...reply.headers,
  };
  let status = reply.status;
  if (reply.etag === true && status === 200) {
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    headers.etag = etag;
    headers['cache-control'] = 'no-cache';
    if (etagMatches(req.headers['if-none-match'], etag)) status = 304;
  }
  if (status === 304) {
    res.writeHead(304, { etag: headers.etag ?? '', 'cache-control': headers['cache-control'] ?? 'no-cache' });
    res.end();
    return;
  }
  headers['content-length'] = String(body.length);
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** RFC 9110 §13.1.2 If-None-Match: `*` or a list of entity tags compared weakly. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}
