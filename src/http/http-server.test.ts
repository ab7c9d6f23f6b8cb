import { Server as NetServer, connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MeshcaError } from '../errors/index.js';
import { parseCertificates } from '../pki/index.js';
import { makeRoot } from '../pki/testing/pki-fixtures.js';
import { createCaServerMetrics, createJsonLogger, createMetricsRegistry } from '../telemetry/index.js';
import { createHttpServer, type HttpServer, type HttpServerOptions } from './http-server.js';
import type { Readiness } from './readiness.js';
import type { SpiffeBundle } from './spiffe-bundle.js';
import type { TrustBundleSnapshot } from './trust-bundle-snapshot.js';

const root = makeRoot({ name: 'mesh root' }).certificate;
const nextRoot = makeRoot({ name: 'next mesh root' }).certificate;

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A running server on a free loopback port, with a fake clock and settable providers. */
async function start(overrides: Partial<HttpServerOptions> = {}) {
  const registry = createMetricsRegistry();
  const metrics = createCaServerMetrics(registry);
  const state = {
    now: 1_000_000,
    readiness: { ready: true, reasons: [] } as Readiness,
    bundle: { roots: [root], sequence: 3, refreshHintSeconds: 300 } as TrustBundleSnapshot | undefined,
  };
  const server = createHttpServer({
    metrics: registry,
    readiness: () => state.readiness,
    bundle: () => state.bundle,
    clock: () => state.now,
    ...overrides,
  });
  servers.push(server);
  const { port } = await server.listen('127.0.0.1:0');
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;
  return { server, port, url, state, metrics };
}

/** Sends raw bytes and collects everything the server writes until it closes the connection. */
function raw(port: number, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('latin1')) : reject(err),
    );
    socket.write(data);
  });
}

