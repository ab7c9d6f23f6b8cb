import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Challenge } from '../../api/acme-challenge.js';
import type { Resource } from '../../api/resource.js';
import { ClientRateLimiter } from '../../http/client-rate-limiter.js';
import { openSqliteStore, type SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { CHALLENGE } from './acme-types.js';
import { HTTP01_PREFIX, startHttp01Solver, type Http01Solver } from './http01-solver-server.js';

type ChallengeObject = Challenge & Resource;

const NS = 'gateways';
const TOKEN = 'tok_en-123';
const KEY = `${TOKEN}.thumbprint`;

let store: SqliteStore;
let solver: Http01Solver | undefined;
/** Every read of the store, by method name, through the wrapper the solver gets. */
let reads: string[];

/** The store, with every read it serves counted in `reads`. */
const counted = (inner: Store): Store =>
  new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === 'list' || prop === 'get' || prop === 'tryGet') reads.push(prop);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });

const presented = async (
  name: string,
  dnsName: string,
  token: string,
  status: NonNullable<Challenge['status']> = { presented: true, processing: true },
): Promise<ChallengeObject> => {
  const created = await store.create<ChallengeObject>({
    apiVersion: 'acme.cert-manager.io/v1',
    kind: 'Challenge',
    metadata: { name, namespace: NS },
    spec: {
      url: `https://acme.example/chall/${name}`,
      authorizationURL: `https://acme.example/authz/${name}`,
      dnsName,
      type: 'HTTP-01',
      token,
      key: `${token}.thumbprint`,
      solver: { http01: { ingress: {} } },
      issuerRef: { name: 'acme', kind: 'Issuer', group: 'cert-manager.io' },
    },
  });
  return store.updateStatus({ ...created, status });
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One GET to the solver, naming `host` in the Host header. */
const get = (path: string, host: string): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const [address, port] = (solver?.address ?? '').split(':');
    const req = httpRequest(
      { host: address, port: Number(port), path, method: 'GET', headers: { host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });

/** GETs until the answer has `status` (the solver follows the store's watch), for at most 5 s. */
const until = async (path: string, host: string, status: number): Promise<Reply> => {
  const deadline = Date.now() + 5000;
  for (;;) {
    const reply = await get(path, host);
    if (reply.status === status || Date.now() > deadline) return reply;
    await new Promise((r) => setTimeout(r, 10));
  }
};

const start = async (options: Parameters<typeof startHttp01Solver>[2] = {}): Promise<Http01Solver> => {
  solver = await startHttp01Solver(counted(store), '127.0.0.1:0', { retryDelayMs: 20, ...options });
  await solver.ready;
  return solver;
};

beforeEach(() => {
  reads = [];
  store = openSqliteStore({ path: ':memory:' });
});

afterEach(async () => {
  await solver?.close();
  solver = undefined;
  await store.close();
});

describe('the HTTP-01 solver', () => {
  it("answers a presented challenge's token with its key authorization, as text/plain, for its host", async () => {
    await presented('web', 'web.example.test', TOKEN);
    await start();
    const reply = await get(`${HTTP01_PREFIX}${TOKEN}`, 'web.example.test');
    expect(reply).toMatchObject({ status: 200, body: KEY });
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(reply.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
  });

  it('compares the Host without its port and case-insensitively', async () => {
    await presented('web', 'web.example.test', TOKEN);
    await start();
    expect((await get(`${HTTP01_PREFIX}${TOKEN}`, 'Web.EXAMPLE.test:80')).status).toBe(200);
    expect((await get(`${HTTP01_PREFIX}${TOKEN}`, 'web.example.test:8089')).body).toBe(KEY);
  });

  it("answers 404 when the Host is not the challenge's dnsName, as cert-manager's solver does", async () => {
    await presented('web', 'web.example.test', TOKEN);
    await start();
    const reply = await get(`${HTTP01_PREFIX}${TOKEN}`, 'attacker.example.test');
    expect(reply.status).toBe(404);
    expect(reply.body).not.toContain(KEY);
    expect((await get(`${HTTP01_PREFIX}${TOKEN}`, 'web.example.test.attacker.test')).status).toBe(404);
  });

  it('never reads the store to answer a request, found or not: it lists once at start and follows the watch', async () => {
    await presented('web', 'web.example.test', TOKEN);
    await start();
    const atStart = reads.length;
    for (let i = 0; i < 20; i++) {
      expect((await get(`${HTTP01_PREFIX}${TOKEN}`, 'web.example.test')).status).toBe(200);
      expect((await get(`${HTTP01_PREFIX}unknown${i}`, 'web.example.test')).status).toBe(404);
    }
    expect(reads.slice(atStart)).toEqual([]);
    expect(reads).toEqual(['list']);
  });

  it('follows the store: a challenge presented later is answered, one that is valid or deleted no longer', async () => {
    await start();
    const path = `${HTTP01_PREFIX}${TOKEN}`;
    expect((await get(path, 'web.example.test')).status).toBe(404);
    const challenge = await presented('web', 'web.example.test', TOKEN);
    expect((await until(path, 'web.example.test', 200)).body).toBe(KEY);
    await store.updateStatus({ ...challenge, status: { presented: true, state: 'valid' } });
    expect((await until(path, 'web.example.test', 404)).status).toBe(404);
    const other = await presented('api', 'api.example.test', 'other-token');
    expect((await until(`${HTTP01_PREFIX}other-token`, 'api.example.test', 200)).status).toBe(200);
    await store.delete({ ...CHALLENGE, namespace: NS, name: other.metadata.name });
    expect((await until(`${HTTP01_PREFIX}other-token`, 'api.example.test', 404)).status).toBe(404);
    expect(reads).toEqual(['list']);
  });

  it('does not answer a challenge that is not presented yet', async () => {
    await presented('web', 'web.example.test', TOKEN, { presented: false });
    await start();
    expect((await get(`${HTTP01_PREFIX}${TOKEN}`, 'web.example.test')).status).toBe(404);
  });

  it('answers 429 with Retry-After to a client over its rate limit', async () => {
    await presented('web', 'web.example.test', TOKEN);
    let now = 0;
    await start({
      rateLimiter: new ClientRateLimiter({ ratePerSecond: 1, burst: 3, maxClients: 100 }, () => now),
    });
    const path = `${HTTP01_PREFIX}${TOKEN}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(path, 'web.example.test')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await get(`${HTTP01_PREFIX}other`, 'web.example.test');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    now += 1000;
    expect((await get(path, 'web.example.test')).status).toBe(200);
  });
});
