import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMeshcaError } from '../../errors/index.js';
import { generatePrivateKey, generatePrivateKeyAsync } from './generate-private-key.js';
import { describeKey, publicKeysEqual } from './key-spec.js';
import { encodePrivateKey, parsePrivateKey } from './private-key-pem.js';
import type { KeySpec } from './key-spec.js';

const expectCode = (f: () => unknown, code: string, message: RegExp): void => {
  try {
    f();
  } catch (err) {
    expect(isMeshcaError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
};

describe('keys', () => {
  const specs: [KeySpec, string, string][] = [
    [{ algorithm: 'ECDSA' }, 'EC PRIVATE KEY', 'ECDSA 256'],
    [{ algorithm: 'ECDSA', size: 384 }, 'EC PRIVATE KEY', 'ECDSA 384'],
    [{ algorithm: 'RSA' }, 'RSA PRIVATE KEY', 'RSA 2048'],
    [{ algorithm: 'RSA', size: 3072 }, 'RSA PRIVATE KEY', 'RSA 3072'],
    [{ algorithm: 'Ed25519' }, 'PRIVATE KEY', 'Ed25519 undefined'],
  ];
  it.each(specs)(
    'generates %j, writes it as %s by default and reads it back',
    (spec, pkcs1Label, described) => {
      const key = generatePrivateKey(spec);
      const d = describeKey(key);
      expect(`${d.algorithm} ${d.size}`).toBe(described);
      const pkcs1 = encodePrivateKey(key);
      expect(pkcs1).toContain(`-----BEGIN ${pkcs1Label}-----`);
      const pkcs8 = encodePrivateKey(key, 'PKCS8');
      expect(pkcs8).toContain('-----BEGIN PRIVATE KEY-----');
      for (const pem of [pkcs1, pkcs8]) expect(publicKeysEqual(parsePrivateKey(pem), key)).toBe(true);
      expect(publicKeysEqual(parsePrivateKey(key.export({ type: 'pkcs8', format: 'der' })), key)).toBe(true);
    },
  );

  it('generates P-256 by default and RSA 4096 on request', () => {
    expect(describeKey(generatePrivateKey())).toEqual({ algorithm: 'ECDSA', size: 256 });
    expect(describeKey(generatePrivateKey({ algorithm: 'RSA', size: 4096 }))).toEqual({
      algorithm: 'RSA',
      size: 4096,
    });
  }, 60_000);

  it.each([2050, 2560])(
    'generates an RSA key of exactly %i bits, as cert-manager accepts any size from 2048 to 8192',
    (size) => {
      expect(describeKey(generatePrivateKey({ algorithm: 'RSA', size }))).toEqual({ algorithm: 'RSA', size });
    },
    60_000,
  );

  it('reads an SEC1 key preceded by EC PARAMETERS, as openssl ecparam writes it', () => {
    const key = generatePrivateKey();
    const pem = `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${encodePrivateKey(key)}`;
    expect(publicKeysEqual(parsePrivateKey(pem), key)).toBe(true);
  });

  it('tells two different keys apart and matches a private key to its public key', () => {
    const a = generatePrivateKey();
    const b = generatePrivateKey();
    expect(publicKeysEqual(a, b)).toBe(false);
    expect(publicKeysEqual(a, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey)).toBe(false);
  });

  it.each([
    ['ECDSA 521', () => generatePrivateKey({ algorithm: 'ECDSA', size: 521 }), /ECDSA size 521/],
    ['RSA 1024', () => generatePrivateKey({ algorithm: 'RSA', size: 1024 }), /RSA size 1024/],
    ['RSA 8200, past 8192', () => generatePrivateKey({ algorithm: 'RSA', size: 8200 }), /RSA size 8200/],
    [
      'RSA 2049, an odd size OpenSSL would make as 2048 bits',
      () => generatePrivateKey({ algorithm: 'RSA', size: 2049 }),
      /RSA size 2049/,
    ],
    ['Ed25519 with a size', () => generatePrivateKey({ algorithm: 'Ed25519', size: 256 }), /no size/],
    [
      'an unknown algorithm',
      () => generatePrivateKey({ algorithm: 'DSA' as never }),
      /"DSA" is not supported/,
    ],
    [
      'a P-521 key read from PEM',
      () =>
        parsePrivateKey(
          generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey.export({
            type: 'pkcs8',
            format: 'pem',
          }),
        ),
      /secp521r1 is not supported/,
    ],
    [
      'a 1024-bit RSA key read from PEM',
      () =>
        parsePrivateKey(
          generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
            type: 'pkcs1',
            format: 'pem',
          }),
        ),
      /1024 bits is not accepted/,
    ],
    ['an Ed448 key', () => describeKey(generateKeyPairSync('ed448').privateKey), /ed448 are not supported/],
  ])('refuses %s with KEY_UNSUPPORTED', (_name, f, message) => {
    expectCode(f, 'KEY_UNSUPPORTED', message);
  });

  it.each([
    ['text that is not PEM', 'not a key', /not PEM: no PEM block found/],
    [
      'a certificate instead of a key',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      /no private key block found \(found "CERTIFICATE"\)/,
    ],
    [
      'an encrypted PKCS#8 key',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n',
      /encrypted/,
    ],
    [
      'a key block of garbage',
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      /not a valid PKCS8 key/,
    ],
    ['DER garbage', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]), /not a PKCS#8, SEC1 or PKCS#1 private key/],
  ])('refuses %s with KEY_INVALID', (_name, input, message) => {
    expectCode(() => parsePrivateKey(input), 'KEY_INVALID', message);
  });

  it('refuses to encode a public key as a private key', () => {
    expectCode(
      () => encodePrivateKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey),
      'KEY_INVALID',
      /expected a private key/,
    );
  });
});

describe('generatePrivateKeyAsync (off the event loop, for controllers sharing it with the CA server)', () => {
  it.each<[KeySpec, string, number | undefined]>([
    [{ algorithm: 'ECDSA' }, 'prime256v1', undefined],
    [{ algorithm: 'ECDSA', size: 384 }, 'secp384r1', undefined],
    [{ algorithm: 'RSA', size: 2048 }, '', 2048],
    [{ algorithm: 'Ed25519' }, '', undefined],
  ])('makes %j as the sync generator does', async (spec, curve, bits) => {
    const key = await generatePrivateKeyAsync(spec);
    expect(key.type).toBe('private');
    expect(describeKey(key)).toEqual(describeKey(generatePrivateKey(spec)));
    if (curve !== '') expect(key.asymmetricKeyDetails?.namedCurve).toBe(curve);
    if (bits !== undefined) expect(key.asymmetricKeyDetails?.modulusLength).toBe(bits);
  });

  it('refuses a size it cannot make, before starting', () => {
    expect(() => generatePrivateKeyAsync({ algorithm: 'RSA', size: 2049 })).toThrow(/RSA size 2049 is not supported/);
    expect(() => generatePrivateKeyAsync({ algorithm: 'ECDSA', size: 521 })).toThrow(/ECDSA size 521 is not supported/);
  });
});
