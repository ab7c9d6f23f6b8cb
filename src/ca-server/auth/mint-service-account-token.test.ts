import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCallerAuthenticator } from './caller-authenticator.js';
import { mintServiceAccountToken } from './mint-service-account-token.js';
import { serviceAccountFromClaims } from './service-account-identity.js';
import { tokenJwks } from './token-jwks.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const base = {
  key: ec.privateKey,
  kid: 'k',
  issuer: 'https://meshca',
  namespace: 'prod',
  serviceAccount: 'api',
  ttlMs: 3600_000,
  now: NOW,
};

describe('mintServiceAccountToken', () => {
  it('produces a token shaped like a Kubernetes projected token', async () => {
    const t = await mintServiceAccountToken(base);
    expect(decodeProtectedHeader(t)).toEqual({ alg: 'ES256', kid: 'k', typ: 'JWT' });
    const claims = decodeJwt(t);
    expect(claims).toMatchObject({
      iss: 'https://meshca',
      sub: 'system:serviceaccount:prod:api',
      aud: ['istio-ca'],
      iat: NOW / 1000,
      nbf: NOW / 1000,
      exp: NOW / 1000 + 3600,
      'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'api' } },
    });
    const uid = (claims['kubernetes.io'] as { serviceaccount: { uid: string } }).serviceaccount.uid;
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(decodeJwt(await mintServiceAccountToken(base))['kubernetes.io']).toEqual(claims['kubernetes.io']);
  });

  it.each([
    ['an Ed25519 key', generateKeyPairSync('ed25519').privateKey, 'EdDSA'],
    ['an RSA key', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'RS256'],
    ['a P-384 key', generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey, 'ES384'],
  ])('signs with %s as %s', async (_name, key, alg) => {
    expect(decodeProtectedHeader(await mintServiceAccountToken({ ...base, key })).alg).toBe(alg);
    expect((await tokenJwks([{ key }])).keys[0]).toMatchObject({ alg, use: 'sig' });
  });

  it.each([
    ['a public key', { key: ec.publicKey }, 'needs a private key'],
    [
      'an RSA key under 2048 bits',
      { key: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey },
      'shorter than 2048 bits',
    ],
    [
      'a namespace with capitals',
      { namespace: 'Prod' },
      'namespace "Prod" is not a valid Kubernetes namespace name',
    ],
    ['a service account with a slash', { serviceAccount: 'a/b' }, 'service account "a/b" is not a valid'],
    ['a lifetime under a second', { ttlMs: 10 }, 'token lifetime 10 ms is too short'],
    ['no audience', { audience: [] }, 'with no audience'],
  ])('refuses %s', async (_name, over, message) => {
    await expect(mintServiceAccountToken({ ...base, ...over })).rejects.toThrow(message);
  });

  it('publishes only public keys, with a thumbprint kid when none is given', async () => {
    const jwks = await tokenJwks([{ key: ec.privateKey }]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(jwks.keys[0]?.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('service-account names from token claims', () => {
  const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
  it('reads back every valid namespace and name from sub and from the nested claim', () => {
    fc.assert(
      fc.property(label, label, (ns, sa) => {
        expect(serviceAccountFromClaims({ sub: `system:serviceaccount:${ns}:${sa}` })).toEqual({
          namespace: ns,
          serviceAccount: sa,
        });
        expect(
          serviceAccountFromClaims({ 'kubernetes.io': { namespace: ns, serviceaccount: { name: sa } } }),
        ).toEqual({ namespace: ns, serviceAccount: sa });
      }),
    );
  });

  it('refuses every name with a character Kubernetes does not allow', () => {
    fc.assert(
      fc.property(label, fc.constantFrom('A', '_', ':', '/', ' ', '\u00e9', '\n'), (ns, bad) => {
        expect(() => serviceAccountFromClaims({ sub: `system:serviceaccount:${ns}${bad}:sa` })).toThrow();
      }),
    );
  });

  it('refuses a configuration with no authenticator', () => {
    expect(() => createCallerAuthenticator({})).toThrow('no authenticator configured');
  });
});
