import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeshcaError } from '../errors/index.js';
import { LOG_VALUE_LIMITS, REDACTED, isSecretFieldName, redactForLog, redactText } from './redact.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SEC1_PEM = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
const PRIVATE_BODY = PRIVATE_PEM.split('\n')[1]!;
const SEC1_BODY = SEC1_PEM.split('\n')[1]!;
// A service-account token as the Istio agent sends it (shape only; header.payload.signature).
const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6c2xlZXAifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2Nzg5MA';
const JWT_SIGNATURE = JWT.split('.')[2]!;

describe('redactText', () => {
  it.each([
    ['a PKCS#8 PEM private key', `key: ${PRIVATE_PEM}`, PRIVATE_BODY],
    ['a SEC1 PEM private key', SEC1_PEM, SEC1_BODY],
    ['a PEM private key cut off before its END line', PRIVATE_PEM.slice(0, 100), PRIVATE_BODY.slice(0, 30)],
    [
      'an encrypted PEM private key',
      `-----BEGIN ENCRYPTED PRIVATE KEY-----\nQUJDREVG\n-----END ENCRYPTED PRIVATE KEY-----`,
      'QUJDREVG',
    ],
    ['a JWT', `token ${JWT} rejected`, JWT_SIGNATURE],
    ['a JWT in an authorization header', `authorization: Bearer ${JWT}`, JWT_SIGNATURE],
    ['a JWT glued to a word', `tokeneyJ${JWT.slice(3)}`, JWT_SIGNATURE],
    ['a JWE (five parts)', `${JWT}.aXY.dGFn`, JWT_SIGNATURE],
    ['an opaque bearer token', 'Bearer s3cr3t-opaque-token-value', 's3cr3t-opaque-token-value'],
  ])('removes %s', (_name, text, secret) => {
    const out = redactText(text);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it.each([
    ['a certificate PEM', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----'],
    ['a SPIFFE ID', 'spiffe://cluster.local/ns/default/sa/sleep'],
    ['prose about bearer tokens', 'send a Bearer token in the authorization header'],
    ['a serial number', 'serial 3f2a9c'],
    ['a JWT-like run without dots', 'eyJ'.repeat(1000)],
    ['a JWT-like header with one dot only', 'eyJhbGciOi.eyJzdWIi and more'],
  ])('keeps %s as it is', (_name, text) => {
    expect(redactText(text)).toBe(text);
  });

  it('cuts an oversized string to the limit and says how much was cut', () => {
    const out = redactText('a'.repeat(LOG_VALUE_LIMITS.maxStringLength + 10));
    expect(out).toBe(
      `${'a'.repeat(LOG_VALUE_LIMITS.maxStringLength)}…[cut from ${LOG_VALUE_LIMITS.maxStringLength + 10} chars]`,
    );
  });

  it('redacts a private key that straddles the length limit', () => {
    const text = `${'x'.repeat(LOG_VALUE_LIMITS.maxStringLength - 40)}${PRIVATE_PEM}`;
    const out = redactText(text);
    expect(out).not.toContain(PRIVATE_BODY.slice(0, 12));
    expect(out).toBe(`${'x'.repeat(LOG_VALUE_LIMITS.maxStringLength - 40)}[REDACTED] private key\n`);
  });

  it('redacts a private key that starts past the length limit of a huge string before cutting it', () => {
    const huge = `${'y'.repeat(LOG_VALUE_LIMITS.maxStringLength * 10)}${PRIVATE_PEM}`;
    const out = redactText(huge);
    expect(out).not.toContain(PRIVATE_BODY.slice(0, 12));
    expect(out).toMatch(new RegExp(`…\\[cut from ${huge.length} chars\\]$`));
  });

  it('never lets the body of a private key or a JWT through, wherever it is embedded (property)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.constantFrom(PRIVATE_PEM, SEC1_PEM, JWT),
        (before, after, secret) => {
          const out = redactText(`${before}${secret}${after}`);
          expect(out).not.toContain(
            secret === JWT ? JWT_SIGNATURE : secret === SEC1_PEM ? SEC1_BODY : PRIVATE_BODY,
          );
        },
      ),
    );
  });
});

describe('isSecretFieldName', () => {
  it.each([
    'token',
    'access_token',
    'idToken',
    'authorization',
    'Authorization',
    'private_key',
    'privateKey',
    'tls.key',
    'ca-key.pem',
    'password',
    'client_secret',
    'cookie',
    'key',
  ])('treats %s as a credential', (name) => expect(isSecretFieldName(name)).toBe(true));

  it.each(['identity', 'serial', 'secret_name', 'issuer', 'token_count', 'key_algorithm', 'caller'])(
    'does not treat %s as a credential',
    (name) => expect(isSecretFieldName(name)).toBe(false),
  );
});

