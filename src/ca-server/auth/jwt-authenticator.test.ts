import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, type JSONWebKeySet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import type { Authenticator } from './authenticator.js';
import { IDENTITY_EXTRACTION_FAILED } from './authenticator.js';
import { createJwksSource } from './jwks-source.js';
import { createJwtAuthenticator } from './jwt-authenticator.js';
import { ISSUER_LOGIN_TOKEN_USE, mintServiceAccountToken } from './mint-service-account-token.js';
import { tokenJwks } from './token-jwks.js';

const ISSUER = 'https://kubernetes.default.svc';
const NOW = Date.parse('2030-03-01T00:00:00Z');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let jwks: JSONWebKeySet;

beforeAll(async () => {
  jwks = await tokenJwks([
    { key: ec.publicKey, kid: 'ec' },
    { key: rsa.privateKey, kid: 'rsa' },
  ]);
});

/** An authenticator with a clock the test moves, and a count of key look-ups. */
const setup = (
  opts: { audiences?: string[] } = {},
): { auth: Authenticator; clock: { now: number }; lookups: () => number } => {
  const clock = { now: NOW };
  const source = createJwksSource({ jwks, clock: () => clock.now });
  let n = 0;
  const auth = createJwtAuthenticator({
    getKey: (h, t) => {
      n++;
      return source.getKey(h, t);
    },
    issuers: [ISSUER],
    clock: () => clock.now,
    ...(opts.audiences ? { audiences: opts.audiences } : {}),
  });
  return { auth, clock, lookups: () => n };
};

const projected = (
  claims: Record<string, unknown>,
  opts: { kid?: string; alg?: string; key?: Parameters<SignJWT['sign']>[0]; exp?: number; nbf?: number } = {},
) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: opts.kid ?? 'ec' })
    .setIssuer(ISSUER)
    .setAudience(['istio-ca'])
    .setIssuedAt(Math.floor(NOW / 1000))
    .setNotBefore(opts.nbf ?? Math.floor(NOW / 1000))
    .setExpirationTime(opts.exp ?? Math.floor(NOW / 1000) + 3600)
    .sign(opts.key ?? ec.privateKey);

const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });

