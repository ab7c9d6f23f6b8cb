import { createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCertificate } from '../pki/index.js';
import { makeRoot } from '../pki/testing/pki-fixtures.js';
import { buildSpiffeBundle } from './spiffe-bundle.js';

const ecRoot = makeRoot({ name: 'ec root' }).certificate;
const rsaRoot = makeRoot({ name: 'rsa root', spec: { algorithm: 'RSA', size: 2048 } }).certificate;
const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const edKey = generateKeyPairSync('ed25519').publicKey;

/** Node's own JWK of a public key, to compare against. */
function jwkOf(key: KeyObject): { x?: string; y?: string; n?: string } {
  return key.export({ format: 'jwk' });
}

describe('buildSpiffeBundle', () => {
  it('publishes each root as an x509-svid JWK with exactly one DER certificate in x5c and no kid', () => {
    const bundle = buildSpiffeBundle({ roots: [ecRoot, rsaRoot], sequence: 7, refreshHintSeconds: 300 });
    expect(bundle.spiffe_sequence).toBe(7);
    expect(bundle.spiffe_refresh_hint).toBe(300);
    expect(bundle.keys).toHaveLength(2);
    const [ec, rsa] = bundle.keys;
    const ecJwk = jwkOf(ecRoot.publicKey);
    expect(ec).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: ecJwk.x,
      y: ecJwk.y,
      use: 'x509-svid',
      x5c: [ecRoot.der.toString('base64')],
    });
    const rsaJwk = jwkOf(rsaRoot.publicKey);
    expect(rsa).toEqual({
      kty: 'RSA',
      n: rsaJwk.n,
      e: 'AQAB',
      use: 'x509-svid',
      x5c: [rsaRoot.der.toString('base64')],
    });
  });

  it('gives JWK parameters that are the key of the certificate in x5c', () => {
    const bundle = buildSpiffeBundle({ roots: [ecRoot, rsaRoot], sequence: 1, refreshHintSeconds: 60 });
    for (const key of bundle.keys) {
      const cert = parseCertificate(Buffer.from(key.x5c![0]!, 'base64'));
      const fromJwk = createPublicKey({
        key: { kty: key.kty, crv: key.crv, x: key.x, y: key.y, n: key.n, e: key.e },
        format: 'jwk',
      });
      expect(fromJwk.equals(cert.publicKey)).toBe(true);
    }
  });

  it('publishes token-signing keys as jwt-svid JWKs with their kid, and never a private parameter', () => {
    const bundle = buildSpiffeBundle({
      roots: [ecRoot],
      sequence: 2,
      refreshHintSeconds: 60,
      jwtKeys: [
        { kid: 'token-1', key: tokenKey },
        { kid: 'token-ed', key: edKey },
      ],
    });
    const tokenJwk = jwkOf(createPublicKey(tokenKey));
    expect(bundle.keys.slice(1)).toEqual([
      { kty: 'EC', crv: 'P-256', x: tokenJwk.x, y: tokenJwk.y, use: 'jwt-svid', kid: 'token-1' },
      { kty: 'OKP', crv: 'Ed25519', x: jwkOf(edKey).x, use: 'jwt-svid', kid: 'token-ed' },
    ]);
    expect(JSON.stringify(bundle)).not.toContain('"d"');
  });

  it('publishes a root given twice only once', () => {
    expect(
      buildSpiffeBundle({ roots: [ecRoot, ecRoot], sequence: 0, refreshHintSeconds: 1 }).keys,
    ).toHaveLength(1);
  });

  it.each<[string, { sequence: number; refreshHintSeconds: number }, string]>([
    [
      'a negative sequence',
      { sequence: -1, refreshHintSeconds: 60 },
      'the bundle sequence -1 is not a non-negative safe integer',
    ],
    [
      'a fractional sequence',
      { sequence: 1.5, refreshHintSeconds: 60 },
      'the bundle sequence 1.5 is not a non-negative safe integer',
    ],
    [
      'a sequence past 2^53',
      { sequence: 2 ** 53, refreshHintSeconds: 60 },
      'the bundle sequence 9007199254740992 is not a non-negative safe integer',
    ],
    [
      'a NaN sequence',
      { sequence: Number.NaN, refreshHintSeconds: 60 },
      'the bundle sequence NaN is not a non-negative safe integer',
    ],
    [
      'a zero refresh hint',
      { sequence: 1, refreshHintSeconds: 0 },
      'the bundle refresh hint 0 is not a positive whole number of seconds',
    ],
    [
      'a fractional refresh hint',
      { sequence: 1, refreshHintSeconds: 0.5 },
      'the bundle refresh hint 0.5 is not a positive whole number of seconds',
    ],
  ])('refuses %s', (_name, numbers, message) => {
    expect(() => buildSpiffeBundle({ roots: [ecRoot], ...numbers })).toThrow(message);
  });

  it.each([
    ['an empty kid', [{ kid: '', key: tokenKey }], '""'],
    [
      'a repeated kid',
      [
        { kid: 'a', key: tokenKey },
        { kid: 'a', key: edKey },
      ],
      '"a"',
    ],
  ])('refuses %s among the token-signing keys', (_name, jwtKeys, shown) => {
    expect(() => buildSpiffeBundle({ roots: [ecRoot], sequence: 1, refreshHintSeconds: 1, jwtKeys })).toThrow(
      `the token-signing key ID ${shown} is empty or repeated`,
    );
  });

  it('refuses a token-signing key that has no public half, naming it', () => {
    // An HMAC key: JWT-SVIDs are never checked with a shared secret, so publishing one must fail.
    const secret = createSecretKey(Buffer.alloc(32, 1));
    expect(() =>
      buildSpiffeBundle({
        roots: [ecRoot],
        sequence: 1,
        refreshHintSeconds: 1,
        jwtKeys: [{ kid: 'hmac', key: secret }],
      }),
    ).toThrow(
      'the key of token-signing key hmac cannot be written as a JWK: a secret key has no public half',
    );
  });
});
