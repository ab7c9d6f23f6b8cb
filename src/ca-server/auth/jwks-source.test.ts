import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { createJwksSource } from './jwks-source.js';
import { tokenJwks } from './token-jwks.js';

const k1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const k2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const sign = (kid: string, key = k1.privateKey) =>
  new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).sign(key);

// A local JWKS issuer whose answer each test sets.
let answer: (res: http.ServerResponse) => void = (res) => res.end('{}');
let requests = 0;
const server = http.createServer((_req, res) => {
  requests++;
  answer(res);
});
let url: string;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openid/v1/jwks`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('the JWKS source', () => {
  it('reads a JWKS file and verifies a token with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jwks-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(await tokenJwks([{ key: k1.publicKey, kid: 'a' }])));
    const src = createJwksSource({ file: join(dir, 'jwks.json'), clock: () => 0 });
    await expect(jwtVerify(await sign('a'), src.getKey)).resolves.toBeDefined();
  });

  it('fetches a JWKS URL once while cached, and again for an unknown kid after the refresh interval', async () => {
    let keys = await tokenJwks([{ key: k1.publicKey, kid: 'a' }]);
    answer = (res) => res.end(JSON.stringify(keys));
    requests = 0;
    let now = 0;
    const src = createJwksSource({ url, clock: () => now, minRefreshMs: 30_000 });
    await jwtVerify(await sign('a'), src.getKey);
    await jwtVerify(await sign('a'), src.getKey);
    expect(requests).toBe(1);
    keys = await tokenJwks([
      { key: k1.publicKey, kid: 'a' },
      { key: k2.publicKey, kid: 'b' },
    ]);
    await expect(jwtVerify(await sign('b', k2.privateKey), src.getKey)).rejects.toThrow('no applicable key');
    expect(requests).toBe(1); // too soon to refetch: no storm on unknown kids
    now = 31_000;
    await expect(jwtVerify(await sign('b', k2.privateKey), src.getKey)).resolves.toBeDefined();
    expect(requests).toBe(2);
  });

  it('keeps the last good key set when a refresh fails', async () => {
    const keys = await tokenJwks([{ key: k1.publicKey, kid: 'a' }]);
    answer = (res) => res.end(JSON.stringify(keys));
    let now = 0;
    const src = createJwksSource({ url, clock: () => now, cacheMs: 1000 });
    await src.refresh();
    answer = (res) => {
      res.statusCode = 500;
      res.end();
    };
    now = 5000;
    await expect(jwtVerify(await sign('a'), src.getKey)).resolves.toBeDefined();
  });

  it('after a failed reload answers from the last good set at once, and fetches again only after a growing backoff', async () => {
    const keys = await tokenJwks([{ key: k1.publicKey, kid: 'a' }]);
    answer = (res) => res.end(JSON.stringify(keys));
    requests = 0;
    let now = 0;
    const src = createJwksSource({
      url,
      clock: () => now,
      cacheMs: 1000,
      minRefreshMs: 0,
      retryMinMs: 5000,
      retryMaxMs: 8000,
    });
    await src.refresh();
    answer = (res) => {
      res.statusCode = 503;
      res.end();
    };
    const tokenA = await sign('a');
    const verifyA = () => expect(jwtVerify(tokenA, src.getKey)).resolves.toBeDefined();
    now = 2000; // the set expired: one reload, which fails; the stale set answers
    await verifyA();
    expect(requests).toBe(2);
    for (const t of [2000, 3000, 6999]) {
      now = t; // backing off (until 7000): no fetch, for a known kid or an unknown one
      await verifyA();
      await expect(jwtVerify(await sign('b', k2.privateKey), src.getKey)).rejects.toThrow(
        'no applicable key',
      );
    }
    expect(requests).toBe(2);
    now = 7000;
    await verifyA();
    expect(requests).toBe(3); // failed again: the next wait is 8000 (10000 capped by retryMaxMs)
    now = 14_999;
    await verifyA();
    expect(requests).toBe(3);
    answer = (res) =>
      void tokenJwks([
        { key: k1.publicKey, kid: 'a' },
        { key: k2.publicKey, kid: 'b' },
      ]).then((k) => res.end(JSON.stringify(k)));
    now = 15_000;
    await expect(jwtVerify(await sign('b', k2.privateKey), src.getKey)).resolves.toBeDefined();
    expect(requests).toBe(4);
    await verifyA(); // fresh again: no fetch
    expect(requests).toBe(4);
  });

  it('with no key set yet, refuses at once with a clear error while it backs off', async () => {
    answer = (res) => {
      res.statusCode = 500;
      res.end();
    };
    requests = 0;
    let now = 0;
    const src = createJwksSource({ url, clock: () => now, retryMinMs: 5000 });
    const refused = async (): Promise<Error> => {
      const err = await jwtVerify(await sign('a'), src.getKey).catch((e: unknown) => e);
      expect(isMeshcaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
      return err as Error;
    };
    const first = await refused();
    expect(requests).toBe(1);
    now = 4000;
    const second = await refused(); // at once, from the last failure: no fetch
    expect(requests).toBe(1);
    expect(first.message).toMatch(/^no key set from JWKS URL .*: .*HTTP status 500 \(next try in 5 s\)$/);
    expect(second.message).toContain('HTTP status 500 (next try in 1 s)');
    now = 5000;
    await refused();
    expect(requests).toBe(2);
  });

  it('stops using the last good set maxStaleMs after it was loaded, while reloads fail', async () => {
    const keys = await tokenJwks([{ key: k1.publicKey, kid: 'a' }]);
    answer = (res) => res.end(JSON.stringify(keys));
    requests = 0;
    let now = 0;
    const src = createJwksSource({
      url,
      clock: () => now,
      cacheMs: 1000,
      maxStaleMs: 10_000,
      retryMinMs: 1000,
    });
    await src.refresh();
    answer = (res) => {
      res.statusCode = 500;
      res.end();
    };
    now = 10_000;
    await expect(jwtVerify(await sign('a'), src.getKey)).resolves.toBeDefined();
    now = 10_001; // backing off, so no fetch: and the set is too old to use
    const err = await jwtVerify(await sign('a'), src.getKey).catch((e: unknown) => e);
    expect(isMeshcaError(err) && err.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err as Error).message).toContain(
      'was loaded 10 s ago, past the 10 s it is used without a reload',
    );
    expect((err as Error).message).toContain('HTTP status 500');
    expect(requests).toBe(2);
    answer = (res) => res.end(JSON.stringify(keys));
    now = 11_000;
    await expect(jwtVerify(await sign('a'), src.getKey)).resolves.toBeDefined();
    expect(requests).toBe(3);
  });

  it.each<[string, (res: http.ServerResponse) => void, Record<string, number>, string, string]>([
    [
      'a non-200 answer',
      (res) => {
        res.statusCode = 404;
        res.end();
      },
      {},
      'UPSTREAM_UNAVAILABLE',
      'HTTP status 404',
    ],
    [
      'an oversized answer',
      (res) => res.end(JSON.stringify({ keys: [], pad: 'x'.repeat(5000) })),
      { maxBytes: 1000 },
      'UPSTREAM_UNAVAILABLE',
      'response exceeds the limit of 1000 bytes',
    ],
    [
      'an answer that never comes',
      () => undefined,
      { timeoutMs: 100 },
      'UPSTREAM_UNAVAILABLE',
      'no complete answer within 100 ms',
    ],
    ['an answer that is not JSON', (res) => res.end('<html>'), {}, 'INVALID_INPUT', 'is not JSON'],
    ['JSON without keys', (res) => res.end('{"kid": 1}'), {}, 'INVALID_INPUT', 'has no "keys" array'],
    [
      'a key that is not a JWK',
      (res) => res.end('{"keys": [42]}'),
      {},
      'INVALID_INPUT',
      'is not a JWK object with a "kty"',
    ],
    [
      'too many keys',
      (res) => res.end(JSON.stringify({ keys: Array<object>(101).fill({ kty: 'EC' }) })),
      {},
      'INVALID_INPUT',
      '101 keys, more than the 100 allowed',
    ],
  ])('refuses %s with a precise error', async (_name, respond, limits, code, message) => {
    answer = respond;
    const err = await createJwksSource({ url, clock: () => 0, ...limits })
      .refresh()
      .catch((e: unknown) => e);
    expect(isMeshcaError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toContain(message);
  });

  it.each([
    ['a URL of another scheme', { url: 'ftp://x/jwks' }, 'must be https: or http:'],
    ['a missing file', { file: '/nonexistent/jwks.json' }, 'cannot read JWKS file /nonexistent/jwks.json'],
  ])('refuses %s', async (_name, where, message) => {
    await expect(createJwksSource({ ...where, clock: () => 0 }).refresh()).rejects.toThrow(message);
  });
});