describe('the JWT authenticator', () => {
  it.each([
    [
      'an ES256 projected token',
      () => projected({ 'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'sa1', uid: 'u' } } }),
    ],
    [
      'an RS256 projected token',
      () =>
        projected(
          { 'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'sa1' } } },
          { alg: 'RS256', kid: 'rsa', key: rsa.privateKey },
        ),
    ],
    ['a legacy token with only sub', () => projected({ sub: 'system:serviceaccount:ns1:sa1' })],
    [
      'a minted token',
      () =>
        mintServiceAccountToken({
          key: ec.privateKey,
          kid: 'ec',
          issuer: ISSUER,
          namespace: 'ns1',
          serviceAccount: 'sa1',
          ttlMs: 600_000,
          now: NOW,
        }),
    ],
  ])('accepts %s and names its workload', async (_name, make) => {
    const identity = await setup().auth(bearer(await make()));
    expect(identity).toMatchObject({ namespace: 'ns1', serviceAccount: 'sa1', method: 'jwt' });
  });

  it.each<[string, () => Promise<{ headers: Record<string, string> }>, string, boolean?]>([
    ['a missing header', () => Promise.resolve({ headers: {} }), 'no authorization header'],
    [
      'an empty bearer',
      () => Promise.resolve({ headers: { authorization: 'Bearer ' } }),
      'is not "Bearer <token>"',
    ],
    [
      'an oversized token',
      () => Promise.resolve(bearer('a'.repeat(9000))),
      'bearer token is 9000 characters, over the limit of 8192',
    ],
    [
      'an unsigned token (alg none)',
      () => Promise.resolve(bearer('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')),
      'token algorithm is not accepted',
    ],
    ['garbage', () => Promise.resolve(bearer('%%%.%%%.%%%')), 'malformed token'],
    [
      'a token signed by an unknown key under a known kid',
      async () => bearer(await projected({ sub: 'system:serviceaccount:a:b' }, { key: stranger.privateKey })),
      'signature does not verify',
    ],
    [
      'a token with an unknown kid',
      async () => bearer(await projected({ sub: 'system:serviceaccount:a:b' }, { kid: 'nope' })),
      'no issuer key matches the token',
    ],
    [
      'an expired token',
      async () =>
        bearer(await projected({ sub: 'system:serviceaccount:a:b' }, { exp: Math.floor(NOW / 1000) - 60 })),
      'token expired at 2030-02-28T23:59:00.000Z',
    ],
    [
      'a token not yet valid',
      async () =>
        bearer(await projected({ sub: 'system:serviceaccount:a:b' }, { nbf: Math.floor(NOW / 1000) + 600 })),
      'token is not valid before 2030-03-01T00:10:00.000Z',
    ],
    [
      'a token with no exp',
      async () =>
        bearer(
          await new SignJWT({ sub: 'system:serviceaccount:a:b' })
            .setProtectedHeader({ alg: 'ES256', kid: 'ec' })
            .setIssuer(ISSUER)
            .setAudience('istio-ca')
            .sign(ec.privateKey),
        ),
      'token has no valid exp claim',
    ],
    [
      'a user token',
      async () => bearer(await projected({ sub: 'alice' })),
      'token subject "alice" is not a service account',
      true,
    ],
    [
      'a sub with extra colons',
      async () => bearer(await projected({ sub: 'system:serviceaccount:a:b:c' })),
      'must be system:serviceaccount:<namespace>:<name>',
      true,
    ],
    [
      'a nested claim that disagrees with sub',
      async () =>
        bearer(
          await projected({
            sub: 'system:serviceaccount:a:b',
            'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'c' } },
          }),
        ),
      'disagrees with its kubernetes.io claim (a/c)',
      true,
    ],
    [
      'a nested claim without a name',
      async () => bearer(await projected({ 'kubernetes.io': { namespace: 'a' } })),
      'kubernetes.io.serviceaccount.name is missing',
      true,
    ],
    [
      'a namespace that is not a DNS label',
      async () => bearer(await projected({ sub: 'system:serviceaccount:A_B:x' })),
      'namespace "A_B" is not a valid Kubernetes namespace name',
      true,
    ],
  ])('refuses %s with UNAUTHENTICATED and says why', async (_name, input, message, identityStage = false) => {
    const err = await setup()
      .auth(await input())
      .catch((e: unknown) => e);
    expect(isMeshcaError(err, 'UNAUTHENTICATED')).toBe(true);
    expect((err as Error).message).toContain(message);
    expect(isMeshcaError(err) && err.details.includes(IDENTITY_EXTRACTION_FAILED)).toBe(identityStage);
  });

  it("refuses a token meshca minted for an issuer's login, even one whose audiences include istio-ca", async () => {
    // An Issuer's author picks the extra audiences of its Vault login token and where it goes.
    const token = await mintServiceAccountToken({
      key: ec.privateKey,
      kid: 'ec',
      issuer: ISSUER,
      namespace: 'ns1',
      serviceAccount: 'sa1',
      audience: ['vault://ns1/vault', 'istio-ca'],
      ttlMs: 600_000,
      now: NOW,
      tokenUse: ISSUER_LOGIN_TOKEN_USE,
    });
    const { auth } = setup();
    const err = await auth(bearer(token)).catch((e: unknown) => e);
    expect(isMeshcaError(err) && err.code).toBe('UNAUTHENTICATED');
    expect((err as Error).message).toBe(
      'token was minted by meshca for "issuer-login" (meshca.io/token-use), not for a workload calling the CA',
    );
    // And a second try is refused too: a refused token is never cached as verified.
    await expect(auth(bearer(token))).rejects.toThrow('not for a workload calling the CA');
  });

  it('accepts a configured second audience and refuses a token for none of them', async () => {
    const t = await projected({ sub: 'system:serviceaccount:a:b' });
    await expect(setup({ audiences: ['istio-ca', 'meshca'] }).auth(bearer(t))).resolves.toMatchObject({
      namespace: 'a',
    });
    await expect(setup({ audiences: ['meshca'] }).auth(bearer(t))).rejects.toThrow(
      'token audience ["istio-ca"] does not include any of meshca',
    );
  });

  it('tolerates 30 seconds of clock skew on exp, not more', async () => {
    const { auth, clock } = setup();
    const t = await projected({ sub: 'system:serviceaccount:a:b' }, { exp: Math.floor(NOW / 1000) });
    clock.now = NOW + 29_000;
    await expect(auth(bearer(t))).resolves.toMatchObject({ namespace: 'a' });
    const fresh = setup();
    fresh.clock.now = NOW + 31_000;
    await expect(fresh.auth(bearer(t))).rejects.toThrow('token expired');
  });

  it('verifies a token once while it is cached, and never serves it past its exp', async () => {
    const { auth, clock, lookups } = setup();
    const t = await projected({ sub: 'system:serviceaccount:a:b' }, { exp: Math.floor(NOW / 1000) + 20 });
    await auth(bearer(t));
    await auth(bearer(t));
    expect(lookups()).toBe(1);
    clock.now = NOW + 20_000; // at exp: the cache entry is gone; verification runs again (within leeway)
    await auth(bearer(t));
    expect(lookups()).toBe(2);
    clock.now = NOW + 60_000;
    await expect(auth(bearer(t))).rejects.toThrow('token expired');
  });
});