describe('createHttpServer: endpoints', () => {
  it('answers GET /healthz with 200 ok while the process runs', async () => {
    const { url } = await start();
    const res = await fetch(url('/healthz'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers HEAD with the GET headers and no body', async () => {
    const { url } = await start();
    const res = await fetch(url('/healthz'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('3');
    expect(await res.text()).toBe('');
  });

  it('ignores the query string when matching a path', async () => {
    const { url } = await start();
    expect((await fetch(url('/healthz?verbose=1'))).status).toBe(200);
  });

  it('serves /metrics in the registry content type with the CA server series', async () => {
    const { url, metrics } = await start();
    metrics.recordCsrResult(new MeshcaError('CSR_INVALID', 'bad'));
    const res = await fetch(url('/metrics'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('citadel_server_csr_count{error="CSR_INVALID"} 1');
  });

  it.each<[string, unknown, number]>([
    ['a retryable failure as 503', new MeshcaError('STORE_UNAVAILABLE', 'store is down'), 503],
    ['any other failure as 500', new TypeError('collector bug'), 500],
  ])('reports a metrics collection failure: %s', async (_name, failure, status) => {
    const { url } = await start({
      metrics: {
        contentType: 'text/plain',
        metrics: async () => {
          throw failure;
        },
      },
    });
    const res = await fetch(url('/metrics'));
    expect(res.status).toBe(status);
    expect(await res.text()).toMatch(/^collecting metrics failed: /);
  });

  it('logs a provider failure as a warning with its error code', async () => {
    const lines: string[] = [];
    const { url } = await start({
      logger: createJsonLogger({ sink: { write: (l: string) => lines.push(l) }, clock: () => 0 }),
      bundle: () => {
        throw new MeshcaError('STORE_UNAVAILABLE', 'store is down');
      },
    });
    await fetch(url('/bundle.pem'));
    const warning = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.level === 'warn');
    expect(warning).toMatchObject({
      msg: 'reading the trust bundle failed',
      component: 'http',
      err: { code: 'STORE_UNAVAILABLE', message: 'store is down' },
    });
  });

  it('answers /readyz with 200 when ready', async () => {
    const { url } = await start();
    const res = await fetch(url('/readyz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true, reasons: [] });
  });

  it('answers /readyz with 503 listing every reason when not ready', async () => {
    const { url, state } = await start();
    state.readiness = {
      ready: false,
      reasons: [
        'no signing CA loaded: Issuer istio-system/istio-ca-issuer not found',
        'serving certificate expired',
      ],
    };
    const res = await fetch(url('/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, reasons: state.readiness.reasons });
  });

  it('treats "ready" with reasons as not ready, so a reason is never hidden', async () => {
    const { url, state } = await start();
    state.readiness = { ready: true, reasons: ['serving certificate expired'] };
    expect((await fetch(url('/readyz'))).status).toBe(503);
  });

  it('answers /readyz with 503 and the failure as the reason when the check throws', async () => {
    const { url } = await start({
      readiness: () => {
        throw new MeshcaError('STORE_UNAVAILABLE', 'database is locked');
      },
    });
    const res = await fetch(url('/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      ready: false,
      reasons: ['the readiness check failed: database is locked'],
    });
  });

  it('serves /bundle.pem as the PEM of every current root', async () => {
    const { url, state } = await start();
    state.bundle = { roots: [root, nextRoot], sequence: 4, refreshHintSeconds: 300 };
    const res = await fetch(url('/bundle.pem'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-pem-file');
    const certs = parseCertificates(await res.text());
    expect(certs.map((c) => c.fingerprintSha256)).toEqual([
      root.fingerprintSha256,
      nextRoot.fingerprintSha256,
    ]);
  });

  it.each<[string, TrustBundleSnapshot | undefined]>([
    ['no bundle', undefined],
    ['a bundle without roots', { roots: [], sequence: 0, refreshHintSeconds: 60 }],
  ])('answers the bundle endpoints with 503 and Retry-After when there is %s', async (_name, bundle) => {
    const { url, state } = await start();
    state.bundle = bundle;
    for (const path of ['/bundle.pem', '/.well-known/spiffe/bundle']) {
      const res = await fetch(url(path));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.text()).toBe(
        'no trust bundle is loaded yet: wait for the CA to initialise, or run meshca init\n',
      );
    }
  });

  it('answers 304 to an If-None-Match carrying the current ETag, and 200 once the bundle changes', async () => {
    const { url, state } = await start();
    const first = await fetch(url('/bundle.pem'));
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect((await fetch(url('/bundle.pem'), { headers: { 'if-none-match': `W/${etag}` } })).status).toBe(304);
    state.bundle = { roots: [root, nextRoot], sequence: 4, refreshHintSeconds: 300 };
    expect((await fetch(url('/bundle.pem'), { headers: { 'if-none-match': etag } })).status).toBe(200);
  });

  it('serves the SPIFFE bundle as JSON with the sequence and refresh hint from the provider', async () => {
    const { url } = await start();
    const res = await fetch(url('/.well-known/spiffe/bundle'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const bundle = (await res.json()) as SpiffeBundle;
    expect(bundle.spiffe_sequence).toBe(3);
    expect(bundle.spiffe_refresh_hint).toBe(300);
    expect(bundle.keys.map((k) => [k.use, k.x5c])).toEqual([['x509-svid', [root.der.toString('base64')]]]);
  });

  it('answers 500 when the provider gives a bundle that cannot be published', async () => {
    const { url, state } = await start();
    state.bundle = { roots: [root], sequence: -5, refreshHintSeconds: 300 };
    const res = await fetch(url('/.well-known/spiffe/bundle'));
    expect(res.status).toBe(500);
    expect(await res.text()).toBe(
      'the trust bundle cannot be published: the bundle sequence -5 is not a non-negative safe integer\n',
    );
  });

  it('answers 503 when reading the bundle fails in a way that may pass', async () => {
    const { url } = await start({
      bundle: () => {
        throw new MeshcaError('STORE_UNAVAILABLE', 'store is down');
      },
    });
    const res = await fetch(url('/bundle.pem'));
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('reading the trust bundle failed: store is down\n');
  });
});

describe('createHttpServer: protocol rules', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])(
    'answers %s on a known path with 405 and Allow: GET, HEAD',
    async (method) => {
      const { url } = await start();
      const res = await fetch(url('/metrics'), { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect(await res.text()).toBe(`method ${method} is not allowed on /metrics: use GET or HEAD\n`);
    },
  );

  it.each(['/', '/debug/pprof', '/metrics/', '/METRICS', '/metric%73', '/../metrics'])(
    'answers 404 for %s',
    async (path) => {
      const { port } = await start();
      const out = await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(out).toMatch(/^HTTP\/1\.1 404 /);
      expect(out).toContain('try /metrics, /healthz, /readyz, /bundle.pem, /.well-known/spiffe/bundle');
    },
  );

  it('refuses a request with a body with 413 without reading it, and closes the connection', async () => {
    const { port } = await start();
    const out = await raw(
      port,
      `POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
    expect(out).toContain('request bodies are not accepted: send GET or HEAD without a body');
  });

  it('refuses a chunked GET with 413', async () => {
    const { port } = await start();
    const out = await raw(
      port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('serves an absolute-form request target by its path', async () => {
    const { port } = await start();
    const out = await raw(
      port,
      `GET http://meshca:9402/healthz HTTP/1.1\r\nHost: meshca\r\nConnection: close\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('answers 400 to an asterisk-form request target', async () => {
    const { port } = await start();
    const out = await raw(port, `OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).toContain('the request target is not a path');
  });
});

describe('createHttpServer: rate limit per client and route', () => {
  it('answers 429 with Retry-After once a client spends its burst, and again after the injected clock refills it', async () => {
    const { url, state } = await start({ rateLimit: { ratePerSecond: 0.5, burst: 2 } });
    expect((await fetch(url('/metrics'))).status).toBe(200);
    expect((await fetch(url('/metrics'))).status).toBe(200);
    const limited = await fetch(url('/metrics'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.text()).toBe('too many requests to /metrics from 127.0.0.1: retry after 2 s\n');
    state.now += 2_000;
    expect((await fetch(url('/metrics'))).status).toBe(200);
  });

  it('counts each route apart, so a client flooding /metrics still passes its health probe', async () => {
    const { url } = await start({ rateLimit: { ratePerSecond: 1, burst: 1 } });
    expect((await fetch(url('/metrics'))).status).toBe(200);
    expect((await fetch(url('/metrics'))).status).toBe(429);
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('limits requests to unknown paths too, under one shared route', async () => {
    const { url } = await start({ rateLimit: { ratePerSecond: 1, burst: 1 } });
    expect((await fetch(url('/a'))).status).toBe(404);
    expect((await fetch(url('/b'))).status).toBe(429);
  });

  it('refuses an invalid rate limit when the server is built', () => {
    expect(() =>
      createHttpServer({
        metrics: createMetricsRegistry(),
        readiness: () => ({ ready: true, reasons: [] }),
        bundle: () => undefined,
        clock: () => 0,
        rateLimit: { burst: 0 },
      }),
    ).toThrow(/the HTTP rate limit .* is invalid: it needs ratePerSecond > 0, burst >= 1/);
  });
});

describe('createHttpServer: malformed and hostile clients', () => {
  it.each<[string, string | Buffer, RegExp]>([
    ['binary garbage', Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]), /^HTTP\/1\.1 400 /],
    [
      'a request line with an unknown version',
      'GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    [
      'a request line with a bad method token',
      'G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    [
      'a control character in a header value',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    ['an HTTP/1.1 request without Host', 'GET /healthz HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n', /^HTTP\/1\.1 400 /],
    [
      'an invalid Content-Length',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    [
      'two Content-Lengths that disagree',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      /^HTTP\/1\.1 400 /,
    ],
    [
      'a smuggling attempt with Content-Length and Transfer-Encoding',
      'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      /^HTTP\/1\.1 (400|413) /,
    ],
  ])('answers %s with an error and keeps serving', async (_name, data, expected) => {
    const { port, url } = await start();
    expect(await raw(port, data)).toMatch(expected);
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('answers an oversized request head with 431 and keeps serving', async () => {
    const { port, url } = await start({ limits: { maxHeaderSize: 1024 } });
    const out = await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('closes a connection whose head never completes (slowloris) with 408 once the injected head timeout passes', async () => {
    const { port, url } = await start({
      limits: { headersTimeoutMs: 100, requestTimeoutMs: 200, connectionsCheckingIntervalMs: 20 },
    });
    // The connection stays open until the server gives up on it; no time is measured.
    const out = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('survives a client that resets the connection mid-request', async () => {
    const { port, url } = await start();
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
        socket.resetAndDestroy();
        resolve();
      });
    });
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('refuses limits Node would reject, naming the limit', () => {
    const options = {
      metrics: createMetricsRegistry(),
      readiness: () => ({ ready: true, reasons: [] }),
      bundle: () => undefined,
      clock: () => 0,
    };
    expect(() => createHttpServer({ ...options, limits: { maxHeaderSize: 0 } })).toThrow(
      'the HTTP limit maxHeaderSize is 0: it must be a positive whole number',
    );
    expect(() =>
      createHttpServer({ ...options, limits: { headersTimeoutMs: 5000, requestTimeoutMs: 1000 } }),
    ).toThrow('the HTTP headersTimeoutMs (5000) is longer than requestTimeoutMs (1000): make it shorter');
  });
});

describe('createHttpServer: lifecycle', () => {
  it('reports the bound address while listening and none after close, and closes twice without error', async () => {
    const { server, port } = await start();
    expect(server.address()).toEqual({ host: '127.0.0.1', port });
    await server.close();
    expect(server.address()).toBeUndefined();
    await server.close();
  });

  it('refuses to listen on an address in use with a message naming it', async () => {
    const { port } = await start();
    const second = createHttpServer({
      metrics: createMetricsRegistry(),
      readiness: () => ({ ready: true, reasons: [] }),
      bundle: () => undefined,
      clock: () => 0,
    });
    await expect(second.listen(`127.0.0.1:${port}`)).rejects.toThrow(
      `cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
    );
  });

  it('refuses an unparsable address before touching the network', async () => {
    const server = createHttpServer({
      metrics: createMetricsRegistry(),
      readiness: () => ({ ready: true, reasons: [] }),
      bundle: () => undefined,
      clock: () => 0,
    });
    await expect(server.listen('nonsense')).rejects.toThrow('the listen address "nonsense" has no port');
  });

  it('closes promptly even with an idle keep-alive connection open', async () => {
    const { server, url } = await start({ limits: { closeGraceMs: 60_000 } });
    await fetch(url('/healthz'), { headers: { connection: 'keep-alive' } });
    await server.close();
    expect(server.address()).toBeUndefined();
  });
});

describe('createHttpServer: accept errors', () => {
  it('logs an accept error (EMFILE) on the listening server and goes on serving', async () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ sink: { write: (l: string) => void lines.push(l) }, clock: () => 0 });
    // The node:http server inside: the one net.Server.prototype.listen was called on.
    const listen = vi.spyOn(NetServer.prototype, 'listen');
    let started: Awaited<ReturnType<typeof start>>;
    let listening: NetServer;
    try {
      started = await start({ logger });
      listening = listen.mock.contexts[0] as NetServer;
    } finally {
      listen.mockRestore();
    }
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    // Without an 'error' listener, emit throws: in the server, an uncaught exception.
    expect(() => listening.emit('error', emfile)).not.toThrow();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'cannot accept a connection; still listening',
        error_code: 'EMFILE',
      }),
    );
    expect((await fetch(started.url('/healthz'))).status).toBe(200);
  });
});