describe('redactForLog', () => {
  it('redacts a field named like a credential whatever its value looks like', () => {
    expect(redactForLog({ token: 'abc', password: 'hunter2', identity: 'spiffe://x/ns/a/sa/b' })).toEqual({
      token: REDACTED,
      password: REDACTED,
      identity: 'spiffe://x/ns/a/sa/b',
    });
  });

  it('redacts a PEM private key or a JWT in a field of any name, at any depth', () => {
    const out = JSON.stringify(
      redactForLog({ request: { headers: [{ value: `Bearer ${JWT}` }] }, blob: { nested: PRIVATE_PEM } }),
    );
    expect(out).not.toContain(JWT_SIGNATURE);
    expect(out).not.toContain(PRIVATE_BODY);
  });

  it('describes a private KeyObject without any of its parameters, and a public one by type', () => {
    expect(redactForLog({ k: privateKey })).toEqual({ k: `${REDACTED} private key` });
    expect(redactForLog(publicKey)).toBe('[public key ec]');
  });

  it('describes bytes by length instead of dumping them', () => {
    expect(redactForLog({ der: Buffer.alloc(1200), raw: new Uint8Array(3), ab: new ArrayBuffer(7) })).toEqual(
      {
        der: '[1200 bytes]',
        raw: '[3 bytes]',
        ab: '[7 bytes]',
      },
    );
  });

  it('writes a MeshcaError with code, retryable, hint and a redacted cause, and a foreign error with its stack', () => {
    const cause = new Error(`upstream refused ${JWT}`);
    const err = new MeshcaError('UNAUTHENTICATED', 'the token was rejected', {
      hint: 'mint a new token',
      cause,
    });
    const out = redactForLog(err) as Record<string, unknown>;
    expect(out).toMatchObject({
      name: 'MeshcaError',
      message: 'the token was rejected',
      code: 'UNAUTHENTICATED',
      retryable: false,
      hint: 'mint a new token',
    });
    expect(out.stack).toBeUndefined();
    const foreign = out.cause as Record<string, unknown>;
    expect(foreign.message).toBe(`upstream refused ${REDACTED} jwt`);
    expect(String(foreign.stack)).not.toContain(JWT_SIGNATURE);
  });

  it.each<[string, unknown, unknown]>([
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['a bigint', 12345678901234567890n, '12345678901234567890'],
    ['a Date', new Date('2030-01-01T00:00:00Z'), '2030-01-01T00:00:00.000Z'],
    ['an invalid Date', new Date(Number.NaN), 'Invalid Date'],
    ['a function', () => 1, '[function]'],
    ['a symbol', Symbol('s'), 'Symbol(s)'],
    ['a Set', new Set(['a']), ['a']],
    ['a Map', new Map([['a', 1]]), { a: 1 }],
    ['null', null, null],
  ])('turns %s into JSON-safe data', (_name, value, expected) => {
    expect(redactForLog(value)).toEqual(expected);
  });

  it('breaks cycles instead of recursing forever, and keeps repeated non-cyclic references', () => {
    const shared = { x: 1 };
    const a: Record<string, unknown> = { shared, again: shared };
    a.self = a;
    expect(redactForLog(a)).toEqual({ shared: { x: 1 }, again: { x: 1 }, self: '[circular]' });
  });

  it('bounds depth, array length and key count of hostile input', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 50; i++) deep = { d: deep };
    expect(JSON.stringify(redactForLog(deep))).toContain('[depth limit]');
    const list = redactForLog(Array.from({ length: 1000 }, (_, i) => i)) as unknown[];
    expect(list).toHaveLength(LOG_VALUE_LIMITS.maxEntries + 1);
    expect(list.at(-1)).toBe('…[900 more]');
    const wide = redactForLog(
      Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i])),
    ) as Record<string, unknown>;
    expect(Object.keys(wide)).toHaveLength(LOG_VALUE_LIMITS.maxEntries + 1);
  });

  it('describes an object whose getter throws instead of throwing itself', () => {
    const hostile = {
      get boom(): never {
        throw new Error('getter');
      },
    };
    expect(redactForLog({ hostile })).toEqual({ hostile: '[unreadable]' });
  });

  it('produces data that JSON.stringify always accepts (property)', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true }),
        (v) => {
          expect(() => JSON.stringify(redactForLog(v))).not.toThrow();
        },
      ),
    );
  });
});
